package gateway

import (
	"net/url"
	"slices"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

func TestUpdateMaskQueryTakesJSONAndProtoNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"JSON names", "displayName,settings.defaultLocale", []string{"display_name", "settings.default_locale"}},
		{"proto names stay", "display_name,settings.theme.primary_color", []string{"display_name", "settings.theme.primary_color"}},
		{"nested JSON names", "settings.theme.primaryColor", []string{"settings.theme.primary_color"}},
		{"unknown paths are left for the service to refuse", "colour,settings.nope.deeper", []string{"colour", "settings.nope.deeper"}},
		{"the wildcard", "*", []string{"*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &tenantv1.UpdateTenantRequest{}
			err := (&queryParser{}).Parse(req, url.Values{"updateMask": {tc.query}}, utilities.NewDoubleArray(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := req.GetUpdateMask().GetPaths(); !slices.Equal(got, tc.want) {
				t.Fatalf("paths %v, want %v", got, tc.want)
			}
		})
	}
}
