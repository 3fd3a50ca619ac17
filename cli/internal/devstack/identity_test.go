package devstack_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/oriel-dev/oriel/platform/testkit"
)

// TestServicesAuthenticateThroughIdentity: the tenant service checks every credential by
// asking identity. An API key works until revoked (and at most the credential cache's few
// seconds after); an embed token is asked about on every call, so its revocation is
// immediate everywhere.
func TestServicesAuthenticateThroughIdentity(t *testing.T) {
	t.Parallel()
	stack := startStack(t, false)
	admin := restClient{t: t, base: stack.GatewayURL, key: stack.AdminKey}
	id := testkit.UniqueID("reader")

	// A platform service account that may only read tenants.
	admin.do("POST", "/v1/serviceAccounts?serviceAccountId="+id, `{"scopes":["tenants.read"]}`).json(t, 200, &struct{}{})
	var key struct {
		Secret string `json:"secret"`
		APIKey struct {
			Name string `json:"name"`
		} `json:"apiKey"`
	}
	admin.do("POST", "/v1/serviceAccounts/"+id+"/keys", `{}`).json(t, 200, &key)
	reader := restClient{t: t, base: stack.GatewayURL, key: key.Secret}
	reader.do("GET", "/v1/tenants", "").json(t, 200, &struct{}{})
	reader.do("POST", "/v1/tenants", tenantBody(testkit.UniqueID("x"), "Nope")).wantError(t, 403, "PERMISSION_DENIED", "PERMISSION_DENIED", nil)

	admin.do("POST", "/v1/"+key.APIKey.Name+":revoke", `{}`).json(t, 200, &struct{}{})
	deadline := time.Now().Add(10 * time.Second)
	for reader.do("GET", "/v1/tenants", "").status != 401 {
		if time.Now().After(deadline) {
			t.Fatal("a revoked key still worked 10 s later; the cache promises seconds")
		}
		time.Sleep(250 * time.Millisecond)
	}

	// An embed token: the tenant service sees the user, who has no scope to read tenants.
	tenant := testkit.UniqueID("emb")
	admin.do("POST", "/v1/tenants?tenantId="+tenant, tenantBody(tenant, "Embeds")).json(t, 200, &struct{}{})
	user := restClient{t: t, base: stack.GatewayURL, key: exchangeEmbedToken(t, admin, tenant, `{}`)}
	user.do("GET", "/v1/tenants/"+tenant, "").wantError(t, 403, "PERMISSION_DENIED", "PERMISSION_DENIED", nil)
	user.do("POST", "/v1/tokens:revoke", `{}`).json(t, 200, &struct{}{})
	// No cache for embed tokens: the very next call is refused.
	user.do("GET", "/v1/tenants/"+tenant, "").wantError(t, 401, "UNAUTHENTICATED", "CREDENTIAL_INVALID", nil)
}

// exchangeEmbedToken gives tenant a JWT identity provider with a fresh ES256 key, as an
// ISV's backend would, and exchanges a JWT of alice signed with it (the JWT as the
// credential, body the exchange request) for an embed token.
func exchangeEmbedToken(t *testing.T, admin restClient, tenant, body string) string {
	t.Helper()
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&signer.PublicKey)
	provider, _ := json.Marshal(map[string]any{"jwt": map[string]any{
		"issuer": "https://isv.example.com",
		"keys": []map[string]any{{"kid": "k1", "alg": "ALGORITHM_ES256",
			"pem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}},
	}})
	admin.do("POST", "/v1/tenants/"+tenant+"/identityProviders?identityProviderId=main", string(provider)).json(t, 200, &struct{}{})
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://isv.example.com", "aud": "oriel", "sub": "alice", "jti": uuid.NewString(),
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(signer)
	if err != nil {
		t.Fatal(err)
	}
	var exchanged struct {
		Token string `json:"token"`
	}
	restClient{t: t, base: admin.base, key: signed}.do("POST", "/v1/tenants/"+tenant+"/embedSessions:exchange", body).json(t, 200, &exchanged)
	return exchanged.Token
}
