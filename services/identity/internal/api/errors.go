package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// toStatus is the identity service's one mapping from domain errors to what clients see.
// name is the resource the call was about.
func (s *Server) toStatus(ctx context.Context, err error, name string) error {
	var down *sessionsDown
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, sessions.ErrNotFound):
		return apierr.NotFound(name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
			name+" already exists", "resource", name)
	case errors.Is(err, store.ErrEtagMismatch):
		return apierr.New(codes.Aborted, errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH,
			name+" changed since the etag sent was read; read it again and retry", "resource", name)
	case errors.Is(err, store.ErrMemberNotFound):
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_MEMBER_NOT_FOUND,
			"the role binding's user or group does not exist; create the group, or let the user sign in once", "resource", name)
	case errors.As(err, &down):
		// Embed tokens are checked against the session store on every call: when it is
		// down or slow nothing can be vouched for, and the answer is UNAVAILABLE, never OK.
		s.log.WarnContext(ctx, "session store unavailable", "error", down.err)
		return apierr.Unavailable("embed sessions cannot be reached right now; retry")
	}
	return apierr.FromError(ctx, s.log, err)
}

// sessionsDown marks a failure of the session store itself (Redis down, slow or refusing).
type sessionsDown struct{ err error }

func (e *sessionsDown) Error() string { return "session store: " + e.err.Error() }
func (e *sessionsDown) Unwrap() error { return e.err }

// sessionTimeout bounds every session-store call, whatever the caller's deadline: a
// Redis that is down or slow must turn into UNAVAILABLE while the caller still waits for
// an answer, not into the caller's own deadline expiring. Services introspecting through
// platform/auth wait 3 s for identity, so this stays below that.
const sessionTimeout = 2 * time.Second

// guarded wraps a sessions.Store so that every failure of the store itself is a
// *sessionsDown, whatever the implementation: the API maps those to UNAVAILABLE. The
// sentinels and a caller's own cancellation pass through.
type guarded struct{ sessions.Store }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, sessionTimeout)
}

func guard(err error) error {
	if err == nil || errors.Is(err, sessions.ErrNotFound) || errors.Is(err, sessions.ErrStateUnknown) || errors.Is(err, context.Canceled) {
		return err
	}
	return &sessionsDown{err: err}
}

func (g guarded) Put(ctx context.Context, hash string, s *sessions.Session) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.Put(ctx, hash, s))
}

func (g guarded) Get(ctx context.Context, tenant, hash string) (*sessions.Session, sessions.State, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	sess, st, err := g.Store.Get(ctx, tenant, hash)
	return sess, st, guard(err)
}

func (g guarded) Delete(ctx context.Context, tenant, hash string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.Delete(ctx, tenant, hash))
}

func (g guarded) ExpireWithin(ctx context.Context, tenant, hash string, d time.Duration) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.ExpireWithin(ctx, tenant, hash, d))
}

func (g guarded) ListUser(ctx context.Context, tenant, user string) ([]*sessions.Session, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	list, err := g.Store.ListUser(ctx, tenant, user)
	return list, guard(err)
}

func (g guarded) State(ctx context.Context, tenant, user string) (sessions.State, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	st, err := g.Store.State(ctx, tenant, user)
	return st, guard(err)
}

func (g guarded) LoadState(ctx context.Context, tenant string, full sessions.FullState) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.LoadState(ctx, tenant, full))
}

func (g guarded) RaiseTenantEpoch(ctx context.Context, tenant string, epoch int64) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.RaiseTenantEpoch(ctx, tenant, epoch))
}

func (g guarded) RaiseUser(ctx context.Context, tenant, user string, st sessions.UserState) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.RaiseUser(ctx, tenant, user, st))
}

func (g guarded) RaiseDirectoryVersion(ctx context.Context, tenant string, version int64) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return guard(g.Store.RaiseDirectoryVersion(ctx, tenant, version))
}

func (g guarded) Admit(ctx context.Context, tenant, key string, until time.Time, user string) (bool, sessions.State, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	first, st, err := g.Store.Admit(ctx, tenant, key, until, user)
	return first, st, guard(err)
}

func (g guarded) UseJTI(ctx context.Context, tenant, key string, until time.Time) (bool, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	first, err := g.Store.UseJTI(ctx, tenant, key, until)
	return first, guard(err)
}
