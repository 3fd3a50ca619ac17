package commands_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// keyPair runs `oriel jwt keygen` into dir and returns the private and public key files.
func keyPair(t *testing.T, dir, alg string) (priv, pub string) {
	t.Helper()
	priv, pub = filepath.Join(dir, alg+".key"), filepath.Join(dir, alg+".pub")
	if r := run("jwt", "keygen", "--alg", alg, "--private-key", priv, "--public-key", pub); r.code != 0 {
		t.Fatalf("jwt keygen --alg %s: exit %d: %s", alg, r.code, r.stderr)
	}
	return priv, pub
}

const issuer = "https://isv.example.com"

// signJWT runs `oriel jwt sign` for subject and writes the JWT to a new file in dir.
func signJWT(t *testing.T, dir, priv, subject string, extra ...string) string {
	t.Helper()
	r := run(append([]string{"jwt", "sign", "--private-key", priv, "--kid", "k1", "--issuer", issuer, "--subject", subject}, extra...)...)
	if r.code != 0 {
		t.Fatalf("jwt sign: exit %d: %s", r.code, r.stderr)
	}
	f, err := os.CreateTemp(dir, subject+"-*.jwt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(r.stdout); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// parseSigned verifies a JWT with the public key file and returns its header and claims.
func parseSigned(t *testing.T, token, pubFile string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	raw, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("%s is not a PUBLIC KEY PEM file:\n%s", pubFile, raw)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience("oriel"),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("the signed JWT does not verify with %s: %v", pubFile, err)
	}
	return tok.Header, claims
}

func TestJWTKeygenAndSignRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			priv, pub := keyPair(t, dir, alg)
			for file, want := range map[string]struct {
				mode  os.FileMode
				block string
			}{priv: {0o600, "PRIVATE KEY"}, pub: {0o644, "PUBLIC KEY"}} {
				info, err := os.Stat(file)
				if err != nil {
					t.Fatal(err)
				}
				if info.Mode().Perm()&^want.mode != 0 {
					t.Errorf("%s has mode %v, want at most %v", filepath.Base(file), info.Mode().Perm(), want.mode)
				}
				raw, _ := os.ReadFile(file)
				if b, _ := pem.Decode(raw); b == nil || b.Type != want.block {
					t.Errorf("%s is not one %s PEM block:\n%s", filepath.Base(file), want.block, raw)
				}
			}
			if info, _ := os.Stat(priv); info.Mode().Perm() != 0o600 {
				t.Errorf("private key mode = %v, want 0600", info.Mode().Perm())
			}

			r := run("jwt", "sign", "--private-key", priv, "--kid", "k1", "--issuer", issuer, "--subject", "alice",
				"--name", "Alice", "--email", "alice@example.com", "--group", "Sales, EMEA", "--group", "analysts",
				"--claim", "region=emea", "--claim", `regions:=["emea","apac"]`, "--claim", "tier:=3", "--ttl", "2m")
			if r.code != 0 || r.stderr != "" || strings.Count(r.stdout, "\n") != 1 {
				t.Fatalf("jwt sign: exit %d, stdout %q, stderr %q; want 0 and the JWT alone on a line", r.code, r.stdout, r.stderr)
			}
			header, claims := parseSigned(t, strings.TrimSpace(r.stdout), pub)
			if header["alg"] != alg || header["kid"] != "k1" {
				t.Errorf("header = %v, want alg %s and kid k1", header, alg)
			}
			iat, _ := claims.GetIssuedAt()
			nbf, _ := claims.GetNotBefore()
			exp, _ := claims.GetExpirationTime()
			if iat == nil || nbf == nil || exp == nil || exp.Sub(iat.Time) != 2*time.Minute || time.Since(iat.Time) > time.Minute || !nbf.Equal(iat.Time) {
				t.Errorf("iat %v, nbf %v, exp %v; want now, now and 2 minutes later", iat, nbf, exp)
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti = %q, want a random id", jti)
			}
			for k, want := range map[string]any{"sub": "alice", "name": "Alice", "email": "alice@example.com", "region": "emea", "tier": 3.0} {
				if claims[k] != want {
					t.Errorf("claim %s = %v, want %v", k, claims[k], want)
				}
			}
			if groups, _ := claims["groups"].([]any); !slices.Equal(groups, []any{"Sales, EMEA", "analysts"}) {
				t.Errorf("groups = %v, want both values, the comma kept", claims["groups"])
			}
			if regions, _ := claims["regions"].([]any); !slices.Equal(regions, []any{"emea", "apac"}) {
				t.Errorf("regions = %v, want the JSON list", claims["regions"])
			}

			again := run("jwt", "sign", "--private-key", priv, "--kid", "k1", "--issuer", issuer, "--subject", "alice")
			_, claims2 := parseSigned(t, strings.TrimSpace(again.stdout), pub)
			if claims2["jti"] == claims["jti"] {
				t.Errorf("two JWTs share jti %v", claims["jti"])
			}
		})
	}
}

func TestJWTKeygenNeverOverwrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub := keyPair(t, dir, "ES256")
	before, _ := os.ReadFile(priv)

	r := run("jwt", "keygen", "--private-key", priv, "--public-key", filepath.Join(dir, "other.pub"))
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("existing private key: exit %d, stderr %q; want 1 and already exists", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Errorf("the private key was changed")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pub")); !os.IsNotExist(err) {
		t.Errorf("a public key was written beside a refused private key: %v", err)
	}

	newPriv := filepath.Join(dir, "new.key")
	r = run("jwt", "keygen", "--private-key", newPriv, "--public-key", pub)
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("existing public key: exit %d, stderr %q; want 1 and already exists", r.code, r.stderr)
	}
	if _, err := os.Stat(newPriv); !os.IsNotExist(err) {
		t.Errorf("a private key was left behind when the public one was refused: %v", err)
	}
}

func TestJWTSignRefusesKeysThatCannotSign(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ecPriv, ecPub := keyPair(t, dir, "ES256")
	withSubject := []string{"--subject", "alice"}
	for _, tc := range []struct {
		name, want string
		code       int
		args       []string
	}{
		{"a public key", "is a public key", 1, append([]string{"--private-key", ecPub}, withSubject...)},
		{"an EC key for RS256", "cannot sign RS256", 1, append([]string{"--private-key", ecPriv, "--alg", "RS256"}, withSubject...)},
		{"HMAC is not an algorithm here", "want RS256", 2, append([]string{"--private-key", ecPriv, "--alg", "HS256"}, withSubject...)},
		{"none is not either", "want RS256", 2, append([]string{"--private-key", ecPriv, "--alg", "none"}, withSubject...)},
		{"a claim without a value", "want KEY=VALUE", 2, append([]string{"--private-key", ecPriv, "--claim", "region"}, withSubject...)},
		{"a claim of bad JSON", "not JSON", 2, append([]string{"--private-key", ecPriv, "--claim", "x:=[1,"}, withSubject...)},
		{"a zero lifetime", "--ttl", 2, append([]string{"--private-key", ecPriv, "--ttl", "0s"}, withSubject...)},
		{"no subject", "--subject", 2, []string{"--private-key", ecPriv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(append([]string{"jwt", "sign", "--issuer", issuer}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, tc.code, tc.want)
			}
		})
	}
}

// ssoTenant is a tenant whose provider trusts an ES256 key, with analysts bound to viewer.
type ssoTenant struct {
	edge
	dir, priv, pub string
}

func startSSO(t *testing.T) ssoTenant {
	t.Helper()
	e := startEdge(t)
	dir := t.TempDir()
	priv, pub := keyPair(t, dir, "ES256")
	// Embed tokens bound to an origin are accepted only from one the tenant allows.
	e.createTenant(t, "initech", "--allowed-origin", "https://app.initech.example")
	e.ok(t, "table", "idps", "create", "initech", "isv", "--issuer", issuer, "--key", "kid=k1,file="+pub, "--attribute", "region=region")
	e.ok(t, "table", "groups", "create", "initech", "analysts", "--id", "analysts")
	e.ok(t, "table", "role-bindings", "create", "initech", "--group", "analysts", "--role", "viewer", "--id", "analysts-viewer")
	return ssoTenant{edge: e, dir: dir, priv: priv, pub: pub}
}

// jwtFor signs a JWT for an analyst of the tenant.
func (s ssoTenant) jwtFor(t *testing.T, subject string) string {
	return signJWT(t, s.dir, s.priv, subject, "--name", strings.ToUpper(subject[:1])+subject[1:], "--group", "analysts", "--claim", "region=emea")
}

func TestIdpsCommandsManageAProvider(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	dir := t.TempDir()
	ecPriv, ecPub := keyPair(t, dir, "ES256")
	_, rsaPub := keyPair(t, dir, "RS256")

	created := block(e.ok(t, "table", "idps", "create", "initech", "isv", "--issuer", issuer, "--display-name", "ISV",
		"--key", "kid=k1,file="+ecPub, "--attribute", "region=region", "--max-token-lifetime", "15m"))
	for k, want := range map[string]string{
		"Name": "tenants/initech/identityProviders/isv", "Display name": "ISV", "State": "ENABLED", "Issuer": issuer,
		"Audience": "oriel (default)", "Keys": "k1 (ES256)", "Attributes": "region=region", "Max token lifetime": "15m",
	} {
		if created[k] != want {
			t.Errorf("created %s: %q, want %q", k, created[k], want)
		}
	}

	name := "tenants/initech/identityProviders/isv"
	got := parseJSON(t, e.ok(t, "json", "idps", "get", name), &identityv1.IdentityProvider{})
	if got.GetJwt().GetKeys()[0].GetAlg() != identityv1.Algorithm_ALGORITHM_ES256 || !strings.HasPrefix(got.GetJwt().GetKeys()[0].GetPem(), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("key = %v, want the ES256 PEM read from the file (alg inferred)", got.GetJwt().GetKeys()[0])
	}

	t.Run("update rotates keys with overlap and changes only what is given", func(t *testing.T) {
		upd := block(e.ok(t, "table", "idps", "update", name, "--etag", got.GetEtag(),
			"--key", "kid=k1,file="+ecPub, "--key", "kid=k2,alg=RS256,file="+rsaPub+",not-after=2030-01-01T00:00:00Z", "--allowed-alg", "ES256,RS256"))
		if upd["Keys"] != "k1 (ES256), k2 (RS256, until 2030-01-01T00:00:00Z)" || upd["Display name"] != "ISV" || upd["Allowed algorithms"] != "ES256, RS256" {
			t.Errorf("after rotation: %v", upd)
		}
		// Only nested fields: the provider keeps its keys, which the update does not send.
		upd = block(e.ok(t, "table", "idps", "update", name, "--groups-claim", "teams", "--issuer", "https://sso.isv.example.com"))
		if upd["Groups claim"] != "teams" || upd["Issuer"] != "https://sso.isv.example.com" || !strings.HasPrefix(upd["Keys"], "k1 (ES256), k2") {
			t.Errorf("after a claim change: %v", upd)
		}
		r := e.run(t, "table", "idps", "update", name, "--display-name", "x", "--etag", got.GetEtag())
		if r.code != 1 || !strings.HasSuffix(r.stderr, "(ABORTED, ETAG_MISMATCH)\n") {
			t.Errorf("stale etag: exit %d, stderr %q", r.code, r.stderr)
		}
		r = e.run(t, "table", "idps", "update", name, "--key", "")
		if r.code != 1 || !strings.Contains(r.stderr, "  identity_provider.jwt: a provider needs signing keys") {
			t.Errorf("removing every key: exit %d, stderr %q; want 1 and the field violation", r.code, r.stderr)
		}
		e.ok(t, "table", "idps", "update", name, "--issuer", issuer, "--groups-claim", "")
	})

	t.Run("list", func(t *testing.T) {
		e.ok(t, "table", "idps", "create", "initech", "backup", "--issuer", "https://backup.example.com", "--key", "kid=b1,file="+rsaPub, "--disabled")
		rows := tableRows(e.ok(t, "table", "idps", "list", "initech"))
		want := [][]string{
			{"NAME", "ISSUER", "KEYS", "JWKS URI", "STATE"},
			{"tenants/initech/identityProviders/backup", "https://backup.example.com", "b1", "-", "DISABLED"},
			{"tenants/initech/identityProviders/isv", issuer, "k1,k2", "-", "ENABLED"},
		}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Errorf("rows = %q\nwant %q", rows, want)
		}
		resp := parseJSON(t, e.ok(t, "json", "idps", "list", "initech", "--page-size", "1"), &identityv1.ListIdentityProvidersResponse{})
		if len(resp.GetIdentityProviders()) != 1 || resp.GetNextPageToken() == "" {
			t.Errorf("one page = %v, want one provider and a token", resp)
		}
		if out := e.ok(t, "json", "idps", "list", "globex"); out != "{\n  \"identityProviders\": []\n}\n" {
			t.Errorf("empty list = %q", out)
		}
	})

	t.Run("test-token shows every check and exits 1 when invalid", func(t *testing.T) {
		good := signJWT(t, dir, ecPriv, "alice", "--name", "Alice", "--claim", "region=emea")
		r := e.run(t, "table", "idps", "test-token", name, "--token-file", good)
		if r.code != 0 {
			t.Fatalf("valid token: exit %d: %s", r.code, r.stderr)
		}
		table, verdict, _ := strings.Cut(r.stdout, "\n\n")
		rows := tableRows(table)
		if !slices.Equal(rows[0], []string{"CHECK", "OUTCOME", "DETAIL"}) || len(rows) < 10 {
			t.Fatalf("checks table = %q", rows)
		}
		for _, row := range rows[1:] {
			if row[1] != "PASSED" {
				t.Errorf("check %s = %s", row[0], row[1])
			}
		}
		if v := block(verdict); v["Valid"] != "yes" || v["Subject"] != "alice" || v["Attributes"] != "region=emea" {
			t.Errorf("verdict = %v", v)
		}

		bad := signJWT(t, dir, ecPriv, "alice", "--issuer", "https://evil.example.com", "--ttl", "2h")
		r = e.run(t, "table", "idps", "test-token", name, "--token-file", bad)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "error: the token would be rejected: iss: ") {
			t.Errorf("invalid token: exit %d, stderr %q; want 1 and the first failed check", r.code, r.stderr)
		}
		failed := map[string]bool{}
		table, _, _ = strings.Cut(r.stdout, "\n\n")
		for _, row := range tableRows(table)[1:] {
			failed[row[0]] = row[1] == "FAILED"
		}
		if !failed["iss"] || !failed["lifetime"] || failed["signature"] {
			t.Errorf("failed checks = %v, want iss and lifetime only", failed)
		}
		js := e.run(t, "json", "idps", "test-token", name, "--token-file", bad)
		if resp := parseJSON(t, js.stdout, &identityv1.TestTokenResponse{}); js.code != 1 || resp.GetValid() || len(resp.GetChecks()) == 0 {
			t.Errorf("json: exit %d, %v", js.code, resp)
		}
	})

	t.Run("a private key is refused before anything is sent", func(t *testing.T) {
		r := e.run(t, "table", "idps", "create", "initech", "leak", "--issuer", issuer, "--key", "kid=k1,file="+ecPriv)
		if r.code != 1 || !strings.Contains(r.stderr, "is a private key; give the public key") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if out := e.ok(t, "table", "idps", "delete", "tenants/initech/identityProviders/backup"); out != "Deleted tenants/initech/identityProviders/backup.\n" {
			t.Errorf("stdout = %q", out)
		}
		if out := e.ok(t, "json", "idps", "delete", name); out != "{}\n" {
			t.Errorf("json stdout = %q, want {}", out)
		}
		r := e.run(t, "table", "idps", "get", name)
		if r.code != 1 || !strings.Contains(r.stderr, "(NOT_FOUND, RESOURCE_NOT_FOUND)") {
			t.Errorf("get after delete: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestDirectoryCommands(t *testing.T) {
	t.Parallel()
	s := startSSO(t)
	e := s.edge

	groups := tableRows(e.ok(t, "table", "groups", "list", "initech"))
	if len(groups) != 2 || groups[1][0] != "tenants/initech/groups/analysts" || groups[1][1] != "analysts" {
		t.Errorf("groups = %q", groups)
	}
	g := parseJSON(t, e.ok(t, "json", "groups", "create", "initech", "Sales EMEA"), &identityv1.Group{})
	if !strings.HasPrefix(g.GetName(), "tenants/initech/groups/sales-emea-") {
		t.Errorf("derived group = %v", g)
	}
	if got := block(e.ok(t, "table", "groups", "get", g.GetName())); got["Claim value"] != "Sales EMEA" {
		t.Errorf("group = %v", got)
	}

	binding := block(e.ok(t, "table", "role-bindings", "get", "tenants/initech/roleBindings/analysts-viewer"))
	if binding["Group"] != "tenants/initech/groups/analysts" || binding["Role"] != "viewer" {
		t.Errorf("binding = %v", binding)
	}
	r := e.run(t, "table", "role-bindings", "create", "initech", "--group", "nobody", "--role", "admin")
	if r.code != 1 || !strings.Contains(r.stderr, "MEMBER_NOT_FOUND") {
		t.Errorf("binding a missing group: exit %d, stderr %q", r.code, r.stderr)
	}

	// Alice signs in once: she becomes a user, whom a binding can name directly.
	e.ok(t, "table", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "alice"))
	users := tableRows(e.ok(t, "table", "users", "list", "initech"))
	if len(users) != 2 || !slices.Equal(users[0], []string{"NAME", "SUBJECT", "DISPLAY NAME", "EMAIL", "GROUPS", "STATE", "LAST LOGIN"}) ||
		users[1][1] != "alice" || users[1][2] != "Alice" || users[1][4] != "tenants/initech/groups/analysts" || users[1][5] != "ENABLED" {
		t.Fatalf("users = %q", users)
	}
	alice := users[1][0]
	id := strings.TrimPrefix(alice, "tenants/initech/users/")
	admin := parseJSON(t, e.ok(t, "json", "role-bindings", "create", "initech", "--user", id, "--role", "admin"), &identityv1.RoleBinding{})
	if admin.GetUser() != alice || admin.GetRole() != identityv1.Role_ROLE_ADMIN {
		t.Errorf("user binding = %v", admin)
	}
	bindings := tableRows(e.ok(t, "table", "role-bindings", "list", "initech"))
	if len(bindings) != 3 || !slices.Equal(bindings[0], []string{"NAME", "MEMBER", "ROLE", "CREATED"}) {
		t.Errorf("bindings = %q", bindings)
	}
	ex := parseJSON(t, e.ok(t, "json", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "alice")), &identityv1.ExchangeTokenResponse{})
	if roles := ex.GetEmbedSession().GetRoles(); len(roles) != 2 {
		t.Errorf("roles = %v, want the union: admin (her own) and viewer (her group's)", roles)
	}

	if got := block(e.ok(t, "table", "users", "disable", alice)); got["State"] != "DISABLED" {
		t.Errorf("after disable: %v", got)
	}
	r = e.run(t, "table", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "alice"))
	if r.code != 1 || !strings.HasSuffix(r.stderr, "(PERMISSION_DENIED, USER_DISABLED)\n") {
		t.Errorf("a disabled user's exchange: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := parseJSON(t, e.ok(t, "json", "users", "enable", alice), &identityv1.User{}); got.GetDisabled() {
		t.Errorf("after enable: %v", got)
	}
	if got := block(e.ok(t, "table", "users", "get", alice)); got["Subject"] != "alice" || got["Identity provider"] != "tenants/initech/identityProviders/isv" {
		t.Errorf("user = %v", got)
	}

	if out := e.ok(t, "table", "role-bindings", "delete", admin.GetName()); out != "Deleted "+admin.GetName()+".\n" {
		t.Errorf("delete binding: %q", out)
	}
	e.ok(t, "table", "groups", "delete", "tenants/initech/groups/analysts")
	if rows := tableRows(e.ok(t, "table", "role-bindings", "list", "initech")); len(rows) != 1 {
		t.Errorf("bindings after deleting the group = %q, want none (the group's went with it)", rows)
	}
}

func TestServiceAccountsAndKeysCommands(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	sa := block(e.ok(t, "table", "service-accounts", "create", "backend", "--scope", "embed.mint", "--scope", "tenants.read", "--display-name", "ISV backend"))
	if sa["Name"] != "serviceAccounts/backend" || sa["Scopes"] != "embed.mint, tenants.read" {
		t.Errorf("platform account = %v", sa)
	}
	tsa := parseJSON(t, e.ok(t, "json", "service-accounts", "create", "admin", "--tenant", "initech", "--scope", "identity.admin,embed.mint"), &identityv1.ServiceAccount{})
	if tsa.GetName() != "tenants/initech/serviceAccounts/admin" || len(tsa.GetScopes()) != 2 {
		t.Errorf("tenant account = %v", tsa)
	}
	r := e.run(t, "table", "service-accounts", "create", "bad", "--scope", "everything")
	if r.code != 1 || !strings.Contains(r.stderr, "  service_account.scopes[0]: ") {
		t.Errorf("unknown scope: exit %d, stderr %q", r.code, r.stderr)
	}
	platform := tableRows(e.ok(t, "table", "service-accounts", "list"))
	if !slices.Equal(platform[0], []string{"NAME", "DISPLAY NAME", "SCOPES", "CREATED"}) ||
		!slices.ContainsFunc(platform, func(r []string) bool { return r[0] == "serviceAccounts/backend" }) {
		t.Errorf("platform accounts = %q", platform)
	}
	inTenant := parseJSON(t, e.ok(t, "json", "service-accounts", "list", "--tenant", "initech"), &identityv1.ListServiceAccountsResponse{})
	if len(inTenant.GetServiceAccounts()) != 1 {
		t.Errorf("tenant accounts = %v", inTenant)
	}
	if got := block(e.ok(t, "table", "service-accounts", "get", "backend")); got["Display name"] != "ISV backend" {
		t.Errorf("get by bare id = %v", got)
	}

	out := e.ok(t, "table", "keys", "create", "backend", "--expire-in", "720h", "--display-name", "prod")
	key := block(out)
	if !strings.HasPrefix(key["Secret"], "oriel_sk_") || !strings.HasPrefix(key["Secret"], key["Prefix"]) || key["State"] != "ACTIVE" {
		t.Fatalf("new key = %v", key)
	}
	if exp, err := time.Parse(time.RFC3339, key["Expires"]); err != nil || time.Until(exp) < 719*time.Hour || time.Until(exp) > 720*time.Hour {
		t.Errorf("expires %q, want in 720h", key["Expires"])
	}
	if !strings.Contains(out, "\nThe secret is shown only now") {
		t.Errorf("table output does not say the secret is shown only now:\n%s", out)
	}
	resp := parseJSON(t, e.ok(t, "json", "keys", "create", "tenants/initech/serviceAccounts/admin"), &identityv1.CreateApiKeyResponse{})
	if !strings.HasPrefix(resp.GetSecret(), "oriel_sk_") || resp.GetApiKey().GetExpireTime() != nil {
		t.Errorf("json key = %v, want its secret and no expiry", resp)
	}

	// The new key is a credential of its own.
	backend := e
	backend.key = key["Secret"]
	who := block(backend.ok(t, "table", "token", "introspect"))
	if who["Principal"] != "serviceAccounts/backend" || who["Credential"] != key["Name"] || who["Scopes"] != "embed.mint, tenants.read" {
		t.Errorf("the new key introspects as %v", who)
	}

	rows := tableRows(e.ok(t, "table", "keys", "list", "serviceAccounts/backend"))
	if len(rows) != 2 || rows[1][0] != key["Name"] || rows[1][3] != "ACTIVE" {
		t.Errorf("keys = %q", rows)
	}
	if got := block(e.ok(t, "table", "keys", "revoke", key["Name"])); got["State"] != "REVOKED" || got["Revoked"] == "" {
		t.Errorf("after revoke: %v", got)
	}
	if r := backend.run(t, "table", "token", "introspect"); r.code != 1 || !strings.Contains(r.stderr, "UNAUTHENTICATED") {
		t.Errorf("revoked key: exit %d, stderr %q", r.code, r.stderr)
	}
	if list := parseJSON(t, e.ok(t, "json", "keys", "list", "backend"), &identityv1.ListApiKeysResponse{}); list.GetApiKeys()[0].GetRevokeTime() == nil {
		t.Errorf("json list = %v, want the revoke time", list)
	}
	if strings.Contains(e.ok(t, "json", "keys", "list", "backend"), key["Secret"]) {
		t.Errorf("keys list shows the secret")
	}

	if out := e.ok(t, "table", "service-accounts", "delete", "backend"); out != "Deleted serviceAccounts/backend and revoked its keys.\n" {
		t.Errorf("delete: %q", out)
	}
	if r := e.run(t, "table", "service-accounts", "get", "backend"); r.code != 1 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("get after delete: exit %d, %q", r.code, r.stderr)
	}
}

var tokenLine = regexp.MustCompile(`(?m)^Token: +(oriel_et_\S+)$`)

func TestTokenCommandsExchangeIntrospectRefreshAndRevoke(t *testing.T) {
	t.Parallel()
	s := startSSO(t)
	e := s.edge

	out := e.ok(t, "table", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "alice"), "--ttl", "10m",
		"--allowed-origin", "https://app.initech.example", "--allowed-resource", "tenants/initech/apps/sales")
	m := tokenLine.FindStringSubmatch(out)
	if m == nil || !strings.HasPrefix(out, "Token:") {
		t.Fatalf("exchange output does not start with the token:\n%s", out)
	}
	token := m[1]
	ex := block(out)
	if exp, err := time.Parse(time.RFC3339, ex["Expires"]); err != nil || time.Until(exp) < 9*time.Minute {
		t.Errorf("Expires %q, want in 10 minutes", ex["Expires"])
	}
	if ex["Roles"] != "viewer" || ex["Attributes"] != "region=emea" || ex["Allowed origin"] != "https://app.initech.example" ||
		ex["Allowed resources"] != "tenants/initech/apps/sales" {
		t.Errorf("exchange = %v", ex)
	}

	t.Run("a JWT is single-use", func(t *testing.T) {
		jwtFile := s.jwtFor(t, "bob")
		e.ok(t, "table", "token", "exchange", "initech", "--jwt-file", jwtFile)
		r := e.run(t, "table", "token", "exchange", "initech", "--jwt-file", jwtFile)
		if r.code != 1 || !strings.HasSuffix(r.stderr, "(UNAUTHENTICATED, JWT_REPLAYED)\n") {
			t.Errorf("replay: exit %d, stderr %q", r.code, r.stderr)
		}
	})

	in := block(e.ok(t, "table", "token", "introspect", token))
	if in["Active"] != "true" || in["Kind"] != "EMBED_SESSION" || in["Tenant"] != "initech" || in["Roles"] != "viewer" ||
		in["Groups"] != "tenants/initech/groups/analysts" || in["Attributes"] != "region=emea" || in["Session"] != ex["Session"] {
		t.Errorf("introspection = %v", in)
	}
	js := parseJSON(t, e.ok(t, "json", "token", "introspect", token), &identityv1.IntrospectTokenResponse{})
	if js.GetPrincipal().GetEmbedSession().GetRoles()[0] != identityv1.Role_ROLE_VIEWER {
		t.Errorf("json introspection = %v", js)
	}

	// The embed token is a credential: it introspects and refreshes itself, and reaches
	// the tenant service, where it may not read the tenant (it has no scopes).
	asToken := e
	asToken.key = token
	t.Run("a token bound to an origin is refused unless the call names it", func(t *testing.T) {
		if r := asToken.run(t, "table", "token", "introspect"); r.code != 1 || !strings.Contains(r.stderr, "ORIGIN_NOT_ALLOWED") {
			t.Errorf("exit %d, stderr %q; want 1 and ORIGIN_NOT_ALLOWED", r.code, r.stderr)
		}
	})
	asToken.extra = []string{"--embed-origin", "https://app.initech.example"}
	if self := block(asToken.ok(t, "table", "token", "introspect")); self["User"] != ex["User"] {
		t.Errorf("self-introspection = %v", self)
	}
	if r := asToken.run(t, "table", "tenants", "get", "initech"); r.code != 1 || !strings.HasSuffix(r.stderr, "(PERMISSION_DENIED, PERMISSION_DENIED)\n") {
		t.Errorf("tenants get with the embed token: exit %d, stderr %q", r.code, r.stderr)
	}
	refreshed := asToken.ok(t, "table", "token", "refresh", "--ttl", "2m")
	m = tokenLine.FindStringSubmatch(refreshed)
	if m == nil || m[1] == token || block(refreshed)["Session"] != ex["Session"] {
		t.Errorf("refresh = %s, want a new token for session %s", refreshed, ex["Session"])
	}
	refreshedToken := m[1]

	sessions := tableRows(e.ok(t, "table", "token", "sessions", ex["User"]))
	if !slices.Equal(sessions[0], []string{"NAME", "ROLES", "GROUPS", "ORIGIN", "CREATED", "EXPIRES"}) ||
		!slices.ContainsFunc(sessions, func(r []string) bool { return r[0] == ex["Session"] && r[3] == "https://app.initech.example" }) {
		t.Errorf("sessions = %q", sessions)
	}

	if out := e.ok(t, "table", "token", "revoke", refreshedToken); !strings.HasPrefix(out, "Revoked the embed token") {
		t.Errorf("revoke: %q", out)
	}
	r := e.run(t, "table", "token", "introspect", refreshedToken)
	if r.code != 1 || r.stdout != "Active:  false\n" || r.stderr != "error: the token is not active: it is unknown, expired or revoked\n" {
		t.Errorf("introspecting a revoked token: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := e.run(t, "json", "token", "introspect", refreshedToken); r.code != 1 || r.stdout != "{\n  \"active\": false\n}\n" {
		t.Errorf("json introspection of a revoked token: exit %d, stdout %q", r.code, r.stdout)
	}
	asRefreshed := e
	asRefreshed.key = refreshedToken
	if r := asRefreshed.run(t, "table", "token", "introspect"); r.code != 1 || r.stderr != "error: the credential is not valid (UNAUTHENTICATED, CREDENTIAL_INVALID)\n" {
		t.Errorf("the revoked token as a credential: exit %d, stderr %q", r.code, r.stderr)
	}

	t.Run("revoke-user and revoke-tenant", func(t *testing.T) {
		asAlice := e
		asAlice.key = tokenLine.FindStringSubmatch(e.ok(t, "table", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "alice")))[1]
		asAlice.ok(t, "table", "token", "introspect")
		if out := e.ok(t, "table", "token", "revoke-user", ex["User"]); out != "Revoked every embed token of "+ex["User"]+" issued so far.\n" {
			t.Errorf("revoke-user: %q", out)
		}
		if r := asAlice.run(t, "table", "token", "introspect"); r.code != 1 || !strings.Contains(r.stderr, "UNAUTHENTICATED") {
			t.Errorf("after revoke-user: exit %d, %q", r.code, r.stderr)
		}
		carol := tokenLine.FindStringSubmatch(e.ok(t, "table", "token", "exchange", "initech", "--jwt-file", s.jwtFor(t, "carol")))[1]
		if out := e.ok(t, "json", "token", "revoke-tenant", "initech"); out != "{}\n" {
			t.Errorf("revoke-tenant json: %q", out)
		}
		asCarol := e
		asCarol.key = carol
		if r := asCarol.run(t, "table", "token", "introspect"); r.code != 1 || !strings.Contains(r.stderr, "UNAUTHENTICATED") {
			t.Errorf("after revoke-tenant: exit %d, %q", r.code, r.stderr)
		}
		if out := e.ok(t, "json", "token", "sessions", ex["User"]); out != "{\n  \"embedSessions\": []\n}\n" {
			t.Errorf("sessions after revocation = %q", out)
		}
	})
}

// Not parallel: it clears ORIEL_API_KEY, and the environment is the process's.
func TestTokenExchangeAsUserNeedsNoAPIKey(t *testing.T) {
	s := startSSO(t)
	t.Setenv("ORIEL_API_KEY", "")
	jwtFile := s.jwtFor(t, "alice")
	r := run("token", "exchange", "initech", "--jwt-file", jwtFile, "--addr", s.url)
	if r.code != 1 || !strings.Contains(r.stderr, "no API key") || !strings.Contains(r.stderr, "--as-user") {
		t.Errorf("no key, no --as-user: exit %d, stderr %q; want 1 and both ways out", r.code, r.stderr)
	}
	r = run("token", "exchange", "initech", "--jwt-file", jwtFile, "--addr", s.url, "--as-user", "--output", "json")
	if r.code != 0 {
		t.Fatalf("--as-user: exit %d: %s", r.code, r.stderr)
	}
	resp := parseJSON(t, r.stdout, &identityv1.ExchangeTokenResponse{})
	if !strings.HasPrefix(resp.GetToken(), "oriel_et_initech.") || resp.GetEmbedSession().GetRoles()[0] != identityv1.Role_ROLE_VIEWER {
		t.Errorf("exchange as the user = %v", resp)
	}
	// The API key, when there is one, is not what --as-user sends: a JWT of another tenant's
	// provider fails as the JWT, not as the key.
	r = run("token", "exchange", "globex", "--jwt-file", s.jwtFor(t, "alice"), "--addr", s.url, "--as-user", "--api-key", s.key)
	if r.code != 1 || !strings.Contains(r.stderr, "JWT_REJECTED") {
		t.Errorf("--as-user with a key, wrong tenant: exit %d, stderr %q; want JWT_REJECTED", r.code, r.stderr)
	}
}

func TestIdentityUsageErrorsExitTwoWithoutCallingTheEdge(t *testing.T) {
	t.Parallel()
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"provider without issuer", []string{"idps", "create", "acme", "main", "--key", "kid=k1,file=x.pem"}, "--issuer"},
		{"provider without keys", []string{"idps", "create", "acme", "main", "--issuer", "i"}, "--key or a --jwks-uri"},
		{"key without file", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "kid=k1"}, "kid and file are required"},
		{"key with an unknown field first", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "colour=red,kid=k1,file=x"}, "is not a field"},
		{"key with HS256", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "kid=k1,alg=HS256,file=x"}, "unknown algorithm"},
		{"key with a bad time", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "kid=k1,file=x,not-after=tomorrow"}, "RFC 3339"},
		{"allowed none", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "kid=k1,file=x", "--allowed-alg", "none"}, "unknown algorithm"},
		{"attribute without claim", []string{"idps", "create", "acme", "main", "--issuer", "i", "--key", "kid=k1,file=x", "--attribute", "region"}, "want KEY=VALUE"},
		{"update without a field flag", []string{"idps", "update", "tenants/acme/identityProviders/main", "--etag", "e"}, "nothing to update"},
		{"enable and disable at once", []string{"idps", "update", "tenants/acme/identityProviders/main", "--enable", "--disable"}, "can't be used together"},
		{"test-token without a file", []string{"idps", "test-token", "tenants/acme/identityProviders/main"}, "--token-file"},
		{"binding without member", []string{"role-bindings", "create", "acme", "--role", "viewer"}, "--user=USER or --group=GROUP"},
		{"binding with both members", []string{"role-bindings", "create", "acme", "--role", "viewer", "--user", "u", "--group", "g"}, "can't be used together"},
		{"binding to an unknown role", []string{"role-bindings", "create", "acme", "--role", "owner", "--group", "g"}, "--role must be one of"},
		{"group without claim value", []string{"groups", "create", "acme"}, "<claim-value>"},
		{"account without scope", []string{"service-accounts", "create", "backend"}, "--scope"},
		{"key expiring in the past", []string{"keys", "create", "backend", "--expire-in=-1h"}, "--expire-in must be positive"},
		{"revoking a secret instead of a name", []string{"keys", "revoke", "oriel_sk_abc"}, "not its secret"},
		{"exchange without JWT", []string{"token", "exchange", "acme"}, "--jwt-file"},
		{"keygen with HS256", []string{"jwt", "keygen", "--alg", "HS256", "--private-key", "a", "--public-key", "b"}, "--alg must be one of"},
		{"users without a command", []string{"users"}, "users disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args[0] != "jwt" { // jwt commands take no connection flags
				args = append(slices.Clone(args), conn...)
			}
			r := run(args...)
			if r.code != 2 || !strings.Contains(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want 2 and an error mentioning %q", r.code, r.stderr, tc.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestIdentityCommandsRefuseMalformedNames(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a refused name must fail before any request.
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, args := range [][]string{
		{"idps", "get", "main"},
		{"users", "get", "tenants/acme/users/../groups/x"},
		{"groups", "delete", "tenants/acme/groups"},
		{"role-bindings", "get", "tenants/acme/roleBindings/b:delete"},
		{"keys", "revoke", "serviceAccounts/backend"},
		{"token", "sessions", "alice"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(append(args, conn...)...)
			if r.code != 1 || !strings.Contains(r.stderr, "name") || strings.Contains(r.stderr, "connection refused") {
				t.Errorf("exit %d, stderr %q; want 1 and a name error before any request", r.code, r.stderr)
			}
		})
	}
}
