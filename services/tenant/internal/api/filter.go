package api

import (
	"fmt"
	"strings"

	"go.einride.tech/aip/filtering"
	expr "google.golang.org/genproto/googleapis/api/expr/v1alpha1"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// states are the values `state` compares with; they are also declared as bare identifiers
// so that `state = ACTIVE` reads as naturally as `state = "ACTIVE"`.
var states = []string{"ACTIVE", "DEACTIVATED", "DELETED"}

var filterDeclarations = func() *filtering.Declarations {
	opts := []filtering.DeclarationOption{
		filtering.DeclareStandardFunctions(),
		filtering.DeclareIdent("state", filtering.TypeString),
		filtering.DeclareIdent("region", filtering.TypeString),
		filtering.DeclareIdent("labels", filtering.TypeMap(filtering.TypeString, filtering.TypeString)),
	}
	for _, s := range states {
		// Both spellings: `ACTIVE`, and `STATE_ACTIVE` as the JSON of a tenant shows it.
		opts = append(opts, filtering.DeclareIdent(s, filtering.TypeString),
			filtering.DeclareIdent("STATE_"+s, filtering.TypeString))
	}
	d, err := filtering.NewDeclarations(opts...)
	if err != nil {
		panic(err)
	}
	return d
}()

// parseFilter turns a ListTenants filter (AIP-160, restricted to ANDed comparisons) into
// store conditions.
func parseFilter(filter string) ([]store.Condition, error) {
	if strings.TrimSpace(filter) == "" {
		return nil, nil
	}
	f, err := filtering.ParseFilterString(filter, filterDeclarations)
	if err != nil {
		return nil, invalidFilter(filter, err.Error())
	}
	var conds []store.Condition
	if err := collect(f.CheckedExpr.GetExpr(), &conds); err != nil {
		return nil, invalidFilter(filter, err.Error())
	}
	return conds, nil
}

func invalidFilter(filter, why string) error {
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_FILTER, apierr.FieldViolation{
		Field:       "filter",
		Description: why + `; supported: conditions joined with AND on state, region and labels.<key> with = or !=, and labels:<key>, e.g. state = ACTIVE AND labels.plan = "gold"`,
	})
}

func collect(e *expr.Expr, out *[]store.Condition) error {
	call := e.GetCallExpr()
	if call == nil {
		return fmt.Errorf("expected a comparison")
	}
	args := call.GetArgs()
	switch call.GetFunction() {
	case filtering.FunctionAnd:
		for _, a := range args {
			if err := collect(a, out); err != nil {
				return err
			}
		}
		return nil
	case filtering.FunctionEquals, filtering.FunctionNotEquals:
		op := store.OpEqual
		if call.GetFunction() == filtering.FunctionNotEquals {
			op = store.OpNotEqual
		}
		value, ok := stringValue(args[1])
		if !ok {
			return fmt.Errorf("the right side of %s must be a string", call.GetFunction())
		}
		if sel := args[0].GetSelectExpr(); sel != nil && sel.GetOperand().GetIdentExpr().GetName() == "labels" {
			*out = append(*out, store.Condition{Field: store.FieldLabel, Key: sel.GetField(), Op: op, Value: value})
			return nil
		}
		switch args[0].GetIdentExpr().GetName() {
		case "state":
			value = strings.TrimPrefix(value, "STATE_")
			if !contains(states, value) {
				return fmt.Errorf("unknown state %q: one of %s", value, strings.Join(states, ", "))
			}
			*out = append(*out, store.Condition{Field: store.FieldState, Op: op, Value: value})
			return nil
		case "region":
			*out = append(*out, store.Condition{Field: store.FieldRegion, Op: op, Value: value})
			return nil
		}
		return fmt.Errorf("cannot compare that field")
	case filtering.FunctionHas:
		key, ok := stringValue(args[1])
		if args[0].GetIdentExpr().GetName() != "labels" || !ok {
			return fmt.Errorf("':' is supported only as labels:<key>")
		}
		*out = append(*out, store.Condition{Field: store.FieldLabel, Key: key, Op: store.OpHas})
		return nil
	}
	return fmt.Errorf("operator %s is not supported", call.GetFunction())
}

// stringValue reads a string constant, or one of the bare state identifiers.
func stringValue(e *expr.Expr) (string, bool) {
	if c := e.GetConstExpr(); c != nil {
		if s, ok := c.GetConstantKind().(*expr.Constant_StringValue); ok {
			return s.StringValue, true
		}
		return "", false
	}
	if name := e.GetIdentExpr().GetName(); contains(states, strings.TrimPrefix(name, "STATE_")) {
		return name, true
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
