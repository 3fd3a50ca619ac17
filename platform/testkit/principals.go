package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/oriel-dev/oriel/platform/auth"
)

// Principals stands in for the identity service: it maps credentials the test made up to
// the principals identity would introspect them as.
//
// Give it to a service as its auth.Authenticator to test that service's authorization
// without running identity. It is a double for identity alone; PostgreSQL and Redis stay
// real. (The CLI's devstack tests run the real identity path end to end.) The zero value
// is ready to use and safe for concurrent use.
type Principals struct{ m sync.Map }

var _ auth.Authenticator = (*Principals)(nil)

// Register makes credential authenticate as p, replacing what it stood for before.
func (ps *Principals) Register(credential string, p *auth.Principal) { ps.m.Store(credential, p) }

// Issue registers a new random credential for p and returns it, so every caller a test
// makes up has a credential of its own.
func (ps *Principals) Issue(p *auth.Principal) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	credential := "test_" + hex.EncodeToString(b[:])
	ps.Register(credential, p)
	return credential
}

// Authenticate returns the principal registered for credential, or
// auth.ErrInvalidCredential, as identity does for a credential it does not know.
func (ps *Principals) Authenticate(_ context.Context, credential string) (*auth.Principal, error) {
	if v, ok := ps.m.Load(credential); ok {
		return v.(*auth.Principal), nil
	}
	return nil, auth.ErrInvalidCredential
}
