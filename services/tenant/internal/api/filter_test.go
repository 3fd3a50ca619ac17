package api

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

func TestParseFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		filter string
		want   []store.Condition
	}{
		{"empty filter selects everything", "  ", nil},
		{"bare state identifier", "state = ACTIVE", []store.Condition{{Field: store.FieldState, Op: store.OpEqual, Value: "ACTIVE"}}},
		{"state as JSON spells it", `state = STATE_DEACTIVATED`, []store.Condition{{Field: store.FieldState, Op: store.OpEqual, Value: "DEACTIVATED"}}},
		{"quoted state", `state != "DELETED"`, []store.Condition{{Field: store.FieldState, Op: store.OpNotEqual, Value: "DELETED"}}},
		{"region", `region = "eu-west"`, []store.Condition{{Field: store.FieldRegion, Op: store.OpEqual, Value: "eu-west"}}},
		{"label equality", `labels.plan = "gold"`, []store.Condition{{Field: store.FieldLabel, Key: "plan", Op: store.OpEqual, Value: "gold"}}},
		{"label presence", `labels:plan`, []store.Condition{{Field: store.FieldLabel, Key: "plan", Op: store.OpHas}}},
		{"conditions joined with AND", `state = ACTIVE AND region = "us-east" AND labels.tier != "free"`, []store.Condition{
			{Field: store.FieldState, Op: store.OpEqual, Value: "ACTIVE"},
			{Field: store.FieldRegion, Op: store.OpEqual, Value: "us-east"},
			{Field: store.FieldLabel, Key: "tier", Op: store.OpNotEqual, Value: "free"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseFilter(tc.filter)
			if err != nil {
				t.Fatalf("parseFilter(%q): %v", tc.filter, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseFilter(%q) (-want +got):\n%s", tc.filter, diff)
			}
		})
	}
}

func TestParseFilterRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, filter string }{
		{"syntax error", "state = "},
		{"unknown field", `colour = "red"`},
		{"unknown state", "state = PAUSED"},
		{"OR is not supported", "state = ACTIVE OR state = DELETED"},
		{"NOT is not supported", "NOT state = ACTIVE"},
		{"ordering operators are not supported", `region > "a"`},
		{"has on a scalar", `region:"eu"`},
		{"bare word", "acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseFilter(tc.filter)
			if got := apierr.Reason(err); got != "INVALID_FILTER" {
				t.Fatalf("parseFilter(%q) reason = %q (err %v), want INVALID_FILTER", tc.filter, got, err)
			}
			if v := apierr.Violations(err); len(v) != 1 || v[0].Field != "filter" {
				t.Fatalf("parseFilter(%q) violations = %v, want one on filter", tc.filter, v)
			}
		})
	}
}
