package store

import (
	"regexp"
	"strings"
	"testing"
)

// TestGroupIDForClaimIsAValidIDForAnyClaim pins the derivation callers may rely on: a
// readable slug and 6 hex digits, valid whatever the claim holds.
func TestGroupIDForClaimIsAValidIDForAnyClaim(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	for _, tc := range []struct {
		name, claim, wantPrefix string
	}{
		{"a plain word", "Admins", "admins-"},
		{"a path", "Sales/EMEA", "sales-emea-"},
		{"runs of separators", "--Sales   EMEA--", "sales-emea-"},
		{"no ASCII letters", "ÄÖÜ", "group-"},
		{"an emoji", "🙂", "group-"},
		{"the empty string", "", "group-"},
		{"a distinguished name", "CN=Analysts,OU=Groups", "cn-analysts-ou-groups-"},
		{"300 characters", strings.Repeat("abc ", 75), "abc-abc-abc-abc-abc-abc-abc-abc-abc-abc-"},
		{"a long word", strings.Repeat("x", 300), strings.Repeat("x", 40) + "-"},
		{"a digit first", "2024 cohort", "2024-cohort-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := GroupIDForClaim(tc.claim)
			if !valid.MatchString(id) {
				t.Fatalf("GroupIDForClaim(%q) = %q, which does not match %s", tc.claim, id, valid)
			}
			if !strings.HasPrefix(id, tc.wantPrefix) || len(id) != len(tc.wantPrefix)+6 {
				t.Fatalf("GroupIDForClaim(%q) = %q, want %q and 6 hex digits", tc.claim, id, tc.wantPrefix)
			}
			if again := GroupIDForClaim(tc.claim); again != id {
				t.Fatalf("GroupIDForClaim(%q) = %q, then %q", tc.claim, id, again)
			}
			for _, n := range claimDigestBytes {
				if longer := claimGroupID(tc.claim, n); !valid.MatchString(longer) {
					t.Fatalf("claimGroupID(%q, %d) = %q, which does not match %s", tc.claim, n, longer, valid)
				}
			}
		})
	}
	if GroupIDForClaim("Sales/EMEA") == GroupIDForClaim("sales emea") {
		t.Fatal("claims that slug alike got the same id")
	}
}
