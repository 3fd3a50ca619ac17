package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// User is one of the demo's users: who the ISV's backend says is signed in.
type User struct {
	// ID is what the page's picker sends (`data-user`), and the JWT's subject.
	ID string `json:"id"`
	// Name and Email go into the JWT.
	Name  string `json:"name"`
	Email string `json:"email"`
	// Tenant is the customer the user belongs to.
	Tenant string `json:"tenant"`
	// Group is the JWT's groups claim: viewers or admins.
	Group string `json:"group"`
	// Role is what the group is bound to, for the page to show.
	Role string `json:"role"`
	// Regions go into the JWT's region claim, a list: every region of the tenant for an
	// unrestricted user (see the package doc).
	Regions []string `json:"regions"`
	// Restricted says the user sees only some regions.
	Restricted bool `json:"restricted"`
}

// Users are the demo users, in the picker's order.
var Users = []User{
	{ID: "acme-viewer", Name: "Alice Adams", Email: "alice@acme.example", Tenant: "acme", Group: "viewers", Role: "viewer",
		Regions: Regions("acme")},
	{ID: "globex-admin", Name: "Hank Scorpio", Email: "hank@globex.example", Tenant: "globex", Group: "admins", Role: "admin",
		Regions: Regions("globex")},
	{ID: "acme-north", Name: "Nora North", Email: "nora@acme.example", Tenant: "acme", Group: "viewers", Role: "viewer",
		Regions: []string{"North"}, Restricted: true},
}

// UserByID finds a demo user.
func UserByID(id string) (User, bool) {
	for _, u := range Users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

const (
	// Issuer is the `iss` of the demo backend's JWTs.
	Issuer = "https://isv.demo.oriel.dev"
	// KeyID is the `kid` of the demo key pair.
	KeyID = "demo-1"
	// ProviderID is the identity provider each demo tenant trusts.
	ProviderID = "demo"
	// jwtLifetime is how long a signed JWT lives: it is exchanged at once.
	jwtLifetime = 2 * time.Minute
)

// keyFile is where the demo's private key is kept in the data folder.
const keyFile = "demo-isv.key"

// loadOrCreateKey returns the demo backend's ES256 key: the one in dataDir, created
// (mode 0600) at first start, or a key for this process without dataDir.
func loadOrCreateKey(dataDir string) (*ecdsa.PrivateKey, error) {
	if dataDir == "" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	path := filepath.Join(dataDir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM key; delete it to get a new one", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; delete it to get a new one", path, err)
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%s is not a P-256 key; delete it to get a new one", path)
		}
		return ec, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// publicKeyPEM is the public half, as the identity provider holds it.
func publicKeyPEM(key *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// signJWT is the demo backend's sign-in: a short-lived JWT for u with a fresh jti.
func signJWT(key *ecdsa.PrivateKey, u User, now time.Time) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss":    Issuer,
		"aud":    "oriel",
		"sub":    u.ID,
		"name":   u.Name,
		"email":  u.Email,
		"groups": []string{u.Group},
		"region": u.Regions,
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(jwtLifetime).Unix(),
		"jti":    uuid.NewString(),
	})
	tok.Header["kid"] = KeyID
	return tok.SignedString(key)
}
