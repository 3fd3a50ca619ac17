// Package authz decides what a caller may do with content. It combines the caller's
// tenant standing (a service account's scopes, or an embed user's tenant role) with its
// role in the space a resource lives in, into one access level per space, and every RPC
// needs a level. The decision is pure: handlers load the space role and ask.
//
// A caller that may not even view a resource of its own tenant is told NOT_FOUND, as for
// another tenant's resource: what it cannot see, it cannot learn exists. A caller that may
// view but not act is told PERMISSION_DENIED.
package authz

import (
	"slices"
	"strings"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/auth"
)

// Level is how much a caller may do in a space, each level including the ones below.
type Level int

// The levels.
const (
	// None: the space and its apps do not exist for the caller.
	None Level = iota
	// View: open the space's apps.
	View
	// Contribute: add apps, and edit and delete its own.
	Contribute
	// Produce: edit and delete every app of the space.
	Produce
	// Facilitate: also manage the space and its members.
	Facilitate
	// Admin: everything in the tenant.
	Admin
)

// String names a level as the README's matrix does.
func (l Level) String() string {
	return [...]string{"none", "view", "contribute", "produce", "facilitate", "admin"}[l]
}

// Caller is what authorization needs to know about a principal.
type Caller struct {
	// Platform callers act in every tenant.
	Platform bool
	// Tenant is the caller's one tenant when not Platform.
	Tenant string
	// ID is the principal's name; apps it creates are its own.
	ID string
	// Service is true for service accounts, whose scopes decide; false for embed users,
	// whose tenant role and space roles decide.
	Service bool
	// Read and Write are the content.read and content.write scopes of a service account.
	Read, Write bool
	// Role is an embed user's highest tenant role: "admin", "developer", "viewer" or "".
	Role string
	// Members are the user's and its groups' names, which space memberships name.
	Members []string
	// AllowedApps, if not nil, are the only app names an embed token may open.
	AllowedApps []string
}

// FromPrincipal describes an authenticated principal.
func FromPrincipal(p *auth.Principal) Caller {
	c := Caller{Platform: p.IsPlatform(), Tenant: p.Tenant, ID: p.ID}
	if p.Kind != auth.KindEmbedSession || p.EmbedSession == nil {
		c.Service = true
		c.Read = p.Has(auth.ScopeContentRead) || p.Has(auth.ScopeContentWrite)
		c.Write = p.Has(auth.ScopeContentWrite)
		return c
	}
	s := p.EmbedSession
	for _, r := range []string{"admin", "developer", "viewer"} {
		if slices.Contains(s.Roles, r) {
			c.Role = r
			break
		}
	}
	c.Members = append([]string{s.User}, s.Groups...)
	if len(s.AllowedResources) > 0 {
		c.AllowedApps = []string{}
		for _, r := range s.AllowedResources {
			// A sheet (`…/apps/{app}/sheets/{sheet}`) allows its app.
			if i := strings.Index(r, "/sheets/"); i >= 0 {
				r = r[:i]
			}
			c.AllowedApps = append(c.AllowedApps, r)
		}
	}
	return c
}

// InTenant reports whether the caller may act in tenant at all.
func (c Caller) InTenant(tenant string) bool { return c.Platform || c.Tenant == tenant }

// TenantLevel is the caller's level in a tenant before any space role: Admin for a
// service account with content.write and for tenant admins, View for one with only
// content.read, None for everyone else (whose levels come from spaces).
func (c Caller) TenantLevel(tenant string) Level {
	switch {
	case !c.InTenant(tenant):
		return None
	case c.Service && c.Write:
		return Admin
	case c.Service && c.Read:
		return View
	case !c.Service && c.Role == "admin":
		return Admin
	}
	return None
}

// SpaceLevel is the caller's level in a space of tenant where its members hold role
// (SPACE_ROLE_UNSPECIFIED for none). A viewer's space roles count only for viewing; a user
// without a tenant role has no access.
func (c Caller) SpaceLevel(tenant string, role contentv1.SpaceRole) Level {
	if l := c.TenantLevel(tenant); l != None || c.Service || !c.InTenant(tenant) {
		return l
	}
	granted := map[contentv1.SpaceRole]Level{
		contentv1.SpaceRole_SPACE_ROLE_CONSUMER:    View,
		contentv1.SpaceRole_SPACE_ROLE_CONTRIBUTOR: Contribute,
		contentv1.SpaceRole_SPACE_ROLE_PRODUCER:    Produce,
		contentv1.SpaceRole_SPACE_ROLE_FACILITATOR: Facilitate,
	}[role]
	switch c.Role {
	case "developer":
		return granted
	case "viewer":
		return min(granted, View)
	}
	return None
}

// CanCreateSpace reports whether the caller may create a space of type t in tenant:
// admins, and developers (who then facilitate it) for shared spaces.
func (c Caller) CanCreateSpace(tenant string, t contentv1.Space_Type) bool {
	if c.TenantLevel(tenant) == Admin {
		return true
	}
	return !c.Service && c.InTenant(tenant) && c.Role == "developer" && t == contentv1.Space_TYPE_SHARED
}

// CanOpenApp reports whether an embed token's allowed resources let it open app.
func (c Caller) CanOpenApp(app string) bool {
	return c.AllowedApps == nil || slices.Contains(c.AllowedApps, app)
}

// CanEditApp reports whether a caller at level may change an app owned by owner: produce,
// or contribute to its own.
func (c Caller) CanEditApp(level Level, owner string) bool {
	return level >= Produce || (level == Contribute && owner == c.ID)
}

// CanUsePlatform reports whether the caller may read (write false) or change platform
// content: templates and rollouts belong to the ISV, so only platform service accounts.
func (c Caller) CanUsePlatform(write bool) bool {
	if !c.Platform || !c.Service {
		return false
	}
	if write {
		return c.Write
	}
	return c.Read
}
