package pagination_test

import (
	"encoding/base64"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/pagination"
)

func TestPageSizeIsClamped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		requested int32
		want      int
	}{
		{"zero is the default", 0, 50},
		{"negative is the default", -1, 50},
		{"most negative is the default", -2147483648, 50},
		{"one", 1, 1},
		{"small is kept", 7, 7},
		{"the maximum is kept", 1000, 1000},
		{"just over the maximum is clamped", 1001, 1000},
		{"far over the maximum is clamped", 5000, 1000},
		{"largest int32 is clamped", 2147483647, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pagination.PageSize(tt.requested); got != tt.want {
				t.Errorf("PageSize(%d) = %d, want %d", tt.requested, got, tt.want)
			}
		})
	}
}

func listTenants(filter string, size int32, token string) *tenantv1.ListTenantsRequest {
	return &tenantv1.ListTenantsRequest{Filter: filter, PageSize: size, PageToken: token}
}

func TestTokensRoundTrip(t *testing.T) {
	t.Parallel()
	for _, after := range []string{"acme", "tenants/acme", "a key with spaces, quotes \" and unicode ✓", "x"} {
		req := listTenants(`state = ACTIVE`, 10, "")
		token := pagination.Encode(req, after)
		if token == "" {
			t.Fatalf("Encode(%q) returned no token", after)
		}
		// Tokens travel in URLs.
		if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
			t.Errorf("token %q is not unpadded URL-safe base64: %v", token, err)
		}
		next := listTenants(`state = ACTIVE`, 10, token)
		got, err := pagination.Decode(next, token)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got != after {
			t.Errorf("Decode = %q, want %q", got, after)
		}
	}
}

func TestEmptyTokenStartsAtTheFirstPage(t *testing.T) {
	t.Parallel()
	got, err := pagination.Decode(listTenants("", 0, ""), "")
	if got != "" || err != nil {
		t.Errorf("Decode(\"\") = %q, %v; want \"\", nil", got, err)
	}
}

func TestChangingOnlyThePageSizeKeepsTheTokenValid(t *testing.T) {
	t.Parallel()
	token := pagination.Encode(listTenants(`region = "eu-west"`, 10, ""), "acme")
	for _, size := range []int32{0, 1, 10, 500, 5000} {
		got, err := pagination.Decode(listTenants(`region = "eu-west"`, size, token), token)
		if err != nil || got != "acme" {
			t.Errorf("page_size %d: Decode = %q, %v; want acme", size, got, err)
		}
	}
}

func TestTokenFromAnotherRequestIsRefused(t *testing.T) {
	t.Parallel()
	first := listTenants(`state = ACTIVE`, 10, "")
	token := pagination.Encode(first, "acme")
	eventsToken := pagination.Encode(&tenantv1.ListTenantEventsRequest{Parent: "tenants/acme"}, "e1")
	tests := []struct {
		name  string
		req   proto.Message
		token string
	}{
		{name: "another filter", req: listTenants(`state = DEACTIVATED`, 10, token), token: token},
		{name: "no filter", req: listTenants("", 10, token), token: token},
		{name: "another parent", req: &tenantv1.ListTenantEventsRequest{Parent: "tenants/other", PageToken: eventsToken}, token: eventsToken},
		{name: "every parent", req: &tenantv1.ListTenantEventsRequest{Parent: "tenants/-", PageToken: eventsToken}, token: eventsToken},
		{name: "another method", req: &tenantv1.ListTenantEventsRequest{PageToken: pagination.Encode(&tenantv1.ListTenantsRequest{}, "acme")}, token: pagination.Encode(&tenantv1.ListTenantsRequest{}, "acme")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pagination.Decode(tt.req, tt.token)
			assertInvalidPageToken(t, got, err)
		})
	}
	// The same parent still decodes: the cases above fail for the right reason.
	if got, err := pagination.Decode(&tenantv1.ListTenantEventsRequest{Parent: "tenants/acme", PageSize: 3}, eventsToken); err != nil || got != "e1" {
		t.Errorf("same parent: Decode = %q, %v", got, err)
	}
}

func TestMalformedTokensAreRefused(t *testing.T) {
	t.Parallel()
	req := listTenants("", 10, "")
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	valid := pagination.Encode(req, "acme")
	tests := []struct {
		name  string
		token string
	}{
		{name: "garbage", token: "garbage!!"},
		{name: "not base64", token: "%%%%"},
		{name: "padded standard base64", token: base64.StdEncoding.EncodeToString([]byte(`{"a":"acme"}`)) + "="},
		{name: "base64 of non-JSON", token: enc("hello")},
		{name: "empty after", token: enc(`{"a":"","r":1}`)},
		{name: "no after", token: enc(`{"r":1}`)},
		{name: "empty JSON object", token: enc(`{}`)},
		{name: "wrong checksum", token: enc(`{"a":"acme","r":12345}`)},
		{name: "truncated", token: valid[:len(valid)-3]},
		{name: "a different valid-looking token", token: valid + "AA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := pagination.Decode(req, tt.token)
			assertInvalidPageToken(t, got, err)
		})
	}
}

func assertInvalidPageToken(t *testing.T, got string, err error) {
	t.Helper()
	if got != "" {
		t.Errorf("Decode returned key %q with a bad token", got)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Decode error = %v, want InvalidArgument", err)
	}
	if r := apierr.Reason(err); r != "INVALID_PAGE_TOKEN" {
		t.Errorf("reason = %q, want INVALID_PAGE_TOKEN", r)
	}
	var fields []string
	for _, v := range apierr.Violations(err) {
		fields = append(fields, v.Field)
	}
	if !slices.Equal(fields, []string{"page_token"}) {
		t.Errorf("violations name %v, want [page_token]", fields)
	}
}
