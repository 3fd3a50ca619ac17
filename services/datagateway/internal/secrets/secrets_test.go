package secrets_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/services/datagateway/internal/secrets"
)

// newKey returns a random 32-byte key, base64.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustParse(t *testing.T, spec string) *secrets.Keyring {
	t.Helper()
	k, err := secrets.ParseKeyring(spec)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestSealedCredentialsOpenWithTheSameNameOnly(t *testing.T) {
	t.Parallel()
	k := mustParse(t, "k1:"+newKey())
	plaintext := []byte(`{"password":"s3cret"}`)
	aad := []byte("tenants/acme/connections/erp")
	id, ct, err := k.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	if id != "k1" {
		t.Fatalf("key id = %q, want k1", id)
	}
	if bytes.Contains(ct, plaintext) {
		t.Fatal("ciphertext holds the plaintext")
	}
	got, err := k.Open(id, ct, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plaintext) {
		t.Fatalf("Open = %q, want %q", got, plaintext)
	}
	// Two seals of the same plaintext differ: the nonce is fresh.
	_, ct2, _ := k.Seal(plaintext, aad)
	if bytes.Equal(ct, ct2) {
		t.Fatal("two seals gave the same ciphertext")
	}
}

func TestRotationKeepsOldCiphertextsReadable(t *testing.T) {
	t.Parallel()
	oldKey, newKeyB64 := newKey(), newKey()
	before := mustParse(t, "old:"+oldKey)
	aad := []byte("tenants/acme/connections/erp")
	id, ct, err := before.Seal([]byte("pw"), aad)
	if err != nil {
		t.Fatal(err)
	}
	after := mustParse(t, "new:"+newKeyB64+",old:"+oldKey)
	got, err := after.Open(id, ct, aad)
	if err != nil || string(got) != "pw" {
		t.Fatalf("Open after rotation = %q, %v", got, err)
	}
	if id, _, _ := after.Seal([]byte("pw"), aad); id != "new" {
		t.Fatalf("after rotation seals under %q, want new", id)
	}
	if after.CurrentKeyID() != "new" {
		t.Fatalf("CurrentKeyID = %q", after.CurrentKeyID())
	}
}

func TestOpenRefusesWhatItShouldNot(t *testing.T) {
	t.Parallel()
	k := mustParse(t, "k1:"+newKey())
	aad := []byte("tenants/acme/connections/erp")
	id, ct, err := k.Seal([]byte("pw"), aad)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	other := mustParse(t, "k1:"+newKey())
	for _, tc := range []struct {
		name string
		ring *secrets.Keyring
		id   string
		ct   []byte
		aad  []byte
	}{
		{"another connection's name", k, id, ct, []byte("tenants/acme/connections/crm")},
		{"another tenant's name", k, id, ct, []byte("tenants/evil/connections/erp")},
		{"a tampered ciphertext", k, id, tampered, aad},
		{"a truncated ciphertext", k, id, ct[:5], aad},
		{"an unknown key id", k, "k2", ct, aad},
		{"another key under the same id", other, id, ct, aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.ring.Open(tc.id, tc.ct, tc.aad); !errors.Is(err, secrets.ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

func TestBadKeyringSpecsAreRefusedWithoutEchoingKeys(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	good := newKey()
	for _, tc := range []struct {
		name, spec, want string
	}{
		{"empty", "", "no key-encryption keys"},
		{"no id", good, "want id:base64key"},
		{"bad id", "a b:" + good, "id must be"},
		{"empty id", ":" + good, "id must be"},
		{"not base64", "k1:not*base64!", "not standard base64"},
		{"short key", "k1:" + short, "16 bytes, want 32"},
		{"duplicate id", "k1:" + good + ",k1:" + newKey(), "appears twice"},
		{"empty entry", "k1:" + good + ",", "want id:base64key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secrets.ParseKeyring(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseKeyring(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
			if strings.Contains(err.Error(), good) || strings.Contains(err.Error(), short) {
				t.Fatalf("error %q echoes a key", err)
			}
		})
	}
}
