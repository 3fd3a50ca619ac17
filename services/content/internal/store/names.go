package store

import (
	"strconv"
	"strings"
)

// TenantName returns `tenants/{id}`.
func TenantName(id string) string { return "tenants/" + id }

// SpaceName returns `tenants/{tenant}/spaces/{id}`.
func SpaceName(tenant, id string) string { return "tenants/" + tenant + "/spaces/" + id }

// SpaceMemberName returns `tenants/{tenant}/spaces/{space}/members/{id}`.
func SpaceMemberName(tenant, space, id string) string {
	return SpaceName(tenant, space) + "/members/" + id
}

// AppName returns `tenants/{tenant}/apps/{id}`.
func AppName(tenant, id string) string { return "tenants/" + tenant + "/apps/" + id }

// AppRevisionName returns `tenants/{tenant}/apps/{app}/revisions/{revision}`.
func AppRevisionName(tenant, app string, revision int64) string {
	return AppName(tenant, app) + "/revisions/" + strconv.FormatInt(revision, 10)
}

// TemplateName returns `templates/{id}`.
func TemplateName(id string) string { return "templates/" + id }

// TemplateVersionName returns `templates/{template}/versions/{version}`.
func TemplateVersionName(template, version string) string {
	return TemplateName(template) + "/versions/" + version
}

// RolloutName returns `rollouts/{id}`.
func RolloutName(id string) string { return "rollouts/" + id }

// RolloutTargetName returns `rollouts/{rollout}/targets/{tenant}`.
func RolloutTargetName(rollout, tenant string) string {
	return RolloutName(rollout) + "/targets/" + tenant
}

// MemberID is the id of the space member standing for principal, a user
// (`tenants/{t}/users/{u}`, member `u-{u}`) or a group (`tenants/{t}/groups/{g}`, member
// `g-{g}`), so that giving the same principal a role again replaces its membership. User
// and group ids match ^[a-z0-9][a-z0-9-]{1,62}$, so the member id always matches the
// member-id pattern ^[a-z0-9][a-z0-9-]{1,80}$. It is "" for anything else.
func MemberID(principal string) string {
	if id, ok := principalID(principal, "users"); ok {
		return "u-" + id
	}
	if id, ok := principalID(principal, "groups"); ok {
		return "g-" + id
	}
	return ""
}

// principalID returns the id of `tenants/{t}/{collection}/{id}`.
func principalID(principal, collection string) (string, bool) {
	parts := strings.Split(principal, "/")
	if len(parts) != 4 || parts[0] != "tenants" || parts[1] == "" || parts[2] != collection || parts[3] == "" {
		return "", false
	}
	return parts[3], true
}

// lastSegment is the id that ends a resource name.
func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// spaceIDIn returns the id of space, a space name, if it is a space of tenant.
func spaceIDIn(tenant, space string) (string, bool) {
	id, ok := strings.CutPrefix(space, SpaceName(tenant, ""))
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// templateOf returns the template id of a template version name, "" for anything else
// (including "", an app no rollout deployed).
func templateOf(version string) string {
	parts := strings.Split(version, "/")
	if len(parts) != 4 || parts[0] != "templates" || parts[2] != "versions" || parts[1] == "" || parts[3] == "" {
		return ""
	}
	return parts[1]
}

// ReloadName returns `tenants/{tenant}/apps/{app}/reloads/{id}`.
func ReloadName(tenant, app, id string) string { return AppName(tenant, app) + "/reloads/" + id }
