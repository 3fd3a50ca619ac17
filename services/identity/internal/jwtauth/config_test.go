package jwtauth

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

func TestCheckConfigAcceptsGoodConfigs(t *testing.T) {
	k := testKeys()
	rs := identityv1.Algorithm_ALGORITHM_RS256
	es := identityv1.Algorithm_ALGORITHM_ES256
	rotating := pemKey(t, "2026", es, k.p256)
	rotating.NotBefore, rotating.NotAfter = timestamppb.New(t0), timestamppb.New(t0.Add(time.Hour))
	for _, tc := range []struct {
		name    string
		cfg     *identityv1.JwtProvider
		devMode bool
	}{
		{"one PEM RSA key", &identityv1.JwtProvider{Issuer: testIssuer, Keys: []*identityv1.SigningKey{pemKey(t, "k", rs, k.rsa)}}, false},
		{"one JWK EC key", &identityv1.JwtProvider{Issuer: testIssuer, Keys: []*identityv1.SigningKey{jwkKey(t, "k", es, k.p256)}}, false},
		{"a JWK without its own alg and kid", &identityv1.JwtProvider{Issuer: testIssuer, Keys: []*identityv1.SigningKey{
			{Kid: "k", Alg: es, Jwk: jwkOf(t, k.p256.Public(), "", "")}}}, false},
		{"two keys with a validity window", &identityv1.JwtProvider{Issuer: testIssuer, Keys: []*identityv1.SigningKey{pemKey(t, "2025", rs, k.rsa), rotating}}, false},
		{"an https jwks_uri only", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://isv.example.com/.well-known/jwks.json"}, false},
		{"an http localhost jwks_uri in dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://localhost:8080/jwks"}, true},
		{"an http ::1 jwks_uri in dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://[::1]:8080/jwks"}, true},
		{"every algorithm allowed, an EdDSA key", &identityv1.JwtProvider{Issuer: testIssuer,
			AllowedAlgorithms: []identityv1.Algorithm{identityv1.Algorithm_ALGORITHM_EDDSA, identityv1.Algorithm_ALGORITHM_PS512},
			Keys:              []*identityv1.SigningKey{pemKey(t, "ed", identityv1.Algorithm_ALGORITHM_EDDSA, k.ed), jwkKey(t, "ps", identityv1.Algorithm_ALGORITHM_PS512, k.rsa)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if v := CheckConfig(tc.cfg, tc.devMode); len(v) != 0 {
				t.Fatalf("CheckConfig = %v, want no violations", v)
			}
		})
	}
}

func TestCheckConfigNamesTheFieldOfEachProblem(t *testing.T) {
	k := testKeys()
	rs := identityv1.Algorithm_ALGORITHM_RS256
	es := identityv1.Algorithm_ALGORITHM_ES256
	good := pemKey(t, "good", es, k.p256)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, err := x509.MarshalECPrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	pemBlock := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	inverted := pemKey(t, "inv", es, k.p256)
	inverted.NotBefore, inverted.NotAfter = timestamppb.New(t0.Add(time.Hour)), timestamppb.New(t0)
	keys := func(ks ...*identityv1.SigningKey) *identityv1.JwtProvider {
		return &identityv1.JwtProvider{Issuer: testIssuer, Keys: ks}
	}
	for _, tc := range []struct {
		name    string
		cfg     *identityv1.JwtProvider
		devMode bool
		field   string
		says    string
	}{
		{"a PKCS #8 private key as PEM", keys(good, &identityv1.SigningKey{Kid: "k", Alg: es, Pem: pemBlock("PRIVATE KEY", pkcs8)}), false, "keys[1].pem", "private key"},
		{"an EC private key as PEM", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Pem: pemBlock("EC PRIVATE KEY", ecPriv)}), false, "keys[0].pem", "private key"},
		{"an RSA private key as PEM", keys(&identityv1.SigningKey{Kid: "k", Alg: rs, Pem: pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa))}), false, "keys[0].pem", "private key"},
		{"a private key as JWK", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Jwk: jwkOf(t, k.p256, "k", "ES256")}), false, "keys[0].jwk", "private key"},
		{"a private Ed25519 key as JWK", keys(&identityv1.SigningKey{Kid: "k", Alg: identityv1.Algorithm_ALGORITHM_EDDSA, Jwk: jwkOf(t, k.ed, "k", "EdDSA")}), false, "keys[0].jwk", "private key"},
		{"a symmetric JWK", keys(&identityv1.SigningKey{Kid: "k", Alg: rs, Jwk: `{"kty":"oct","k":"c2VjcmV0"}`}), false, "keys[0].jwk", "symmetric"},
		{"a JWK Set instead of a JWK", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Jwk: `{"keys":[` + jwkOf(t, k.p256.Public(), "k", "ES256") + `]}`}), false, "keys[0].jwk", "JWK Set"},
		{"a PKCS #1 public key", keys(&identityv1.SigningKey{Kid: "k", Alg: rs, Pem: pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey))}), false, "keys[0].pem", "PKCS #1"},
		{"two PEM blocks", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Pem: pemOf(t, k.p256.Public()) + pemOf(t, k.p256b.Public())}), false, "keys[0].pem", "more than one"},
		{"not PEM at all", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Pem: "hello"}), false, "keys[0].pem", "not PEM"},
		{"an RSA key of 1024 bits", keys(pemKey(t, "k", rs, k.rsa1024)), false, "keys[0].pem", "1024 bits"},
		{"an RSA JWK of 1024 bits", keys(jwkKey(t, "k", rs, k.rsa1024)), false, "keys[0].jwk", "1024 bits"},
		{"a P-384 key for ES256", keys(pemKey(t, "k", es, k.p384)), false, "keys[0].pem", "P-256"},
		{"a P-256 key for ES384", &identityv1.JwtProvider{Issuer: testIssuer, AllowedAlgorithms: []identityv1.Algorithm{identityv1.Algorithm_ALGORITHM_ES384},
			Keys: []*identityv1.SigningKey{pemKey(t, "k", identityv1.Algorithm_ALGORITHM_ES384, k.p256)}}, false, "keys[0].pem", "P-384"},
		{"an EC key for RS256", keys(pemKey(t, "k", rs, k.p256)), false, "keys[0].pem", "not an RSA key"},
		{"an RSA key for EdDSA", &identityv1.JwtProvider{Issuer: testIssuer, AllowedAlgorithms: []identityv1.Algorithm{identityv1.Algorithm_ALGORITHM_EDDSA},
			Keys: []*identityv1.SigningKey{pemKey(t, "k", identityv1.Algorithm_ALGORITHM_EDDSA, k.rsa)}}, false, "keys[0].pem", "Ed25519"},
		{"a JWK whose alg disagrees", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Jwk: jwkOf(t, k.p256.Public(), "k", "ES384")}), false, "keys[0].jwk", "alg"},
		{"a JWK whose kid disagrees", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Jwk: jwkOf(t, k.p256.Public(), "other", "ES256")}), false, "keys[0].jwk", "kid"},
		{"duplicate kids", keys(good, pemKey(t, "good", rs, k.rsa)), false, "keys[1].kid", "unique"},
		{"a key whose alg is not allowed", keys(pemKey(t, "k", identityv1.Algorithm_ALGORITHM_PS256, k.rsa)), false, "keys[0].alg", "allowed_algorithms"},
		{"a key whose alg is unset", keys(&identityv1.SigningKey{Kid: "k", Pem: pemOf(t, k.p256.Public())}), false, "keys[0].alg", "must be one of"},
		{"not_before after not_after", keys(good, inverted), false, "keys[1].not_after", "after not_before"},
		{"neither pem nor jwk", keys(&identityv1.SigningKey{Kid: "k", Alg: es}), false, "keys[0].pem", "exactly one"},
		{"both pem and jwk", keys(&identityv1.SigningKey{Kid: "k", Alg: es, Pem: pemOf(t, k.p256.Public()), Jwk: jwkOf(t, k.p256.Public(), "k", "ES256")}), false, "keys[0].jwk", "exactly one"},
		{"an http jwks_uri outside dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://isv.example.com/jwks"}, false, "jwks_uri", "https"},
		{"an http localhost jwks_uri outside dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://localhost/jwks"}, false, "jwks_uri", "https"},
		{"an http jwks_uri to another host in dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://isv.example.com/jwks"}, true, "jwks_uri", "localhost"},
		{"an http jwks_uri to a private address in dev mode", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "http://10.0.0.1/jwks"}, true, "jwks_uri", "localhost"},
		{"a jwks_uri with userinfo", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://user:pass@isv.example.com/jwks"}, false, "jwks_uri", "user name"},
		{"a jwks_uri with a fragment", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://isv.example.com/jwks#x"}, false, "jwks_uri", "fragment"},
		{"a jwks_uri at a private address", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://10.0.0.1/jwks"}, false, "jwks_uri", "private"},
		{"a jwks_uri at the metadata address", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://169.254.169.254/latest"}, false, "jwks_uri", "link-local"},
		{"a jwks_uri at localhost", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https://localhost/jwks"}, false, "jwks_uri", "loopback"},
		{"a jwks_uri with another scheme", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "file:///etc/passwd"}, false, "jwks_uri", "https"},
		{"a jwks_uri without a host", &identityv1.JwtProvider{Issuer: testIssuer, JwksUri: "https:///jwks"}, false, "jwks_uri", "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			violations := CheckConfig(tc.cfg, tc.devMode)
			for _, v := range violations {
				if v.Field == tc.field && strings.Contains(v.Description, tc.says) {
					return
				}
			}
			t.Fatalf("CheckConfig = %+v, want a violation of %s saying %q", violations, tc.field, tc.says)
		})
	}
}
