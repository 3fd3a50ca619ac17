package rollout

import (
	"slices"
	"strconv"
	"strings"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// MissingVariableError says which required variables a tenant has no value for. The engine
// fails that tenant with its text as the reason; the API turns it into field violations.
type MissingVariableError struct {
	// Tenant is the tenant's name, `tenants/{tenant}`.
	Tenant string
	// Names are the required variables without a (non-empty) value, in declaration order.
	Names []string
}

// Error names the variables, since the reason is all an ISV sees of a failed tenant.
func (e *MissingVariableError) Error() string {
	quoted := make([]string, len(e.Names))
	for i, n := range e.Names {
		quoted[i] = strconv.Quote(n)
	}
	if len(quoted) == 1 {
		return "required variable " + quoted[0] + " has no value"
	}
	return "required variables " + strings.Join(quoted, ", ") + " have no value"
}

// Resolve computes a tenant's variable values for a template version: for each declared
// variable, rollout.tenant_variables["tenants/{tenant}"] over rollout.variables over the
// variable's default. tenant is a bare id or a tenant name. Values for names the version
// does not declare are left out: the load script could not read them. A required variable
// left without a value, or with an empty one, is a *MissingVariableError naming it; the API
// calls Resolve for every target to reject such a rollout before it starts, and the engine
// calls it again when it deploys, so a tenant can never get an app with a hole in it.
func Resolve(v *contentv1.TemplateVersion, r *contentv1.Rollout, tenant string) (map[string]string, error) {
	name := tenant
	if !strings.HasPrefix(name, "tenants/") {
		name = "tenants/" + tenant
	}
	own := r.GetTenantVariables()[name].GetValues()
	common := r.GetVariables()
	values := make(map[string]string, len(v.GetVariables()))
	var missing []string
	for _, d := range v.GetVariables() {
		if _, seen := values[d.GetName()]; seen || slices.Contains(missing, d.GetName()) {
			continue // declared twice: the proto allows it, the first declaration counts
		}
		value, ok := own[d.GetName()]
		if !ok {
			value, ok = common[d.GetName()]
		}
		if !ok {
			value = d.GetDefaultValue()
		}
		if d.GetRequired() && value == "" {
			missing = append(missing, d.GetName())
			continue
		}
		values[d.GetName()] = value
	}
	if len(missing) > 0 {
		return nil, &MissingVariableError{Tenant: name, Names: missing}
	}
	return values, nil
}

// AssignWaves returns the wave number (from 1) of each of n tenants, taken in the order
// given: each count wave takes that many, each percent wave ceil(percent% of n), both
// capped by the tenants left; the tenants left after the last wave form one more. No waves
// puts everyone in wave 1. The API stores the result in each target when it creates a
// rollout, so the waves are fixed however the rollout is resumed.
func AssignWaves(n int, waves []*contentv1.Wave) []int {
	out := make([]int, n)
	next, wave := 0, 0
	for _, w := range waves {
		if next == n {
			break
		}
		size := int(w.GetCount())
		if p := int(w.GetPercent()); p > 0 {
			size = (p*n + 99) / 100
		}
		if size <= 0 {
			continue
		}
		wave++
		for end := min(next+size, n); next < end; next++ {
			out[next] = wave
		}
	}
	if next < n {
		wave++
		for ; next < n; next++ {
			out[next] = wave
		}
	}
	return out
}
