package commands

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTCmd is `oriel jwt`: what an ISV's backend does with its signing key, so that Oriel's
// single sign-on can be tried without writing that backend first. Nothing here talks to
// the edge.
type JWTCmd struct {
	Keygen JWTKeygenCmd `cmd:"" help:"Make a signing key pair: a private key to sign JWTs with, and the public key to register with oriel idps create."`
	Sign   JWTSignCmd   `cmd:"" help:"Sign a JWT for a user, as the ISV's backend does at each sign-in, and print it."`
}

// rsaKeyBits is the size of the RSA keys keygen makes: more than the 2048 bits Oriel
// requires, as key sizes are chosen for the years a key stays in use.
const rsaKeyBits = 3072

// JWTKeygenCmd is `oriel jwt keygen`.
type JWTKeygenCmd struct {
	Alg        string `name:"alg" default:"ES256" enum:"ES256,RS256,EdDSA" env:"-" help:"The algorithm the key signs with: ES256 (P-256), RS256 (RSA 3072) or EdDSA (Ed25519)."`
	PrivateKey string `name:"private-key" required:"" type:"path" placeholder:"FILE" env:"-" help:"Where to write the private key (PKCS #8 PEM, mode 0600). Keep it secret: it stays with your backend."`
	PublicKey  string `name:"public-key" required:"" type:"path" placeholder:"FILE" env:"-" help:"Where to write the public key (SPKI PEM), for oriel idps create --key."`
}

// Run makes the key pair and writes both files, refusing to replace either.
func (c *JWTKeygenCmd) Run(out io.Writer) error {
	if c.PrivateKey == c.PublicKey {
		return errors.New("--private-key and --public-key must be different files")
	}
	var (
		priv crypto.Signer
		err  error
	)
	switch c.Alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return err
	}
	// Both files are created before either is written, so that a refusal leaves nothing
	// half done behind.
	privFile, err := createNew(c.PrivateKey, 0o600)
	if err != nil {
		return fmt.Errorf("--private-key: %w", err)
	}
	pubFile, err := createNew(c.PublicKey, 0o644)
	if err != nil {
		privFile.Close()
		os.Remove(c.PrivateKey)
		return fmt.Errorf("--public-key: %w", err)
	}
	werr := errors.Join(
		writePEM(privFile, "PRIVATE KEY", privDER),
		writePEM(pubFile, "PUBLIC KEY", pubDER),
	)
	if werr != nil {
		os.Remove(c.PrivateKey)
		os.Remove(c.PublicKey)
		return werr
	}
	_, err = fmt.Fprintf(out, "%s key pair written:\n  private key  %s (mode 0600: keep it secret)\n  public key   %s (register it: oriel idps create … --key kid=<kid>,alg=%s,file=%s)\n",
		c.Alg, c.PrivateKey, c.PublicKey, c.Alg, c.PublicKey)
	return err
}

// createNew creates a file that must not exist yet, with mode perm.
func createNew(path string, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s already exists; not replacing it (remove it first, or choose another file)", path)
	}
	return f, err
}

// writePEM writes one PEM block, syncs and closes f.
func writePEM(f *os.File, blockType string, der []byte) error {
	err := pem.Encode(f, &pem.Block{Type: blockType, Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// JWTSignCmd is `oriel jwt sign`.
type JWTSignCmd struct {
	PrivateKey string        `name:"private-key" required:"" type:"path" placeholder:"FILE" env:"-" help:"The private key (PEM: PKCS #8, or SEC 1 / PKCS #1 as openssl writes them)."`
	Kid        string        `name:"kid" placeholder:"KID" env:"-" help:"The key id to put in the header: the kid the key is registered under."`
	Alg        string        `name:"alg" placeholder:"ALG" env:"-" help:"RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA; from the key when empty (RS256 for RSA)."`
	Issuer     string        `name:"issuer" required:"" placeholder:"ISS" env:"-" help:"The iss claim: the provider's issuer."`
	Audience   string        `name:"audience" default:"oriel" placeholder:"AUD" env:"-" help:"The aud claim."`
	Subject    string        `name:"subject" required:"" placeholder:"SUB" env:"-" help:"The sub claim: the user's stable id in your product."`
	Name       string        `name:"name" placeholder:"NAME" env:"-" help:"The name claim: the user's display name."`
	Email      string        `name:"email" placeholder:"EMAIL" env:"-" help:"The email claim."`
	Group      []string      `name:"group" sep:"none" placeholder:"GROUP" env:"-" help:"A value of the groups claim (repeatable)."`
	Claim      []string      `name:"claim" sep:"none" placeholder:"KEY=VALUE" env:"-" help:"Another claim (repeatable): KEY=VALUE for a string, KEY:=JSON for any JSON value, e.g. 'regions:=[\"emea\",\"apac\"]'. It may replace a standard claim, e.g. to try a token Oriel must reject."`
	TTL        time.Duration `name:"ttl" default:"5m" placeholder:"DURATION" env:"-" help:"How long the token is valid (exp − iat); providers accept at most their max token lifetime (10m by default)."`
}

// parseClaims reads the --claim flags.
func (c *JWTSignCmd) parseClaims() (map[string]any, error) {
	out := map[string]any{}
	for _, kv := range c.Claim {
		i := strings.Index(kv, "=")
		if i <= 0 {
			return nil, fmt.Errorf("--claim %q: want KEY=VALUE or KEY:=JSON, e.g. region=emea", kv)
		}
		key, value := kv[:i], kv[i+1:]
		var v any = value
		if strings.HasSuffix(key, ":") {
			key = strings.TrimSuffix(key, ":")
			if err := json.Unmarshal([]byte(value), &v); err != nil {
				return nil, fmt.Errorf("--claim %q: the value after := is not JSON: %w", kv, err)
			}
		}
		if key == "" {
			return nil, fmt.Errorf("--claim %q: the claim has no name", kv)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("--claim %q: %s is given twice", kv, key)
		}
		out[key] = v
	}
	return out, nil
}

// Validate checks the flags before the key is read.
func (c *JWTSignCmd) Validate() error {
	if c.TTL <= 0 {
		return fmt.Errorf("--ttl must be positive, got %s", c.TTL)
	}
	if c.Alg != "" {
		if _, err := signingMethod(c.Alg); err != nil {
			return err
		}
	}
	_, err := c.parseClaims()
	return err
}

// Run signs the JWT and prints it alone on a line, so that $(oriel jwt sign …) or a
// redirection captures exactly it.
func (c *JWTSignCmd) Run(out io.Writer) error {
	key, err := readPrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("--private-key: %w", err)
	}
	alg := c.Alg
	if alg == "" {
		alg = defaultAlg(key)
	}
	method, err := signingMethod(alg)
	if err != nil {
		return err
	}
	if why := keyFits(method, key); why != "" {
		return fmt.Errorf("--private-key %s %s", c.PrivateKey, why)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": c.Issuer, "aud": c.Audience, "sub": c.Subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(c.TTL).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
	}
	if c.Name != "" {
		claims["name"] = c.Name
	}
	if c.Email != "" {
		claims["email"] = c.Email
	}
	if len(c.Group) > 0 {
		claims["groups"] = c.Group
	}
	extra, err := c.parseClaims()
	if err != nil {
		return err
	}
	for k, v := range extra {
		claims[k] = v
	}
	token := jwt.NewWithClaims(method, claims)
	if c.Kid != "" {
		token.Header["kid"] = c.Kid
	}
	signed, err := token.SignedString(key)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	_, err = fmt.Fprintln(out, signed)
	return err
}

// signingMethods are the algorithms Oriel's providers accept; never HMAC or none.
var signingMethods = []jwt.SigningMethod{
	jwt.SigningMethodRS256, jwt.SigningMethodRS384, jwt.SigningMethodRS512,
	jwt.SigningMethodPS256, jwt.SigningMethodPS384, jwt.SigningMethodPS512,
	jwt.SigningMethodES256, jwt.SigningMethodES384, jwt.SigningMethodEdDSA,
}

func signingMethod(alg string) (jwt.SigningMethod, error) {
	for _, m := range signingMethods {
		if strings.EqualFold(m.Alg(), alg) {
			return m, nil
		}
	}
	return nil, fmt.Errorf("--alg %q: want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA", alg)
}

// defaultAlg is the algorithm a key signs with when --alg is not given.
func defaultAlg(key crypto.Signer) string {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P384() {
			return "ES384"
		}
		return "ES256"
	case ed25519.PrivateKey:
		return "EdDSA"
	}
	return "RS256"
}

// keyFits says why key cannot sign with method, or "" when it can.
func keyFits(method jwt.SigningMethod, key crypto.Signer) string {
	alg := method.Alg()
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return "is an RSA key; it signs RS256…RS512 or PS256…PS512, not " + alg
		}
	case *ecdsa.PrivateKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384()}[alg]
		if want == nil || k.Curve != want {
			return fmt.Sprintf("is an EC key on %s; it cannot sign %s", k.Curve.Params().Name, alg)
		}
	case ed25519.PrivateKey:
		if alg != "EdDSA" {
			return "is an Ed25519 key; it signs EdDSA, not " + alg
		}
	default:
		return fmt.Sprintf("holds a key of type %T, which Oriel does not accept", key)
	}
	return ""
}

// readPrivateKey reads a PEM private key: PKCS #8, or the SEC 1 and PKCS #1 forms openssl
// writes.
func readPrivateKey(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PUBLIC KEY":
		return nil, fmt.Errorf("%s is a public key; signing needs the private one", path)
	default:
		return nil, fmt.Errorf("%s holds a %q PEM block; want a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s holds a key of type %T, which cannot sign", path, key)
	}
	return signer, nil
}
