// Package secrets encrypts connection credentials at rest with AES-256-GCM under
// key-encryption keys from configuration. Every ciphertext records the id of its key, so
// keys can rotate: the first key of the ring seals, any key of the ring opens.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// keyLen is the length of an AES-256 key.
const keyLen = 32

// keyIDPattern is what a key id may be: it is stored beside every ciphertext and shown in
// errors, so it stays short and printable.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Keyring holds the key-encryption keys.
type Keyring struct {
	// current is the id of the key that seals.
	current string
	aeads   map[string]cipher.AEAD
}

// ErrOpen is what Open returns for a ciphertext it cannot open: tampered, bound to other
// associated data, or sealed under a key the ring lacks. Which one is not said, and no
// key material is ever part of an error.
var ErrOpen = errors.New("secrets: cannot open ciphertext")

// ParseKeyring reads `id:base64key[,id:base64key…]` (32-byte keys, standard base64); the
// first key is the one that seals.
func ParseKeyring(spec string) (*Keyring, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, errors.New("no key-encryption keys: want id:base64key[,id:base64key…] with 32-byte keys (e.g. `k1:$(openssl rand -base64 32)`)")
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		id, encoded, ok := strings.Cut(strings.TrimSpace(entry), ":")
		// Errors name the entry by position and id only: the spec holds the keys.
		switch {
		case !ok:
			return nil, fmt.Errorf("key-encryption key %d: want id:base64key", i+1)
		case !keyIDPattern.MatchString(id):
			return nil, fmt.Errorf("key-encryption key %d: id must be 1 to 64 letters, digits, dots, underscores or hyphens", i+1)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("key-encryption key %q appears twice", id)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key %q: not standard base64", id)
		}
		if len(key) != keyLen {
			return nil, fmt.Errorf("key-encryption key %q: %d bytes, want %d", id, len(key), keyLen)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key %q: %w", id, err)
		}
		k.aeads[id] = aead
		if i == 0 {
			k.current = id
		}
	}
	return k, nil
}

// CurrentKeyID is the id of the key that seals.
func (k *Keyring) CurrentKeyID() string { return k.current }

// Seal encrypts plaintext, binding it to aad (the connection's name), under the current
// key and returns that key's id and the ciphertext (nonce first).
func (k *Keyring) Seal(plaintext, aad []byte) (keyID string, ciphertext []byte, err error) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, fmt.Errorf("secrets: nonce: %w", err)
	}
	return k.current, aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal returned.
func (k *Keyring) Open(keyID string, ciphertext, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: key %q is not in the keyring", ErrOpen, keyID)
	}
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	nonce, sealed := ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():]
	plaintext, err := aead.Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, ErrOpen
	}
	return plaintext, nil
}
