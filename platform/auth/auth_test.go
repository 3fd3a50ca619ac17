package auth_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
)

var apiKeyFormat = regexp.MustCompile(`^oriel_sk_[a-z2-7]{52}$`)

func TestGenerateAPIKeyFormat(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 200 {
		key := auth.GenerateAPIKey()
		// 256 bits in unpadded base32 are 52 characters.
		if !apiKeyFormat.MatchString(key) {
			t.Fatalf("GenerateAPIKey() = %q, want oriel_sk_ and 52 lowercase base32 characters", key)
		}
		if seen[key] {
			t.Fatalf("GenerateAPIKey() repeated %q", key)
		}
		seen[key] = true
		if _, err := auth.NewBootstrapKey(key); err != nil {
			t.Fatalf("NewBootstrapKey refuses a generated key: %v", err)
		}
	}
}

func TestNewBootstrapKeyRefusesWeakOrMalformedKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string
	}{
		{name: "empty", key: ""},
		{name: "prefix only", key: "oriel_sk_"},
		{name: "31 characters after the prefix", key: "oriel_sk_" + strings.Repeat("a", 31)},
		{name: "no prefix", key: strings.Repeat("a", 60)},
		{name: "another product's prefix", key: "sk_live_" + strings.Repeat("a", 52)},
		{name: "upper-case prefix", key: "ORIEL_SK_" + strings.Repeat("a", 52)},
		{name: "leading space", key: " oriel_sk_" + strings.Repeat("a", 52)},
		// A key read from a file with its newline could never be sent in a header: the
		// admin would be locked out by a configuration that looked valid.
		{name: "trailing newline", key: "oriel_sk_" + strings.Repeat("a", 52) + "\n"},
		{name: "trailing space", key: "oriel_sk_" + strings.Repeat("a", 52) + " "},
		{name: "space inside", key: "oriel_sk_" + strings.Repeat("a", 26) + " " + strings.Repeat("a", 26)},
		{name: "control character", key: "oriel_sk_" + strings.Repeat("a", 52) + "\x00"},
		{name: "non-ASCII", key: "oriel_sk_" + strings.Repeat("ä", 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := auth.NewBootstrapKey(tt.key)
			if err == nil {
				t.Fatalf("NewBootstrapKey(%q) = %v, want an error", tt.key, b)
			}
			if len(tt.key) > len(auth.APIKeyPrefix) && strings.Contains(err.Error(), tt.key) {
				t.Errorf("the error %q repeats the key", err)
			}
		})
	}
	if _, err := auth.NewBootstrapKey("oriel_sk_" + strings.Repeat("a", 32)); err != nil {
		t.Errorf("32 characters after the prefix refused: %v", err)
	}
}

func TestBootstrapKeyAuthenticatesExactlyTheKey(t *testing.T) {
	t.Parallel()
	key := auth.GenerateAPIKey()
	b, err := auth.NewBootstrapKey(key)
	if err != nil {
		t.Fatal(err)
	}
	last := key[len(key)-1]
	changed := key[:len(key)-1] + string(map[bool]byte{true: 'b', false: 'a'}[last == 'a'])
	rejected := []struct {
		name       string
		credential string
	}{
		{name: "empty", credential: ""},
		{name: "prefix", credential: key[:len(key)-1]},
		{name: "changed last character", credential: changed},
		{name: "trailing space", credential: key + " "},
		{name: "trailing newline", credential: key + "\n"},
		{name: "upper case", credential: strings.ToUpper(key)},
		{name: "another key", credential: auth.GenerateAPIKey()},
		{name: "with a Bearer scheme", credential: "Bearer " + key},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := b.Authenticate(context.Background(), tt.credential)
			if !errors.Is(err, auth.ErrInvalidCredential) || p != nil {
				t.Errorf("Authenticate(%q) = %v, %v; want ErrInvalidCredential", tt.credential, p, err)
			}
		})
	}

	p, err := b.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatalf("Authenticate(the key): %v", err)
	}
	if p.ID != auth.BootstrapPrincipalID || !p.IsPlatform() {
		t.Errorf("principal = %+v, want the platform bootstrap admin", p)
	}
	for _, s := range auth.AllScopes {
		if !p.Has(s) {
			t.Errorf("bootstrap principal lacks scope %s", s)
		}
	}
	if len(auth.AllScopes) != 7 || !slices.Contains(auth.AllScopes, auth.ScopeTenantsWrite) {
		t.Errorf("AllScopes = %v", auth.AllScopes)
	}
}

func TestPrincipal(t *testing.T) {
	t.Parallel()
	tenant := &auth.Principal{ID: "serviceAccounts/acme-bot", Tenant: "acme", Scopes: []auth.Scope{auth.ScopeContentRead}}
	if tenant.IsPlatform() {
		t.Error("a tenant principal reports platform scope")
	}
	if !tenant.Has(auth.ScopeContentRead) || tenant.Has(auth.ScopeContentWrite) {
		t.Errorf("Has is wrong for %v", tenant.Scopes)
	}
	if auth.FromContext(context.Background()) != nil {
		t.Error("FromContext outside a call is not nil")
	}
	if got := auth.FromContext(auth.NewContext(context.Background(), tenant)); got != tenant {
		t.Errorf("FromContext(NewContext(p)) = %v", got)
	}
}

func TestRequirePlatform(t *testing.T) {
	t.Parallel()
	platform := &auth.Principal{ID: "serviceAccounts/backend", Scopes: []auth.Scope{auth.ScopeTenantsRead}}
	tests := []struct {
		name       string
		principal  *auth.Principal
		wantCode   codes.Code
		wantReason string
	}{
		{name: "no principal", principal: nil, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_MISSING"},
		{name: "tenant principal with the scope", principal: &auth.Principal{ID: "serviceAccounts/acme", Tenant: "acme", Scopes: auth.AllScopes}, wantCode: codes.PermissionDenied, wantReason: "PERMISSION_DENIED"},
		{name: "platform principal without the scope", principal: &auth.Principal{ID: "serviceAccounts/reader", Scopes: []auth.Scope{auth.ScopeContentRead}}, wantCode: codes.PermissionDenied, wantReason: "PERMISSION_DENIED"},
		{name: "platform principal without scopes", principal: &auth.Principal{ID: "serviceAccounts/none"}, wantCode: codes.PermissionDenied, wantReason: "PERMISSION_DENIED"},
		{name: "platform principal with the scope", principal: platform, wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.principal != nil {
				ctx = auth.NewContext(ctx, tt.principal)
			}
			p, err := auth.RequirePlatform(ctx, auth.ScopeTenantsRead)
			if status.Code(err) != tt.wantCode {
				t.Fatalf("RequirePlatform = %v, want code %v", err, tt.wantCode)
			}
			if tt.wantCode == codes.OK {
				if p != tt.principal {
					t.Errorf("RequirePlatform returned %v, want the context's principal", p)
				}
				return
			}
			if p != nil {
				t.Errorf("RequirePlatform returned principal %v with an error", p)
			}
			if got := apierr.Reason(err); got != tt.wantReason {
				t.Errorf("reason = %q, want %q", got, tt.wantReason)
			}
			if tt.wantCode == codes.PermissionDenied {
				if got := metadataOf(t, err)["required_scope"]; got != "tenants.read" {
					t.Errorf("required_scope = %q, want tenants.read", got)
				}
			}
		})
	}
}

func metadataOf(t *testing.T, err error) map[string]string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()
		}
	}
	t.Fatalf("%v has no ErrorInfo", err)
	return nil
}

// recordingAuthenticator accepts key and says what it was asked.
type recordingAuthenticator struct {
	key   string
	err   error // returned for any other credential; ErrInvalidCredential when nil
	calls []string
}

func (a *recordingAuthenticator) Authenticate(_ context.Context, credential string) (*auth.Principal, error) {
	a.calls = append(a.calls, credential)
	if credential == a.key {
		return &auth.Principal{ID: "serviceAccounts/test", Scopes: []auth.Scope{auth.ScopeTenantsRead}}, nil
	}
	if a.err != nil {
		return nil, a.err
	}
	return nil, auth.ErrInvalidCredential
}

// interceptorCase is one call through the interceptors.
type interceptorCase struct {
	name          string
	method        string
	authorization []string
	authnErr      error
	wantCode      codes.Code
	wantReason    string
	// wantAsked says whether the Authenticator may be consulted at all.
	wantAsked bool
}

const testKey = "oriel_sk_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnop"

func interceptorCases() []interceptorCase {
	const method = "/oriel.tenant.v1.TenantService/GetTenant"
	return []interceptorCase{
		{name: "valid bearer credential", method: method, authorization: []string{"Bearer " + testKey}, wantCode: codes.OK, wantAsked: true},
		{name: "scheme is case-insensitive", method: method, authorization: []string{"bearer " + testKey}, wantCode: codes.OK, wantAsked: true},
		{name: "health check without credentials", method: "/grpc.health.v1.Health/Check", wantCode: codes.OK},
		{name: "health watch without credentials", method: "/grpc.health.v1.Health/Watch", wantCode: codes.OK},
		{name: "reflection without credentials", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", wantCode: codes.OK},
		{name: "v1alpha reflection without credentials", method: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", wantCode: codes.OK},
		{name: "health with a bad credential still passes", method: "/grpc.health.v1.Health/Check", authorization: []string{"Basic Zm9vOmJhcg=="}, wantCode: codes.OK},
		{name: "a method named like health is not public", method: "/grpc.health.v1.HealthX/Check", wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_MISSING"},
		{name: "missing", method: method, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_MISSING"},
		{name: "basic scheme", method: method, authorization: []string{"Basic Zm9vOmJhcg=="}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "bearer without a token", method: method, authorization: []string{"Bearer"}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "bearer with an empty token", method: method, authorization: []string{"Bearer "}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "token without a scheme", method: method, authorization: []string{testKey}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "two authorization values", method: method, authorization: []string{"Bearer " + testKey, "Bearer " + testKey}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "credential over 4096 bytes", method: method, authorization: []string{"Bearer " + strings.Repeat("x", 4097)}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID"},
		{name: "wrong credential", method: method, authorization: []string{"Bearer oriel_sk_wrong"}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID", wantAsked: true},
		{name: "credential with trailing whitespace", method: method, authorization: []string{"Bearer " + testKey + " "}, wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID", wantAsked: true},
		{name: "authenticator cannot decide", method: method, authorization: []string{"Bearer oriel_sk_other"}, authnErr: errors.New("identity: connection refused"), wantCode: codes.Unavailable, wantReason: "UNAVAILABLE", wantAsked: true},
		{name: "authenticator wraps ErrInvalidCredential", method: method, authorization: []string{"Bearer oriel_sk_other"}, authnErr: errors.Join(errors.New("revoked"), auth.ErrInvalidCredential), wantCode: codes.Unauthenticated, wantReason: "CREDENTIAL_INVALID", wantAsked: true},
	}
}

func incoming(authorization []string) context.Context {
	md := metadata.MD{}
	for _, v := range authorization {
		md.Append("authorization", v)
	}
	return metadata.NewIncomingContext(context.Background(), md)
}

func checkInterceptorResult(t *testing.T, tt interceptorCase, a *recordingAuthenticator, err error, called bool, seen *auth.Principal) {
	t.Helper()
	if status.Code(err) != tt.wantCode {
		t.Fatalf("err = %v, want code %v", err, tt.wantCode)
	}
	if got := apierr.Reason(err); got != tt.wantReason {
		t.Errorf("reason = %q, want %q", got, tt.wantReason)
	}
	if !tt.wantAsked && len(a.calls) > 0 {
		t.Errorf("the Authenticator was asked about %q", a.calls)
	}
	if tt.wantCode != codes.OK {
		if called {
			t.Error("the handler ran for a refused call")
		}
		if strings.Contains(status.Convert(err).Message(), "connection refused") {
			t.Errorf("message %q leaks the Authenticator's error", status.Convert(err).Message())
		}
		return
	}
	if !called {
		t.Fatal("the handler did not run")
	}
	if tt.wantAsked {
		if seen == nil || seen.ID != "serviceAccounts/test" {
			t.Errorf("the handler saw principal %v, want the authenticated one", seen)
		}
	} else if seen != nil {
		t.Errorf("a public method's handler saw principal %v", seen)
	}
}

func TestUnaryServerInterceptor(t *testing.T) {
	t.Parallel()
	for _, tt := range interceptorCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &recordingAuthenticator{key: testKey, err: tt.authnErr}
			var (
				called bool
				seen   *auth.Principal
			)
			handler := func(ctx context.Context, req any) (any, error) {
				called = true
				seen = auth.FromContext(ctx)
				return "response", nil
			}
			resp, err := auth.UnaryServerInterceptor(a)(incoming(tt.authorization), "request",
				&grpc.UnaryServerInfo{FullMethod: tt.method}, handler)
			checkInterceptorResult(t, tt, a, err, called, seen)
			if err == nil && resp != "response" {
				t.Errorf("resp = %v, want the handler's", resp)
			}
		})
	}
}

// fakeStream is a server stream with only a context.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptor(t *testing.T) {
	t.Parallel()
	for _, tt := range interceptorCases() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &recordingAuthenticator{key: testKey, err: tt.authnErr}
			var (
				called bool
				seen   *auth.Principal
			)
			handler := func(_ any, ss grpc.ServerStream) error {
				called = true
				seen = auth.FromContext(ss.Context())
				return nil
			}
			err := auth.StreamServerInterceptor(a)(nil, fakeStream{ctx: incoming(tt.authorization)},
				&grpc.StreamServerInfo{FullMethod: tt.method}, handler)
			checkInterceptorResult(t, tt, a, err, called, seen)
		})
	}
}

func TestStreamInterceptorKeepsTheIncomingContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(incoming([]string{"Bearer " + testKey}), key{}, "kept")
	err := auth.StreamServerInterceptor(&recordingAuthenticator{key: testKey})(nil, fakeStream{ctx: ctx},
		&grpc.StreamServerInfo{FullMethod: "/oriel.tenant.v1.TenantService/Watch"},
		func(_ any, ss grpc.ServerStream) error {
			if ss.Context().Value(key{}) != "kept" {
				return errors.New("the handler's context lost the stream's values")
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
}
