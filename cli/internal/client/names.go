package client

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// idChars are the characters an id may have to be put in a URL as it is. The edge applies
// the real rules and names the field when they are broken; this only keeps slashes, dots,
// colons and escapes from turning a name into another route.
var idChars = regexp.MustCompile(`^[A-Za-z0-9_~-]+$`)

// versionIDChars are those of a template version's id, which may also hold dots (`1.2.0`);
// it may not start with one, so that no id is `.` or `..`, which would move the path.
var versionIDChars = regexp.MustCompile(`^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$`)

// nameKind is one kind of resource name: the collections its segments alternate with
// ids, in each of the shapes it may take (service accounts live at platform level or in
// a tenant).
type nameKind struct {
	// noun names the kind in errors, e.g. "identity provider".
	noun string
	// shapes are the collection segments of each accepted shape, e.g.
	// {"tenants", "identityProviders"} for tenants/{t}/identityProviders/{p}.
	shapes [][]string
	// want says what a good name looks like, with an example.
	want string
}

var (
	tenantNames   = nameKind{"tenant", [][]string{{"tenants"}}, "tenants/<id>, e.g. tenants/acme"}
	providerNames = nameKind{"identity provider", [][]string{{"tenants", "identityProviders"}},
		"tenants/<tenant>/identityProviders/<id>, e.g. tenants/acme/identityProviders/main"}
	userNames = nameKind{"user", [][]string{{"tenants", "users"}},
		"tenants/<tenant>/users/<id>, e.g. tenants/acme/users/u3k…"}
	groupNames = nameKind{"group", [][]string{{"tenants", "groups"}},
		"tenants/<tenant>/groups/<id>, e.g. tenants/acme/groups/analysts"}
	roleBindingNames = nameKind{"role binding", [][]string{{"tenants", "roleBindings"}},
		"tenants/<tenant>/roleBindings/<id>, e.g. tenants/acme/roleBindings/analysts-viewer"}
	serviceAccountNames = nameKind{"service account", [][]string{{"serviceAccounts"}, {"tenants", "serviceAccounts"}},
		"serviceAccounts/<id> or tenants/<tenant>/serviceAccounts/<id>, e.g. serviceAccounts/backend"}
	apiKeyNames = nameKind{"API key", [][]string{{"serviceAccounts", "keys"}, {"tenants", "serviceAccounts", "keys"}},
		"serviceAccounts/<id>/keys/<key> or tenants/<tenant>/serviceAccounts/<id>/keys/<key>"}
	spaceNames = nameKind{"space", [][]string{{"tenants", "spaces"}},
		"tenants/<tenant>/spaces/<id>, e.g. tenants/acme/spaces/sales"}
	spaceMemberNames = nameKind{"space member", [][]string{{"tenants", "spaces", "members"}},
		"tenants/<tenant>/spaces/<space>/members/<id>, e.g. tenants/acme/spaces/sales/members/g-analysts (from oriel spaces members list)"}
	appNames = nameKind{"app", [][]string{{"tenants", "apps"}},
		"tenants/<tenant>/apps/<id>, e.g. tenants/acme/apps/sales"}
	appRevisionNames = nameKind{"app revision", [][]string{{"tenants", "apps", "revisions"}},
		"tenants/<tenant>/apps/<app>/revisions/<n>, e.g. tenants/acme/apps/sales/revisions/3"}
	reloadNames = nameKind{"reload", [][]string{{"tenants", "apps", "reloads"}},
		"tenants/<tenant>/apps/<app>/reloads/<id>, e.g. tenants/acme/apps/sales/reloads/r1 (from oriel reloads list)"}
	templateNames = nameKind{"template", [][]string{{"templates"}},
		"templates/<id>, e.g. templates/sales"}
	templateVersionNames = nameKind{"template version", [][]string{{"templates", "versions"}},
		"templates/<template>/versions/<id>, e.g. templates/sales/versions/v1"}
	rolloutNames = nameKind{"rollout", [][]string{{"rollouts"}},
		"rollouts/<id>, e.g. rollouts/sales-v1"}
	connectionNames = nameKind{"connection", [][]string{{"tenants", "connections"}},
		"tenants/<tenant>/connections/<id>, e.g. tenants/acme/connections/sales"}
	agentNames = nameKind{"agent", [][]string{{"tenants", "agents"}},
		"tenants/<tenant>/agents/<id>, e.g. tenants/acme/agents/dc1"}
	replicationNames = nameKind{"replication", [][]string{{"tenants", "replications"}},
		"tenants/<tenant>/replications/<id>, e.g. tenants/acme/replications/orders"}
)

// nameError is a resource name refused before any request; it matches ErrInvalidName.
type nameError struct{ msg string }

func (e *nameError) Error() string        { return e.msg }
func (e *nameError) Is(target error) bool { return target == ErrInvalidName }

// path maps a name of this kind to its REST path, `/v1/<name>` with each id escaped, or
// returns an error matching ErrInvalidName.
func (k nameKind) path(name string) (string, error) {
	if name == "" {
		return "", &nameError{fmt.Sprintf("invalid %s name: the name is empty; want %s", k.noun, k.want)}
	}
	parts := strings.Split(name, "/")
	for _, shape := range k.shapes {
		if len(parts) != 2*len(shape) {
			continue
		}
		ok := true
		for i, collection := range shape {
			id := parts[2*i+1]
			chars := idChars
			if collection == "versions" {
				chars = versionIDChars
			}
			if parts[2*i] != collection || !chars.MatchString(id) || id == "-" {
				ok = false
				break
			}
		}
		if ok {
			escaped := make([]string, len(parts))
			for i, p := range parts {
				escaped[i] = url.PathEscape(p)
			}
			return "/v1/" + strings.Join(escaped, "/"), nil
		}
	}
	return "", &nameError{fmt.Sprintf("invalid %s name %q: want %s", k.noun, name, k.want)}
}
