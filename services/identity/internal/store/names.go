package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// IdentityProviderName returns `tenants/{tenant}/identityProviders/{id}`.
func IdentityProviderName(tenant, id string) string {
	return "tenants/" + tenant + "/identityProviders/" + id
}

// UserName returns `tenants/{tenant}/users/{id}`.
func UserName(tenant, id string) string { return "tenants/" + tenant + "/users/" + id }

// GroupName returns `tenants/{tenant}/groups/{id}`.
func GroupName(tenant, id string) string { return "tenants/" + tenant + "/groups/" + id }

// RoleBindingName returns `tenants/{tenant}/roleBindings/{id}`.
func RoleBindingName(tenant, id string) string { return "tenants/" + tenant + "/roleBindings/" + id }

// ServiceAccountName returns `serviceAccounts/{id}` for a platform account (tenant "") and
// `tenants/{tenant}/serviceAccounts/{id}` for a tenant's.
func ServiceAccountName(tenant, id string) string {
	if tenant == "" {
		return "serviceAccounts/" + id
	}
	return "tenants/" + tenant + "/serviceAccounts/" + id
}

// APIKeyName returns `<account name>/keys/{id}`.
func APIKeyName(tenant, serviceAccount, id string) string {
	return ServiceAccountName(tenant, serviceAccount) + "/keys/" + id
}

// BootstrapServiceAccount is the id of the platform service account EnsureBootstrapKey
// keeps, whose key is the one an operator starts with.
const BootstrapServiceAccount = "bootstrap-admin"

// Scopes are every scope a service account can hold; the bootstrap account holds them all.
var Scopes = []string{
	"tenants.read", "tenants.write", "identity.admin", "content.read", "content.write",
	"embed.mint", "datagateway.admin",
}

const (
	// maxSlugLen leaves room for "-" and the longest digest within the 63 characters of an id.
	maxSlugLen = 40
	// emptySlug stands in for a claim with no ASCII letter or digit ("ÄÖÜ", "🙂", "--").
	emptySlug = "group"
)

// GroupIDForClaim is the id Login gives a group it creates for a groups-claim value: a
// readable lowercase slug of the value (at most 40 characters) and 6 hex digits of its
// SHA-256, so values that slug alike ("Sales/EMEA", "sales emea") still get distinct ids.
// It always matches ^[a-z0-9][a-z0-9-]{1,62}$. CreateGroup callers without an id may use it
// too, so a group made ahead of its first login gets the id that login would have made.
func GroupIDForClaim(claim string) string { return claimGroupID(claim, 3) }

// claimGroupID is GroupIDForClaim with n bytes of digest. Login lengthens the digest only
// when a shorter one collides with another claim's group in the tenant.
func claimGroupID(claim string, n int) string {
	sum := sha256.Sum256([]byte(claim))
	return claimSlug(claim) + "-" + hex.EncodeToString(sum[:n])
}

// claimSlug keeps ASCII letters (lowercased) and digits, and turns every run of anything
// else into one hyphen, never leading or trailing.
func claimSlug(claim string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range claim {
		switch {
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		default:
			hyphen = true
			continue
		}
		if b.Len() > 0 && hyphen {
			if b.Len()+2 > maxSlugLen {
				break
			}
			b.WriteByte('-')
		}
		hyphen = false
		b.WriteRune(r)
		if b.Len() == maxSlugLen {
			break
		}
	}
	if b.Len() == 0 {
		return emptySlug
	}
	return b.String()
}
