package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// Defaults and bounds of a JwtProvider; the proto validates stored values, and compile
// clamps again so that a config that slipped past validation cannot weaken a check.
const (
	defaultAudience        = "oriel"
	defaultLeeway          = 30 * time.Second
	maxLeeway              = 60 * time.Second
	defaultMaxLifetime     = 10 * time.Minute
	maxMaxLifetime         = time.Hour
	defaultRefreshInterval = 5 * time.Minute
	minRefreshInterval     = 10 * time.Second
	maxRefreshInterval     = 24 * time.Hour
	minRSABits             = 2048
	maxKidBytes            = 256
)

// keyFamily is the kind of public key an algorithm verifies with.
type keyFamily int

const (
	familyRSA keyFamily = iota
	familyP256
	familyP384
	familyEd25519
)

// algorithm is one Algorithm of the proto with the library method that verifies it. There
// is no HMAC and no none entry: a token naming them fails the alg check, and no code path
// can ever treat a public key as an HMAC secret.
type algorithm struct {
	enum   identityv1.Algorithm
	name   string
	method jwt.SigningMethod
	family keyFamily
}

var algorithms = [...]algorithm{
	{identityv1.Algorithm_ALGORITHM_RS256, "RS256", jwt.SigningMethodRS256, familyRSA},
	{identityv1.Algorithm_ALGORITHM_RS384, "RS384", jwt.SigningMethodRS384, familyRSA},
	{identityv1.Algorithm_ALGORITHM_RS512, "RS512", jwt.SigningMethodRS512, familyRSA},
	{identityv1.Algorithm_ALGORITHM_PS256, "PS256", jwt.SigningMethodPS256, familyRSA},
	{identityv1.Algorithm_ALGORITHM_PS384, "PS384", jwt.SigningMethodPS384, familyRSA},
	{identityv1.Algorithm_ALGORITHM_PS512, "PS512", jwt.SigningMethodPS512, familyRSA},
	{identityv1.Algorithm_ALGORITHM_ES256, "ES256", jwt.SigningMethodES256, familyP256},
	{identityv1.Algorithm_ALGORITHM_ES384, "ES384", jwt.SigningMethodES384, familyP384},
	{identityv1.Algorithm_ALGORITHM_EDDSA, "EdDSA", jwt.SigningMethodEdDSA, familyEd25519},
}

func algorithmByEnum(a identityv1.Algorithm) *algorithm {
	for i := range algorithms {
		if algorithms[i].enum == a {
			return &algorithms[i]
		}
	}
	return nil
}

// algorithmByName matches a JOSE alg name exactly (RFC 7515 names are case-sensitive).
func algorithmByName(name string) *algorithm {
	for i := range algorithms {
		if algorithms[i].name == name {
			return &algorithms[i]
		}
	}
	return nil
}

// fits says why pub cannot verify a, or "" when it can.
func (a *algorithm) fits(pub crypto.PublicKey) string {
	switch a.family {
	case familyRSA:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return "is not an RSA key, which " + a.name + " needs"
		}
		if n := k.N.BitLen(); n < minRSABits {
			return fmt.Sprintf("is an RSA key of %d bits; %s needs at least %d", n, a.name, minRSABits)
		}
	case familyP256, familyP384:
		want, curve := elliptic.P256(), "P-256"
		if a.family == familyP384 {
			want, curve = elliptic.P384(), "P-384"
		}
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return "is not an EC key, which " + a.name + " needs"
		}
		if k.Curve != want {
			return "is an EC key on " + k.Curve.Params().Name + "; " + a.name + " needs " + curve
		}
	case familyEd25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok || len(k) != ed25519.PublicKeySize {
			return "is not an Ed25519 key, which EdDSA needs"
		}
	}
	return ""
}

// staticKey is a SigningKey of the config, parsed.
type staticKey struct {
	kid       string
	alg       *algorithm // nil when the config's alg is not one we know
	pub       crypto.PublicKey
	broken    bool // the config has a violation for this key; it verifies nothing
	notBefore time.Time
	notAfter  time.Time
}

// validAt reports whether the key may be used at now; the bounds are the ISV's own, so
// no clock tolerance applies.
func (k *staticKey) validAt(now time.Time) bool {
	return (k.notBefore.IsZero() || !now.Before(k.notBefore)) &&
		(k.notAfter.IsZero() || !now.After(k.notAfter))
}

// usable reports whether the key can verify anything at now.
func (k *staticKey) usable(now time.Time) bool { return !k.broken && k.validAt(now) }

// revision identifies one version of a stored provider: the store changes update_time
// and etag with every update.
type revision struct {
	seconds int64
	nanos   int32
	etag    string
}

// compiledProvider is a provider config with its keys parsed and defaults applied, built
// once per revision so that Verify parses nothing of the config.
type compiledProvider struct {
	rev             revision
	name            string
	issuer          string
	audience        string
	allowed         [len(algorithms) + 1]bool // by Algorithm enum value
	allowedNames    []string
	leeway          time.Duration
	maxLifetime     time.Duration
	refreshInterval time.Duration
	static          []staticKey
	jwksURI         string

	subjectClaim, nameClaim, emailClaim, groupsClaim string
	attributes                                       []attributeMapping // sorted by name
	required                                         []string

	// parser verifies signatures; claims are checked by this package, so the parser's own
	// claim validation is off (WithoutClaimsValidation) and the validator below re-checks
	// the registered claims the library's way.
	parser    *jwt.Parser
	validator *jwt.Validator
}

type attributeMapping struct{ name, claim string }

// compile returns the compiled form of p, from the cache when this revision was seen.
func (v *Verifier) compile(p *identityv1.IdentityProvider) *compiledProvider {
	key, rev := cacheKey(p)
	if cp, ok := v.compiled.Get(key); ok && cp.rev == rev {
		return cp
	}
	cp := compileProvider(p, v.now)
	cp.rev = rev
	v.compiled.Add(key, cp)
	return cp
}

// cacheKey keys a provider by name when it carries a revision (as every stored provider
// does), and otherwise by a hash of its content, so that an unversioned config can never
// be served from another's entry.
func cacheKey(p *identityv1.IdentityProvider) (string, revision) {
	if p.GetName() != "" && (p.GetUpdateTime() != nil || p.GetEtag() != "") {
		ut := p.GetUpdateTime()
		return p.GetName(), revision{ut.GetSeconds(), ut.GetNanos(), p.GetEtag()}
	}
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	sum := sha256.Sum256(b)
	return "#" + string(sum[:]), revision{}
}

func compileProvider(p *identityv1.IdentityProvider, now func() time.Time) *compiledProvider {
	cfg := p.GetJwt()
	cp := &compiledProvider{
		name:            p.GetName(),
		issuer:          cfg.GetIssuer(),
		audience:        cfg.GetAudience(),
		leeway:          clampDuration(cfg.GetClockTolerance().AsDuration(), cfg.GetClockTolerance() != nil, defaultLeeway, 0, maxLeeway),
		maxLifetime:     clampDuration(cfg.GetMaxTokenLifetime().AsDuration(), cfg.GetMaxTokenLifetime() != nil, defaultMaxLifetime, time.Second, maxMaxLifetime),
		refreshInterval: clampDuration(cfg.GetJwksRefreshInterval().AsDuration(), cfg.GetJwksRefreshInterval() != nil, defaultRefreshInterval, minRefreshInterval, maxRefreshInterval),
		jwksURI:         cfg.GetJwksUri(),
	}
	if cp.audience == "" {
		cp.audience = defaultAudience
	}
	for _, a := range effectiveAllowed(cfg) {
		if alg := algorithmByEnum(a); alg != nil && !cp.allowed[a] {
			cp.allowed[a] = true
			cp.allowedNames = append(cp.allowedNames, alg.name)
		}
	}
	for i, k := range cfg.GetKeys() {
		sk := staticKey{kid: k.GetKid(), alg: algorithmByEnum(k.GetAlg())}
		if k.GetNotBefore() != nil {
			sk.notBefore = k.GetNotBefore().AsTime()
		}
		if k.GetNotAfter() != nil {
			sk.notAfter = k.GetNotAfter().AsTime()
		}
		pub, violations := checkKey(i, k)
		sk.pub = pub
		sk.broken = len(violations) > 0 || pub == nil || sk.alg == nil
		cp.static = append(cp.static, sk)
	}
	m := cfg.GetClaims()
	cp.subjectClaim = orDefault(m.GetSubject(), "sub")
	cp.nameClaim = orDefault(m.GetName(), "name")
	cp.emailClaim = orDefault(m.GetEmail(), "email")
	cp.groupsClaim = orDefault(m.GetGroups(), "groups")
	for name, claim := range m.GetAttributes() {
		cp.attributes = append(cp.attributes, attributeMapping{name, claim})
	}
	slices.SortFunc(cp.attributes, func(a, b attributeMapping) int { return strings.Compare(a.name, b.name) })
	cp.required = slices.Clone(m.GetRequiredClaims())

	cp.parser = jwt.NewParser(
		jwt.WithValidMethods(cp.allowedNames),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	)
	cp.validator = jwt.NewValidator(
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(cp.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithAudience(cp.audience),
		jwt.WithIssuer(cp.issuer),
	)
	return cp
}

func effectiveAllowed(cfg *identityv1.JwtProvider) []identityv1.Algorithm {
	if a := cfg.GetAllowedAlgorithms(); len(a) > 0 {
		return a
	}
	return []identityv1.Algorithm{identityv1.Algorithm_ALGORITHM_RS256, identityv1.Algorithm_ALGORITHM_ES256}
}

func clampDuration(d time.Duration, set bool, def, lo, hi time.Duration) time.Duration {
	if !set {
		return def
	}
	return min(max(d, lo), hi)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// CheckConfig validates a provider config beyond the proto's own rules: every static key
// parses (PEM SubjectPublicKeyInfo or a single public JWK; private keys refused), fits
// its alg (RSA ≥ 2048 bits for RS*/PS*, P-256 for ES256, P-384 for ES384, Ed25519 for
// EdDSA), agrees with its JWK's own alg and kid, has not_before < not_after and a unique
// kid; allowed_algorithms cover every key's alg; jwks_uri is https (http only for
// localhost, 127.0.0.1 or ::1 in dev mode) without userinfo or fragment. Fields are
// named relative to the JwtProvider, e.g. "keys[1].pem" or "jwks_uri".
func CheckConfig(cfg *identityv1.JwtProvider, devMode bool) []FieldViolation {
	var out []FieldViolation
	allowed := effectiveAllowed(cfg)
	firstKid := map[string]int{}
	for i, k := range cfg.GetKeys() {
		prefix := fmt.Sprintf("keys[%d]", i)
		if j, dup := firstKid[k.GetKid()]; dup {
			out = append(out, FieldViolation{Field: prefix + ".kid", Description: fmt.Sprintf("kid %s is also the kid of keys[%d]; kids must be unique", quoteShort(k.GetKid()), j)})
		} else {
			firstKid[k.GetKid()] = i
		}
		_, violations := checkKey(i, k)
		out = append(out, violations...)
		if alg := algorithmByEnum(k.GetAlg()); alg == nil {
			out = append(out, FieldViolation{Field: prefix + ".alg", Description: "must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"})
		} else if !slices.Contains(allowed, k.GetAlg()) {
			out = append(out, FieldViolation{Field: prefix + ".alg", Description: alg.name + " is not among allowed_algorithms (RS256 and ES256 when allowed_algorithms is empty); add it or change the key"})
		}
		if nb, na := k.GetNotBefore(), k.GetNotAfter(); nb != nil && na != nil && !nb.AsTime().Before(na.AsTime()) {
			out = append(out, FieldViolation{Field: prefix + ".not_after", Description: "must be after not_before"})
		}
	}
	if uri := cfg.GetJwksUri(); uri != "" {
		if why := checkJWKSURI(uri, devMode); why != "" {
			out = append(out, FieldViolation{Field: "jwks_uri", Description: why})
		}
	}
	return out
}

// checkKey parses the key material of keys[i] and checks it against its alg and, for a
// JWK, against the JWK's own alg and kid.
func checkKey(i int, k *identityv1.SigningKey) (crypto.PublicKey, []FieldViolation) {
	prefix := fmt.Sprintf("keys[%d]", i)
	var (
		pub            crypto.PublicKey
		jwkAlg, jwkKid string
		why, field     string
	)
	switch {
	case k.GetPem() != "" && k.GetJwk() != "":
		return nil, []FieldViolation{{Field: prefix + ".jwk", Description: "set exactly one of pem and jwk"}}
	case k.GetPem() != "":
		field = prefix + ".pem"
		pub, why = parsePEMPublicKey(k.GetPem())
	case k.GetJwk() != "":
		field = prefix + ".jwk"
		var jk *jose.JSONWebKey
		jk, why = parsePublicJWK([]byte(k.GetJwk()))
		if jk != nil {
			pub, jwkAlg, jwkKid = jk.Key, jk.Algorithm, jk.KeyID
		}
	default:
		return nil, []FieldViolation{{Field: prefix + ".pem", Description: "set exactly one of pem and jwk"}}
	}
	if why != "" {
		return nil, []FieldViolation{{Field: field, Description: why}}
	}
	var out []FieldViolation
	if alg := algorithmByEnum(k.GetAlg()); alg != nil {
		if why := alg.fits(pub); why != "" {
			out = append(out, FieldViolation{Field: field, Description: "the key " + why})
		}
		if jwkAlg != "" && jwkAlg != alg.name {
			out = append(out, FieldViolation{Field: field, Description: "the JWK says alg " + quoteShort(jwkAlg) + " but the key is configured with " + alg.name})
		}
	}
	if jwkKid != "" && jwkKid != k.GetKid() {
		out = append(out, FieldViolation{Field: field, Description: "the JWK says kid " + quoteShort(jwkKid) + " but the key is configured with kid " + quoteShort(k.GetKid())})
	}
	return pub, out
}

// parsePEMPublicKey accepts exactly one PEM block holding a SubjectPublicKeyInfo.
func parsePEMPublicKey(s string) (crypto.PublicKey, string) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, "is not PEM (expected -----BEGIN PUBLIC KEY-----)"
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, "has more than one PEM block; give exactly one public key"
	}
	switch {
	case block.Type == "PUBLIC KEY":
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, "is a private key; give only the public key, and keep the private key secret"
	case block.Type == "RSA PUBLIC KEY":
		return nil, "is a PKCS #1 RSA key; give it as a SubjectPublicKeyInfo (-----BEGIN PUBLIC KEY-----)"
	case block.Type == "CERTIFICATE":
		return nil, "is a certificate; give its public key (-----BEGIN PUBLIC KEY-----)"
	default:
		return nil, "is a PEM block of type " + quoteShort(block.Type) + "; expected PUBLIC KEY"
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, "is not a valid SubjectPublicKeyInfo public key"
	}
	return pub, ""
}

// privateJWKMembers are the JWK members that carry secrets (RFC 7518 §6.2.2, §6.3.2, §6.4;
// RFC 8037 for "priv"-style variants go-jose knows).
var privateJWKMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// parsePublicJWK accepts a single JWK holding an RSA, EC or Ed25519 public key. Private
// and symmetric keys are refused before go-jose sees them, so they are never parsed.
func parsePublicJWK(b []byte) (*jose.JSONWebKey, string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, "is not a JSON object"
	}
	if _, ok := members["keys"]; ok {
		return nil, "is a JWK Set; give a single JWK, or serve the set at jwks_uri"
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			if m == "k" {
				return nil, "is a symmetric key; only RSA, EC and Ed25519 public keys are accepted"
			}
			return nil, "is a private key; give only the public key, and keep the private key secret"
		}
	}
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(b); err != nil {
		return nil, "is not a valid public JWK"
	}
	if !jk.IsPublic() {
		return nil, "is a private key; give only the public key, and keep the private key secret"
	}
	switch jk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "is not an RSA, EC or Ed25519 public key"
	}
	if jk.Use != "" && jk.Use != "sig" {
		return nil, "has use " + quoteShort(jk.Use) + "; a signing key has use \"sig\" or none"
	}
	return &jk, ""
}
