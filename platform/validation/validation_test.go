package validation_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/validation"
)

func newValidator(t *testing.T) *validation.Validator {
	t.Helper()
	v, err := validation.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// validTenant obeys every rule of tenant.proto.
func validTenant() *tenantv1.Tenant {
	return &tenantv1.Tenant{
		DisplayName: "Acme Corp",
		Hostnames:   []string{"acme.analytics.example.com", "acme-alias.example.com"},
		Region:      "eu-west",
		Labels:      map[string]string{"plan": "gold"},
		Settings: &tenantv1.TenantSettings{
			DefaultLocale:     "en-US",
			AllowedWebOrigins: []string{"https://app.example.com", "http://localhost:3000"},
			Theme:             &tenantv1.Theme{PrimaryColor: "#1a73e8", BackgroundColor: "#ffffff", TextColor: "#202124"},
		},
	}
}

// fields returns the field paths an error's BadRequest names, failing unless the error is
// INVALID_ARGUMENT with reason INVALID_REQUEST.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
	if got := apierr.Reason(err); got != "INVALID_REQUEST" {
		t.Errorf("reason = %q, want INVALID_REQUEST", got)
	}
	var out []string
	for _, v := range apierr.Violations(err) {
		if v.Description == "" {
			t.Errorf("violation of %s has no description", v.Field)
		}
		out = append(out, v.Field)
	}
	return out
}

func TestValidateAcceptsAValidCreateTenantRequest(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	for name, req := range map[string]*tenantv1.CreateTenantRequest{
		"minimal":               {Tenant: &tenantv1.Tenant{DisplayName: "A", Hostnames: []string{"abc.example.com"}, Region: "eu-west"}},
		"everything":            {Tenant: validTenant(), TenantId: "acme", RequestId: "3f0c6a6e-6f1b-4f7e-9c57-6c1f6f7a2b10"},
		"200-char display name": {Tenant: func() *tenantv1.Tenant { tn := validTenant(); tn.DisplayName = strings.Repeat("x", 200); return tn }()},
	} {
		if err := v.Validate(context.Background(), req); err != nil {
			t.Errorf("%s: Validate = %v, want nil", name, err)
		}
	}
}

func TestValidateReportsEveryViolationOfACreateTenantRequest(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tn := validTenant()
	tn.DisplayName = ""
	tn.Hostnames = []string{"Not_A_Host", "acme.example.com", "x"}
	tn.Settings.Theme.PrimaryColor = "blue"
	tn.Settings.AllowedWebOrigins = []string{"http://evil.example.com"}
	req := &tenantv1.CreateTenantRequest{Tenant: tn, TenantId: "9-bad-", RequestId: "not-a-uuid"}

	got := fields(t, v.Validate(context.Background(), req))
	want := []string{
		"tenant.display_name",
		"tenant.hostnames[0]",
		"tenant.hostnames[2]",
		"tenant.settings.allowed_web_origins[0]",
		"tenant.settings.theme.primary_color",
		"tenant_id",
		"request_id",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("violations %v do not name %s", got, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("violations = %v, want exactly %v", got, want)
	}
	for _, ok := range []string{"tenant.hostnames[1]", "tenant.region", "tenant.settings.theme.background_color"} {
		if slices.Contains(got, ok) {
			t.Errorf("valid field %s reported as a violation", ok)
		}
	}
}

func TestValidateCreateTenantRequestRules(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		name   string
		mutate func(*tenantv1.CreateTenantRequest)
		want   []string
	}{
		{"display name over 200 characters", func(r *tenantv1.CreateTenantRequest) { r.Tenant.DisplayName = strings.Repeat("x", 201) }, []string{"tenant.display_name"}},
		{"no hostnames", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Hostnames = nil }, []string{"tenant.hostnames"}},
		{"duplicate hostnames", func(r *tenantv1.CreateTenantRequest) {
			r.Tenant.Hostnames = []string{"acme.example.com", "acme.example.com"}
		}, []string{"tenant.hostnames"}},
		{"upper-case hostname", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Hostnames = []string{"Acme.example.com"} }, []string{"tenant.hostnames[0]"}},
		{"single-label hostname", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Hostnames = []string{"acme"} }, []string{"tenant.hostnames[0]"}},
		{"no region", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Region = "" }, []string{"tenant.region"}},
		{"bad locale", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Settings.DefaultLocale = "english" }, []string{"tenant.settings.default_locale"}},
		{"bad text colour", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Settings.Theme.TextColor = "#12345" }, []string{"tenant.settings.theme.text_color"}},
		{"bad label key", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Labels = map[string]string{"Plan": "gold"} }, []string{`tenant.labels["Plan"]`}},
		{"etag too long", func(r *tenantv1.CreateTenantRequest) { r.Tenant.Etag = strings.Repeat("e", 65) }, []string{"tenant.etag"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &tenantv1.CreateTenantRequest{Tenant: validTenant()}
			tt.mutate(req)
			if got := fields(t, v.Validate(context.Background(), req)); !slices.Equal(got, tt.want) {
				t.Errorf("violations = %v, want %v", got, tt.want)
			}
		})
	}
}

// invalidTenantForUpdate has a valid display name and theme and everything else broken.
func invalidTenantForUpdate() *tenantv1.Tenant {
	return &tenantv1.Tenant{
		Name:        "tenants/acme",
		DisplayName: "New name",
		Hostnames:   []string{"NOT A HOST"},
		Region:      "",
		Settings: &tenantv1.TenantSettings{
			DefaultLocale: "not a locale",
			Theme:         &tenantv1.Theme{PrimaryColor: "#00ff00"},
		},
	}
}

func TestValidateUpdateTenantRequestFollowsTheUpdateMask(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	tests := []struct {
		name   string
		tenant func() *tenantv1.Tenant
		paths  []string
		want   []string // nil: valid
	}{
		{name: "display_name ignores invalid hostnames", tenant: invalidTenantForUpdate, paths: []string{"display_name"}},
		{name: "hostnames validates them", tenant: invalidTenantForUpdate, paths: []string{"hostnames"}, want: []string{"tenant.hostnames[0]"}},
		{name: "display_name and hostnames", tenant: func() *tenantv1.Tenant {
			tn := invalidTenantForUpdate()
			tn.DisplayName = ""
			return tn
		}, paths: []string{"display_name", "hostnames"}, want: []string{"tenant.display_name", "tenant.hostnames[0]"}},
		{name: "settings.theme ignores an invalid locale", tenant: invalidTenantForUpdate, paths: []string{"settings.theme"}},
		{name: "settings.theme validates the theme", tenant: func() *tenantv1.Tenant {
			tn := invalidTenantForUpdate()
			tn.Settings.Theme.PrimaryColor = "green"
			return tn
		}, paths: []string{"settings.theme"}, want: []string{"tenant.settings.theme.primary_color"}},
		{name: "settings.default_locale validates the locale only", tenant: func() *tenantv1.Tenant {
			tn := invalidTenantForUpdate()
			tn.Settings.Theme.PrimaryColor = "green"
			return tn
		}, paths: []string{"settings.default_locale"}, want: []string{"tenant.settings.default_locale"}},
		{name: "settings validates everything below it", tenant: func() *tenantv1.Tenant {
			tn := invalidTenantForUpdate()
			tn.Settings.Theme.PrimaryColor = "green"
			return tn
		}, paths: []string{"settings"}, want: []string{"tenant.settings.default_locale", "tenant.settings.theme.primary_color"}},
		{name: "* validates everything", tenant: invalidTenantForUpdate, paths: []string{"*"}, want: []string{"tenant.hostnames[0]", "tenant.region", "tenant.settings.default_locale"}},
		{name: "empty mask validates populated fields: a valid display name", tenant: func() *tenantv1.Tenant {
			return &tenantv1.Tenant{Name: "tenants/acme", DisplayName: "New name"}
		}},
		{name: "empty mask validates populated fields: a 201-char display name", tenant: func() *tenantv1.Tenant {
			return &tenantv1.Tenant{Name: "tenants/acme", DisplayName: strings.Repeat("x", 201)}
		}, want: []string{"tenant.display_name"}},
		{name: "empty mask validates populated fields: a bad colour", tenant: func() *tenantv1.Tenant {
			return &tenantv1.Tenant{Name: "tenants/acme", Settings: &tenantv1.TenantSettings{Theme: &tenantv1.Theme{TextColor: "black"}}}
		}, want: []string{"tenant.settings.theme.text_color"}},
		{name: "empty mask validates populated fields: invalid hostnames", tenant: invalidTenantForUpdate, want: []string{"tenant.hostnames[0]", "tenant.settings.default_locale"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &tenantv1.UpdateTenantRequest{Tenant: tt.tenant()}
			if tt.paths != nil {
				req.UpdateMask = &fieldmaskpb.FieldMask{Paths: tt.paths}
			}
			err := v.Validate(context.Background(), req)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want valid", err)
				}
				return
			}
			got := fields(t, err)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidateDoesNotChangeTheRequest(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	req := &tenantv1.UpdateTenantRequest{Tenant: invalidTenantForUpdate(), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}
	before := proto.Clone(req)
	_ = v.Validate(context.Background(), req)
	if !proto.Equal(req, before) {
		t.Errorf("Validate changed the request: %v", req)
	}
}

func TestUnaryInterceptorStopsInvalidRequests(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	info := &grpc.UnaryServerInfo{FullMethod: "/oriel.tenant.v1.TenantService/GetTenant"}
	tests := []struct {
		name       string
		req        any
		wantCalled bool
	}{
		{name: "invalid request", req: &tenantv1.GetTenantRequest{Name: "acme"}, wantCalled: false},
		{name: "valid request", req: &tenantv1.GetTenantRequest{Name: "tenants/acme"}, wantCalled: true},
		{name: "not a proto message", req: "raw", wantCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			resp, err := v.UnaryServerInterceptor()(context.Background(), tt.req, info, func(context.Context, any) (any, error) {
				called = true
				return "ok", nil
			})
			if called != tt.wantCalled {
				t.Fatalf("handler called = %v, want %v", called, tt.wantCalled)
			}
			if tt.wantCalled {
				if err != nil || resp != "ok" {
					t.Errorf("= %v, %v; want the handler's response", resp, err)
				}
				return
			}
			if got := fields(t, err); !slices.Equal(got, []string{"name"}) {
				t.Errorf("violations = %v, want [name]", got)
			}
		})
	}
}

// queuedStream is a server stream that receives a fixed list of messages.
type queuedStream struct {
	grpc.ServerStream
	queue []proto.Message
}

func (s *queuedStream) Context() context.Context { return context.Background() }

func (s *queuedStream) RecvMsg(m any) error {
	if len(s.queue) == 0 {
		return io.EOF
	}
	proto.Merge(m.(proto.Message), s.queue[0])
	s.queue = s.queue[1:]
	return nil
}

func TestStreamInterceptorValidatesEachReceivedMessage(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	stream := &queuedStream{queue: []proto.Message{
		&tenantv1.GetTenantRequest{Name: "tenants/first"},
		&tenantv1.GetTenantRequest{Name: "tenants/second"},
		&tenantv1.GetTenantRequest{Name: "Tenants/BAD"},
		&tenantv1.GetTenantRequest{Name: "tenants/never-read"},
	}}
	var (
		accepted []string
		recvErr  error
	)
	err := v.StreamServerInterceptor()(nil, stream, &grpc.StreamServerInfo{FullMethod: "/x.v1.S/Stream"}, func(_ any, ss grpc.ServerStream) error {
		for {
			var req tenantv1.GetTenantRequest
			if err := ss.RecvMsg(&req); err != nil {
				recvErr = err
				return err
			}
			accepted = append(accepted, req.GetName())
		}
	})
	if !slices.Equal(accepted, []string{"tenants/first", "tenants/second"}) {
		t.Errorf("the handler accepted %v, want the two valid messages before the invalid one", accepted)
	}
	if got := fields(t, recvErr); !slices.Equal(got, []string{"name"}) {
		t.Errorf("RecvMsg violations = %v, want [name]", got)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("stream ended with %v, want the validation error", err)
	}
}

func TestStreamInterceptorPassesEndOfStream(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	err := v.StreamServerInterceptor()(nil, &queuedStream{}, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
		return ss.RecvMsg(&tenantv1.GetTenantRequest{})
	})
	if err != io.EOF {
		t.Errorf("RecvMsg at the end = %v, want io.EOF unchanged", err)
	}
}

// A message's own rules span its fields; an update that names one field of the message
// does not send the others, so those rules wait for the merged resource.
func TestMessageRulesApplyToMessagesTheMaskCoversWhole(t *testing.T) {
	t.Parallel()
	v := newValidator(t)
	ctx := context.Background()
	update := func(paths []string, jwt *identityv1.JwtProvider) error {
		return v.Validate(ctx, &identityv1.UpdateIdentityProviderRequest{
			IdentityProvider: &identityv1.IdentityProvider{Name: "tenants/acme/identityProviders/main", Jwt: jwt},
			UpdateMask:       &fieldmaskpb.FieldMask{Paths: paths},
		})
	}
	// The issuer alone: the "keys or a jwks_uri" rule of JwtProvider is not about it.
	if err := update([]string{"jwt.issuer"}, &identityv1.JwtProvider{Issuer: "https://isv.example.com"}); err != nil {
		t.Fatalf("an issuer-only update was refused: %v", err)
	}
	// The whole jwt: its rule applies, and names the message.
	err := update([]string{"jwt"}, &identityv1.JwtProvider{Issuer: "https://isv.example.com"})
	if got := apierr.Violations(err); len(got) != 1 || got[0].Field != "" && got[0].Field != "identity_provider.jwt" {
		t.Fatalf("a whole-jwt update without keys: %v (%v)", err, got)
	}
	// Resource checks the merged result, rules spanning fields included.
	merged := &identityv1.IdentityProvider{Name: "tenants/acme/identityProviders/main", Jwt: &identityv1.JwtProvider{Issuer: "x"}}
	err = validation.Resource(ctx, slog.New(slog.DiscardHandler), merged, "identity_provider")
	if got := apierr.Violations(err); len(got) != 1 || got[0].Field != "identity_provider.jwt" {
		t.Fatalf("Resource(provider without keys) = %v (%v), want one violation on identity_provider.jwt", err, got)
	}
	merged.Jwt.JwksUri = "https://isv.example.com/jwks"
	if err := validation.Resource(ctx, slog.New(slog.DiscardHandler), merged, "identity_provider"); err != nil {
		t.Fatalf("Resource(valid provider) = %v", err)
	}
}
