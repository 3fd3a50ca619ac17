package commands

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// block is a key: value listing of one resource, the table form of get and create.
type block struct{ tw *tabwriter.Writer }

func newBlock(w io.Writer) block { return block{newTable(w)} }

func (b block) row(key, value string) { fmt.Fprintf(b.tw, "%s:\t%s\n", key, cell(value)) }

func (b block) flush() error { return b.tw.Flush() }

// orDefault shows a server default for what was left unset, so that the block says what
// applies rather than "-".
func orDefault(value, def string) string {
	if value == "" {
		return def + " (default)"
	}
	return value
}

// formatDuration writes 10m rather than Go's 10m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func durationOrDefault(d *durationpb.Duration, def string) string {
	if d == nil {
		return def + " (default)"
	}
	return formatDuration(d.AsDuration())
}

// roleName is a role as the CLI takes it: viewer, not ROLE_VIEWER.
func roleName(r identityv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

func roleNames(roles []identityv1.Role) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = roleName(r)
	}
	return strings.Join(names, ", ")
}

// algName is an algorithm's JOSE name: ES256, EdDSA.
func algName(a identityv1.Algorithm) string {
	if a == identityv1.Algorithm_ALGORITHM_EDDSA {
		return "EdDSA"
	}
	return strings.TrimPrefix(a.String(), "ALGORITHM_")
}

// parseAlg reads a JOSE algorithm name, in any case.
func parseAlg(name string) (identityv1.Algorithm, error) {
	for v := range identityv1.Algorithm_name {
		a := identityv1.Algorithm(v)
		if a != identityv1.Algorithm_ALGORITHM_UNSPECIFIED && strings.EqualFold(algName(a), name) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown algorithm %q: want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA", name)
}

func enabledState(disabled bool) string {
	if disabled {
		return "DISABLED"
	}
	return "ENABLED"
}

// keyList describes a provider's keys on one line: k1 (ES256), k2 (RS256, JWK, until …).
func keyList(keys []*identityv1.SigningKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		attrs := []string{algName(k.GetAlg())}
		if k.GetJwk() != "" {
			attrs = append(attrs, "JWK")
		}
		if k.GetNotBefore() != nil {
			attrs = append(attrs, "from "+formatTime(k.GetNotBefore()))
		}
		if k.GetNotAfter() != nil {
			attrs = append(attrs, "until "+formatTime(k.GetNotAfter()))
		}
		parts[i] = k.GetKid() + " (" + strings.Join(attrs, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

func (s *Session) printProvider(p *identityv1.IdentityProvider) error {
	if s.structured() {
		return s.print(p)
	}
	j, c := p.GetJwt(), p.GetJwt().GetClaims()
	algs := make([]string, len(j.GetAllowedAlgorithms()))
	for i, a := range j.GetAllowedAlgorithms() {
		algs[i] = algName(a)
	}
	b := newBlock(s.Stdout)
	b.row("Name", p.GetName())
	b.row("Display name", p.GetDisplayName())
	b.row("State", enabledState(p.GetDisabled()))
	b.row("Issuer", j.GetIssuer())
	b.row("Audience", orDefault(j.GetAudience(), "oriel"))
	b.row("Keys", keyList(j.GetKeys()))
	b.row("JWKS URI", j.GetJwksUri())
	b.row("Allowed algorithms", orDefault(strings.Join(algs, ", "), "RS256, ES256"))
	b.row("Clock tolerance", durationOrDefault(j.GetClockTolerance(), "30s"))
	b.row("Max token lifetime", durationOrDefault(j.GetMaxTokenLifetime(), "10m"))
	if j.GetJwksUri() != "" {
		b.row("JWKS refresh interval", durationOrDefault(j.GetJwksRefreshInterval(), "5m"))
	}
	b.row("Subject claim", orDefault(c.GetSubject(), "sub"))
	b.row("Name claim", orDefault(c.GetName(), "name"))
	b.row("Email claim", orDefault(c.GetEmail(), "email"))
	b.row("Groups claim", orDefault(c.GetGroups(), "groups"))
	b.row("Attributes", labelList(c.GetAttributes(), ", "))
	b.row("Required claims", strings.Join(c.GetRequiredClaims(), ", "))
	b.row("Created", formatTime(p.GetCreateTime()))
	b.row("Updated", formatTime(p.GetUpdateTime()))
	b.row("Etag", p.GetEtag())
	return b.flush()
}

func printProviderTable(w io.Writer, providers []*identityv1.IdentityProvider) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tISSUER\tKEYS\tJWKS URI\tSTATE")
	for _, p := range providers {
		kids := make([]string, len(p.GetJwt().GetKeys()))
		for i, k := range p.GetJwt().GetKeys() {
			kids[i] = k.GetKid()
		}
		writeRow(tw, []string{p.GetName(), p.GetJwt().GetIssuer(), strings.Join(kids, ","), p.GetJwt().GetJwksUri(), enabledState(p.GetDisabled())})
	}
	return tw.Flush()
}

// printTestToken writes every check of a tested token, then what the token says about its
// user.
func (s *Session) printTestToken(r *identityv1.TestTokenResponse) error {
	if s.structured() {
		return s.print(r)
	}
	tw := newTable(s.Stdout)
	fmt.Fprintln(tw, "CHECK\tOUTCOME\tDETAIL")
	for _, c := range r.GetChecks() {
		writeRow(tw, []string{c.GetCheck(), strings.TrimPrefix(c.GetOutcome().String(), "OUTCOME_"), c.GetDetail()})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Stdout)
	b := newBlock(s.Stdout)
	valid := "no: the token would be rejected"
	if r.GetValid() {
		valid = "yes"
	}
	b.row("Valid", valid)
	if id := r.GetIdentity(); id != nil {
		b.row("Subject", id.GetSubject())
		b.row("Name", id.GetDisplayName())
		b.row("Email", id.GetEmail())
		b.row("Groups", strings.Join(id.GetGroups(), ", "))
		b.row("Attributes", labelList(id.GetAttributes(), ", "))
	}
	return b.flush()
}

func (s *Session) printUser(u *identityv1.User) error {
	if s.structured() {
		return s.print(u)
	}
	b := newBlock(s.Stdout)
	b.row("Name", u.GetName())
	b.row("Subject", u.GetSubject())
	b.row("Display name", u.GetDisplayName())
	b.row("Email", u.GetEmail())
	b.row("Identity provider", u.GetIdentityProvider())
	b.row("Groups", strings.Join(u.GetGroups(), ", "))
	b.row("State", enabledState(u.GetDisabled()))
	b.row("Created", formatTime(u.GetCreateTime()))
	b.row("Last login", formatTime(u.GetLastLoginTime()))
	return b.flush()
}

func printUserTable(w io.Writer, users []*identityv1.User) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tSUBJECT\tDISPLAY NAME\tEMAIL\tGROUPS\tSTATE\tLAST LOGIN")
	for _, u := range users {
		writeRow(tw, []string{u.GetName(), u.GetSubject(), u.GetDisplayName(), u.GetEmail(),
			strings.Join(u.GetGroups(), ","), enabledState(u.GetDisabled()), formatTime(u.GetLastLoginTime())})
	}
	return tw.Flush()
}

func (s *Session) printGroup(g *identityv1.Group) error {
	if s.structured() {
		return s.print(g)
	}
	b := newBlock(s.Stdout)
	b.row("Name", g.GetName())
	b.row("Claim value", g.GetClaimValue())
	b.row("Created", formatTime(g.GetCreateTime()))
	return b.flush()
}

func printGroupTable(w io.Writer, groups []*identityv1.Group) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tCLAIM VALUE\tCREATED")
	for _, g := range groups {
		writeRow(tw, []string{g.GetName(), g.GetClaimValue(), formatTime(g.GetCreateTime())})
	}
	return tw.Flush()
}

func (s *Session) printRoleBinding(rb *identityv1.RoleBinding) error {
	if s.structured() {
		return s.print(rb)
	}
	b := newBlock(s.Stdout)
	b.row("Name", rb.GetName())
	if rb.GetUser() != "" {
		b.row("User", rb.GetUser())
	} else {
		b.row("Group", rb.GetGroup())
	}
	b.row("Role", roleName(rb.GetRole()))
	b.row("Created", formatTime(rb.GetCreateTime()))
	return b.flush()
}

func printRoleBindingTable(w io.Writer, bindings []*identityv1.RoleBinding) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tMEMBER\tROLE\tCREATED")
	for _, rb := range bindings {
		writeRow(tw, []string{rb.GetName(), rb.GetUser() + rb.GetGroup(), roleName(rb.GetRole()), formatTime(rb.GetCreateTime())})
	}
	return tw.Flush()
}

func (s *Session) printServiceAccount(a *identityv1.ServiceAccount) error {
	if s.structured() {
		return s.print(a)
	}
	b := newBlock(s.Stdout)
	b.row("Name", a.GetName())
	b.row("Display name", a.GetDisplayName())
	b.row("Scopes", strings.Join(a.GetScopes(), ", "))
	b.row("Created", formatTime(a.GetCreateTime()))
	return b.flush()
}

func printServiceAccountTable(w io.Writer, accounts []*identityv1.ServiceAccount) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tSCOPES\tCREATED")
	for _, a := range accounts {
		writeRow(tw, []string{a.GetName(), a.GetDisplayName(), strings.Join(a.GetScopes(), ","), formatTime(a.GetCreateTime())})
	}
	return tw.Flush()
}

// keyState says whether a key still works: ACTIVE, EXPIRED or REVOKED.
func keyState(k *identityv1.ApiKey, now time.Time) string {
	switch {
	case k.GetRevokeTime() != nil:
		return "REVOKED"
	case k.GetExpireTime() != nil && !now.Before(k.GetExpireTime().AsTime()):
		return "EXPIRED"
	}
	return "ACTIVE"
}

// apiKeyRows writes one key's rows of a block.
func apiKeyRows(b block, k *identityv1.ApiKey) {
	b.row("Name", k.GetName())
	b.row("Display name", k.GetDisplayName())
	b.row("Prefix", k.GetPrefix())
	b.row("State", keyState(k, time.Now()))
	expires := formatTime(k.GetExpireTime())
	if expires == "" {
		expires = "never"
	}
	b.row("Expires", expires)
	b.row("Created", formatTime(k.GetCreateTime()))
	b.row("Last used", formatTime(k.GetLastUseTime()))
	if k.GetRevokeTime() != nil {
		b.row("Revoked", formatTime(k.GetRevokeTime()))
	}
}

func (s *Session) printAPIKey(k *identityv1.ApiKey) error {
	if s.structured() {
		return s.print(k)
	}
	b := newBlock(s.Stdout)
	apiKeyRows(b, k)
	return b.flush()
}

// printNewAPIKey writes a created key with its secret, and says, in table mode, that the
// secret will not be shown again.
func (s *Session) printNewAPIKey(r *identityv1.CreateApiKeyResponse) error {
	if s.structured() {
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	apiKeyRows(b, r.GetApiKey())
	b.row("Secret", r.GetSecret())
	if err := b.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(s.Stdout, "\nThe secret is shown only now: store it safely. Oriel keeps only its hash and cannot show it again.")
	return err
}

func printAPIKeyTable(w io.Writer, keys []*identityv1.ApiKey) error {
	now := time.Now()
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tPREFIX\tSTATE\tEXPIRES\tLAST USED\tCREATED")
	for _, k := range keys {
		writeRow(tw, []string{k.GetName(), k.GetDisplayName(), k.GetPrefix(), keyState(k, now),
			formatTime(k.GetExpireTime()), formatTime(k.GetLastUseTime()), formatTime(k.GetCreateTime())})
	}
	return tw.Flush()
}

// sessionRows writes an embed session's rows of a block.
func sessionRows(b block, es *identityv1.EmbedSession) {
	b.row("Session", es.GetName())
	b.row("User", es.GetUser())
	b.row("Roles", roleNames(es.GetRoles()))
	b.row("Groups", strings.Join(es.GetGroups(), ", "))
	b.row("Attributes", labelList(es.GetAttributes(), ", "))
	b.row("Allowed origin", es.GetAllowedOrigin())
	resources := strings.Join(es.GetAllowedResources(), ", ")
	if resources == "" {
		resources = "everything the user may see"
	}
	b.row("Allowed resources", resources)
}

// issuedToken is the answer of an exchange or a refresh.
type issuedToken interface {
	proto.Message
	GetToken() string
	GetExpireTime() *timestamppb.Timestamp
	GetEmbedSession() *identityv1.EmbedSession
}

// printIssuedToken writes a token from an exchange or a refresh: the token and its expiry
// first, then what it stands for.
func (s *Session) printIssuedToken(resp issuedToken) error {
	if s.structured() {
		return s.print(resp)
	}
	b := newBlock(s.Stdout)
	b.row("Token", resp.GetToken())
	b.row("Expires", formatTime(resp.GetExpireTime()))
	sessionRows(b, resp.GetEmbedSession())
	return b.flush()
}

// printIntrospection writes who a credential belongs to.
func (s *Session) printIntrospection(r *identityv1.IntrospectTokenResponse) error {
	if s.structured() {
		if !r.GetActive() {
			// protojson leaves out a false bool; a script's .active should find it.
			return writeDocument(s.Stdout, s.Output, []byte("{\n  \"active\": false\n}\n"))
		}
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	if !r.GetActive() {
		b.row("Active", "false")
		return b.flush()
	}
	p := r.GetPrincipal()
	b.row("Active", "true")
	b.row("Kind", strings.TrimPrefix(p.GetKind().String(), "KIND_"))
	if es := p.GetEmbedSession(); es != nil {
		// The session's rows name the user and the session, which are the principal
		// and the credential.
		b.row("Tenant", p.GetTenant())
		sessionRows(b, es)
		b.row("Expires", formatTime(es.GetExpireTime()))
		return b.flush()
	}
	b.row("Principal", p.GetName())
	b.row("Credential", p.GetCredential())
	tenant := p.GetTenant()
	if tenant == "" {
		tenant = "(platform: every tenant)"
	}
	b.row("Tenant", tenant)
	b.row("Scopes", strings.Join(p.GetScopes(), ", "))
	return b.flush()
}

func printSessionTable(w io.Writer, sessions []*identityv1.EmbedSession) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tROLES\tGROUPS\tORIGIN\tCREATED\tEXPIRES")
	for _, es := range sessions {
		writeRow(tw, []string{es.GetName(), roleNames(es.GetRoles()), strings.Join(es.GetGroups(), ","),
			es.GetAllowedOrigin(), formatTime(es.GetCreateTime()), formatTime(es.GetExpireTime())})
	}
	return tw.Flush()
}
