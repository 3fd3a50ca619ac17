package store

import (
	"regexp"
	"strings"
	"testing"
)

// TestMemberIDIsAValidIDForAnyPrincipal pins the derivation callers rely on: one member id
// per user or group, valid whatever id the identity service gave it.
func TestMemberIDIsAValidIDForAnyPrincipal(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,80}$`)
	longest := strings.Repeat("a1-", 20) + "abc" // 63 characters, identity's longest id
	for _, tc := range []struct {
		name, principal, want string
	}{
		{"a user", "tenants/acme/users/ann", "u-ann"},
		{"a group", "tenants/acme/groups/analysts-1a2b3c", "g-analysts-1a2b3c"},
		{"the longest user id", "tenants/acme/users/" + longest, "u-" + longest},
		{"the longest group id", "tenants/acme/groups/" + longest, "g-" + longest},
		{"a user id starting with a digit", "tenants/acme/users/0abc", "u-0abc"},
		{"a bare id", "ann", ""},
		{"a service account", "tenants/acme/serviceAccounts/bot", ""},
		{"a user's sub-resource", "tenants/acme/users/ann/keys/k", ""},
		{"no tenant", "tenants//users/ann", ""},
		{"no id", "tenants/acme/users/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MemberID(tc.principal)
			if got != tc.want {
				t.Fatalf("MemberID(%q) = %q, want %q", tc.principal, got, tc.want)
			}
			if got != "" && !valid.MatchString(got) {
				t.Fatalf("MemberID(%q) = %q, which does not match %s", tc.principal, got, valid)
			}
		})
	}
}

// TestTemplateOfFindsTheTemplateOfAVersionName pins what ListDrift matches apps by.
func TestTemplateOfFindsTheTemplateOfAVersionName(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"templates/sales/versions/v1", "sales"},
		{"templates/sales/versions/2026-11-27", "sales"},
		{"", ""},
		{"templates/sales", ""},
		{"tenants/acme/apps/x", ""},
		{"templates//versions/v1", ""},
	} {
		if got := templateOf(tc.version); got != tc.want {
			t.Errorf("templateOf(%q) = %q, want %q", tc.version, got, tc.want)
		}
	}
}
