package commands

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// IdpsCmd is `oriel idps`.
type IdpsCmd struct {
	ClientFlags `embed:""`

	Create    IdpsCreateCmd    `cmd:"" help:"Register an identity provider: the issuer and public keys of the JWTs a tenant trusts."`
	Get       IdpsGetCmd       `cmd:"" help:"Show an identity provider."`
	List      IdpsListCmd      `cmd:"" help:"List a tenant's identity providers."`
	Update    IdpsUpdateCmd    `cmd:"" help:"Change the fields named by the flags given, and only those."`
	Delete    IdpsDeleteCmd    `cmd:"" help:"Delete an identity provider (embed tokens already issued stay valid until they expire)."`
	TestToken IdpsTestTokenCmd `cmd:"" name:"test-token" help:"Check a sample JWT against a provider and show every check (exits 1 when it would be rejected)."`
}

// providerFlags are the provider fields create and update share.
type providerFlags struct {
	DisplayName         string        `name:"display-name" placeholder:"NAME" env:"-" help:"Human-readable name, at most 200 characters."`
	Issuer              string        `name:"issuer" placeholder:"ISS" env:"-" help:"The iss tokens must carry, exactly, e.g. https://isv.example.com."`
	Audience            string        `name:"audience" placeholder:"AUD" env:"-" help:"The aud tokens must carry (oriel when empty)."`
	Key                 []string      `name:"key" sep:"none" placeholder:"kid=ID,alg=ALG,file=PATH" env:"-" help:"A public key: the kid of the tokens it signs, its algorithm (read from a PEM key when left out) and its file (PEM or JWK); optionally not-before=TIME and not-after=TIME (RFC 3339). Repeatable: several keys may be valid at once, to rotate with overlap. On update, replaces every key (--key \"\" removes them all, e.g. for --jwks-uri alone)."`
	JWKSURI             string        `name:"jwks-uri" placeholder:"URL" env:"-" help:"An https URL serving the ISV's JWK Set, fetched and cached (instead of or beside --key)."`
	AllowedAlg          []string      `name:"allowed-alg" placeholder:"ALG" env:"-" help:"An algorithm tokens may be signed with: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA (repeatable; RS256 and ES256 when none). The algorithm of each --key must be among them."`
	SubjectClaim        string        `name:"subject-claim" placeholder:"CLAIM" env:"-" help:"The claim holding the user's stable id (sub when empty)."`
	NameClaim           string        `name:"name-claim" placeholder:"CLAIM" env:"-" help:"The claim holding the user's display name (name when empty)."`
	EmailClaim          string        `name:"email-claim" placeholder:"CLAIM" env:"-" help:"The claim holding the user's email (email when empty)."`
	GroupsClaim         string        `name:"groups-claim" placeholder:"CLAIM" env:"-" help:"The claim holding the user's groups, a list of strings (groups when empty)."`
	Attribute           []string      `name:"attribute" sep:"none" placeholder:"NAME=CLAIM" env:"-" help:"A session attribute for row-level security and the claim it is read from, e.g. region=region (repeatable; on update, replaces every attribute)."`
	RequiredClaim       []string      `name:"required-claim" placeholder:"CLAIM" env:"-" help:"A claim tokens must carry (repeatable; on update, replaces the list)."`
	MaxTokenLifetime    time.Duration `name:"max-token-lifetime" placeholder:"DURATION" env:"-" help:"The longest a token may live (exp − iat), at most 1h; 10m when 0."`
	ClockTolerance      time.Duration `name:"clock-tolerance" placeholder:"DURATION" env:"-" help:"How far clocks may disagree when checking exp, nbf and iat, at most 60s; 30s when 0."`
	JWKSRefreshInterval time.Duration `name:"jwks-refresh-interval" placeholder:"DURATION" env:"-" help:"The shortest time between two fetches of --jwks-uri for an unknown kid, 10s to 24h; 5m when 0."`
}

// validate checks the syntax of every flag, so that a typo is a usage error.
func (f *providerFlags) validate() error {
	for _, k := range nonEmpty(f.Key) {
		if _, err := parseKeySpec(k); err != nil {
			return err
		}
	}
	for _, a := range nonEmpty(f.AllowedAlg) {
		if _, err := parseAlg(a); err != nil {
			return fmt.Errorf("--allowed-alg: %w", err)
		}
	}
	_, err := parsePairs("--attribute", f.Attribute, "region=region")
	return err
}

// jwt builds the provider's JWT configuration, reading the key files.
func (f *providerFlags) jwt() (*identityv1.JwtProvider, error) {
	j := &identityv1.JwtProvider{
		Issuer:              f.Issuer,
		Audience:            f.Audience,
		JwksUri:             f.JWKSURI,
		ClockTolerance:      optionalDuration(f.ClockTolerance),
		MaxTokenLifetime:    optionalDuration(f.MaxTokenLifetime),
		JwksRefreshInterval: optionalDuration(f.JWKSRefreshInterval),
		Claims: &identityv1.ClaimMapping{
			Subject: f.SubjectClaim, Name: f.NameClaim, Email: f.EmailClaim, Groups: f.GroupsClaim,
			RequiredClaims: nonEmpty(f.RequiredClaim),
		},
	}
	for _, a := range nonEmpty(f.AllowedAlg) {
		alg, err := parseAlg(a)
		if err != nil {
			return nil, err
		}
		j.AllowedAlgorithms = append(j.AllowedAlgorithms, alg)
	}
	attrs, err := parsePairs("--attribute", nonEmpty(f.Attribute), "region=region")
	if err != nil {
		return nil, err
	}
	j.Claims.Attributes = attrs
	for _, spec := range nonEmpty(f.Key) {
		k, err := parseKeySpec(spec)
		if err != nil {
			return nil, err
		}
		key, err := k.load()
		if err != nil {
			return nil, err
		}
		j.Keys = append(j.Keys, key)
	}
	return j, nil
}

func optionalDuration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// keySpec is one --key: kid=…,alg=…,file=…[,not-before=…][,not-after=…].
type keySpec struct {
	kid, alg, file      string
	notBefore, notAfter *timestamppb.Timestamp
}

// keySpecFields are the fields of a --key. A comma starts a new field only before one of
// them, so that a file path may hold commas.
var keySpecFields = []string{"kid", "alg", "file", "not-before", "not-after"}

func parseKeySpec(spec string) (keySpec, error) {
	var k keySpec
	var fields []string
	for i, part := range strings.Split(spec, ",") {
		name, _, _ := strings.Cut(part, "=")
		if i > 0 && !slices.Contains(keySpecFields, name) {
			fields[len(fields)-1] += "," + part
			continue
		}
		fields = append(fields, part)
	}
	seen := map[string]bool{}
	for _, field := range fields {
		name, value, ok := strings.Cut(field, "=")
		switch {
		case !ok || !slices.Contains(keySpecFields, name):
			return k, fmt.Errorf("--key %q: %q is not a field; want kid=ID,alg=ALG,file=PATH (alg optional for a PEM key), optionally not-before=TIME,not-after=TIME", spec, field)
		case seen[name]:
			return k, fmt.Errorf("--key %q: %s is given twice", spec, name)
		case value == "":
			return k, fmt.Errorf("--key %q: %s is empty", spec, name)
		}
		seen[name] = true
		switch name {
		case "kid":
			k.kid = value
		case "alg":
			if _, err := parseAlg(value); err != nil {
				return k, fmt.Errorf("--key %q: %w", spec, err)
			}
			k.alg = value
		case "file":
			k.file = value
		case "not-before", "not-after":
			t, err := time.Parse(time.RFC3339, value)
			if err != nil {
				return k, fmt.Errorf("--key %q: %s: want an RFC 3339 time such as 2027-01-31T00:00:00Z", spec, name)
			}
			if name == "not-before" {
				k.notBefore = timestamppb.New(t)
			} else {
				k.notAfter = timestamppb.New(t)
			}
		}
	}
	if k.kid == "" || k.file == "" {
		return k, fmt.Errorf("--key %q: kid and file are required, e.g. kid=k1,alg=ES256,file=public.pem", spec)
	}
	return k, nil
}

// load reads the key's file into a SigningKey: a PEM public key, or a JWK. A private key
// is refused here, before it travels anywhere.
func (k keySpec) load() (*identityv1.SigningKey, error) {
	raw, err := os.ReadFile(k.file)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", k.kid, err)
	}
	key := &identityv1.SigningKey{Kid: k.kid, NotBefore: k.notBefore, NotAfter: k.notAfter}
	alg := k.alg
	text := strings.TrimSpace(string(raw))
	if strings.HasPrefix(text, "{") {
		var jwk struct {
			Alg string `json:"alg"`
			D   string `json:"d"`
		}
		if err := json.Unmarshal([]byte(text), &jwk); err != nil {
			return nil, fmt.Errorf("--key %s: %s is not a JWK: %w", k.kid, k.file, err)
		}
		if jwk.D != "" {
			return nil, fmt.Errorf("--key %s: %s is a private JWK; give the public key", k.kid, k.file)
		}
		if alg == "" {
			alg = jwk.Alg
		}
		if alg == "" {
			return nil, fmt.Errorf("--key %s: the JWK in %s names no alg; add alg=… to --key", k.kid, k.file)
		}
		key.Jwk = text
	} else {
		block, _ := pem.Decode(raw)
		switch {
		case block == nil:
			return nil, fmt.Errorf("--key %s: %s holds no PEM block; want a public key (-----BEGIN PUBLIC KEY-----) or a JWK", k.kid, k.file)
		case strings.Contains(block.Type, "PRIVATE"):
			return nil, fmt.Errorf("--key %s: %s is a private key; give the public key (oriel jwt keygen writes it to --public-key)", k.kid, k.file)
		}
		if alg == "" {
			if alg, err = algOfPublicKey(block); err != nil {
				return nil, fmt.Errorf("--key %s: %s: %w", k.kid, k.file, err)
			}
		}
		key.Pem = text + "\n"
	}
	a, err := parseAlg(alg)
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", k.kid, err)
	}
	key.Alg = a
	return key, nil
}

// algOfPublicKey is the usual algorithm of a PEM public key, for a --key without alg.
func algOfPublicKey(block *pem.Block) (string, error) {
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("cannot read the public key (%v); add alg=… to --key", err)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case ed25519.PublicKey:
		return "EdDSA", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		}
	}
	return "", errors.New("no algorithm of Oriel fits this key; add alg=… to --key")
}

// IdpsCreateCmd is `oriel idps create`.
type IdpsCreateCmd struct {
	Tenant   string        `arg:"" help:"The tenant: acme or tenants/acme."`
	ID       string        `arg:"" help:"The provider's id, e.g. main: 3 to 63 lowercase letters, digits and hyphens."`
	Disabled bool          `name:"disabled" env:"-" help:"Register it disabled: it accepts no token until enabled."`
	Fields   providerFlags `embed:""`
}

// Validate checks the flags' syntax before anything is read or sent.
func (c *IdpsCreateCmd) Validate() error {
	if c.Fields.Issuer == "" {
		return errors.New("missing flags: --issuer=ISS")
	}
	if len(c.Fields.Key) == 0 && c.Fields.JWKSURI == "" {
		return errors.New("give at least one --key or a --jwks-uri: the provider needs to know the keys tokens are signed with")
	}
	return c.Fields.validate()
}

// Run registers the provider.
func (c *IdpsCreateCmd) Run(s *Session) error {
	j, err := c.Fields.jwt()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateIdentityProvider(ctx, &identityv1.CreateIdentityProviderRequest{
		Parent: tenantName(c.Tenant), IdentityProviderId: c.ID,
		IdentityProvider: &identityv1.IdentityProvider{DisplayName: c.Fields.DisplayName, Jwt: j, Disabled: c.Disabled},
	})
	if err != nil {
		return err
	}
	return s.printProvider(resp.GetIdentityProvider())
}

// IdpsGetCmd is `oriel idps get`.
type IdpsGetCmd struct {
	Name string `arg:"" help:"The provider, e.g. tenants/acme/identityProviders/main."`
}

// Run shows the provider.
func (c *IdpsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetIdentityProvider(ctx, &identityv1.GetIdentityProviderRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printProvider(resp.GetIdentityProvider())
}

// IdpsListCmd is `oriel idps list`.
type IdpsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's providers.
func (c *IdpsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "identityProviders",
		func(ctx context.Context, size int32, token string) ([]*identityv1.IdentityProvider, string, error) {
			resp, err := s.Client.ListIdentityProviders(ctx, &identityv1.ListIdentityProvidersRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetIdentityProviders(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.IdentityProvider, next string) proto.Message {
			return &identityv1.ListIdentityProvidersResponse{IdentityProviders: items, NextPageToken: next}
		},
		printProviderTable)
}

// IdpsUpdateCmd is `oriel idps update`.
type IdpsUpdateCmd struct {
	Name    string        `arg:"" help:"The provider, e.g. tenants/acme/identityProviders/main."`
	Disable bool          `name:"disable" xor:"state" env:"-" help:"Stop accepting tokens from this provider."`
	Enable  bool          `name:"enable" xor:"state" env:"-" help:"Accept tokens from this provider again."`
	Fields  providerFlags `embed:""`
	Etag    string        `name:"etag" placeholder:"ETAG" env:"-" help:"Update only if the provider still has this etag (from get)."`
}

// providerUpdatePaths maps each field flag to the update_mask path it changes.
var providerUpdatePaths = []struct{ flag, path string }{
	{"display-name", "display_name"},
	{"disable", "disabled"},
	{"enable", "disabled"},
	{"issuer", "jwt.issuer"},
	{"audience", "jwt.audience"},
	{"key", "jwt.keys"},
	{"jwks-uri", "jwt.jwks_uri"},
	{"allowed-alg", "jwt.allowed_algorithms"},
	{"clock-tolerance", "jwt.clock_tolerance"},
	{"max-token-lifetime", "jwt.max_token_lifetime"},
	{"jwks-refresh-interval", "jwt.jwks_refresh_interval"},
	{"subject-claim", "jwt.claims.subject"},
	{"name-claim", "jwt.claims.name"},
	{"email-claim", "jwt.claims.email"},
	{"groups-claim", "jwt.claims.groups"},
	{"attribute", "jwt.claims.attributes"},
	{"required-claim", "jwt.claims.required_claims"},
}

func (c *IdpsUpdateCmd) mask(given map[string]bool) []string {
	var paths []string
	for _, u := range providerUpdatePaths {
		if given[u.flag] && !slices.Contains(paths, u.path) {
			paths = append(paths, u.path)
		}
	}
	return paths
}

// Validate refuses an update that would change nothing.
func (c *IdpsUpdateCmd) Validate(kctx *kong.Context) error {
	if len(c.mask(flagsGiven(kctx))) == 0 {
		return errors.New("nothing to update: give at least one field flag, e.g. --key, --issuer, --attribute or --disable (see --help)")
	}
	return c.Fields.validate()
}

// Run sends the fields of the flags given, with an update_mask naming exactly those.
func (c *IdpsUpdateCmd) Run(kctx *kong.Context, s *Session) error {
	j, err := c.Fields.jwt()
	if err != nil {
		return err
	}
	paths := c.mask(flagsGiven(kctx))
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.UpdateIdentityProvider(ctx, &identityv1.UpdateIdentityProviderRequest{
		IdentityProvider: &identityv1.IdentityProvider{
			Name: c.Name, DisplayName: c.Fields.DisplayName, Jwt: j, Disabled: c.Disable, Etag: c.Etag,
		},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return err
	}
	return s.printProvider(resp.GetIdentityProvider())
}

// IdpsDeleteCmd is `oriel idps delete`.
type IdpsDeleteCmd struct {
	Name string `arg:"" help:"The provider, e.g. tenants/acme/identityProviders/main."`
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Delete only if the provider still has this etag."`
}

// Run deletes the provider.
func (c *IdpsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteIdentityProvider(ctx, &identityv1.DeleteIdentityProviderRequest{Name: c.Name, Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}

// IdpsTestTokenCmd is `oriel idps test-token`.
type IdpsTestTokenCmd struct {
	Name      string `arg:"" help:"The provider, e.g. tenants/acme/identityProviders/main."`
	TokenFile string `name:"token-file" required:"" placeholder:"FILE" env:"-" help:"A file holding the JWT to test (oriel jwt sign writes one)."`
}

// Run tests the token, prints every check, and fails when the token would be rejected.
func (c *IdpsTestTokenCmd) Run(s *Session) error {
	token, err := readTokenFile("--token-file", c.TokenFile)
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.TestToken(ctx, &identityv1.TestTokenRequest{Name: c.Name, Token: token})
	if err != nil {
		return err
	}
	if err := s.printTestToken(resp); err != nil {
		return err
	}
	if !resp.GetValid() {
		for _, ch := range resp.GetChecks() {
			if ch.GetOutcome() == identityv1.TokenCheck_OUTCOME_FAILED {
				return fmt.Errorf("the token would be rejected: %s: %s", ch.GetCheck(), ch.GetDetail())
			}
		}
		return errors.New("the token would be rejected")
	}
	return nil
}

// maxTokenFile bounds what a token file may make us read: a JWT over 8 KB is refused by
// the server anyway.
const maxTokenFile = 64 << 10

// readTokenFile reads a JWT from a file, without the newline it usually ends with.
func readTokenFile(flag, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s %s: larger than %d bytes; is it a JWT?", flag, path, maxTokenFile)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("%s %s: the file is empty", flag, path)
	}
	return token, nil
}
