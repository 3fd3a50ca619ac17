// Package api implements the content service's gRPC services: spaces and members, apps
// and revisions, templates and versions, and rollouts (whose work the rollout engine does).
package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/authz"
	"github.com/oriel-dev/oriel/services/content/internal/models"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// Options configure a Server.
type Options struct {
	Store store.Store
	// Tenants evaluates rollout tenant filters, with the caller's own credential.
	Tenants tenantv1.TenantServiceClient
	// Models are the app models this replica serves; Selections the sessions' selections.
	Models     *models.Cache
	Selections selection.Store
	// Reloads hears of each reload queued, to start it without waiting for its poll.
	Reloads interface{ Notify() }
	// Datagateway runs live charts' queries with Credential, content's own key.
	Datagateway datagatewayv1.ConnectionServiceClient
	Credential  string
	Log         *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server holds what every content service implementation shares. The services embed it:
// SpaceServer, AppServer, TemplateServer, RolloutServer, ReloadServer, AppDataServer.
type Server struct {
	store       store.Store
	tenants     tenantv1.TenantServiceClient
	models      *models.Cache
	selections  selection.Store
	reloads     interface{ Notify() }
	datagateway datagatewayv1.ConnectionServiceClient
	credential  string
	log         *slog.Logger
	now         func() time.Time
}

// New returns the server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{store: o.Store, tenants: o.Tenants, models: o.Models, selections: o.Selections,
		reloads: o.Reloads, datagateway: o.Datagateway, credential: o.Credential, log: o.Log, now: o.Now}
}

// clock is the time at the precision the stores keep.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// caller describes the authenticated principal for authorization.
func caller(ctx context.Context) authz.Caller {
	return authz.FromPrincipal(auth.FromContext(ctx))
}

// segments splits a resource name into its ids: for "tenants/a/apps/b", {"tenants": "a",
// "apps": "b"}.
func segments(name string) map[string]string {
	parts := strings.Split(name, "/")
	out := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		out[parts[i]] = parts[i+1]
	}
	return out
}

// notFound is the answer for what the caller may not see: as if it did not exist.
func notFound(name string) error { return apierr.NotFound(name) }

// denied is the answer for what the caller may see but not do.
func denied(what string) error {
	return apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED,
		"you may not "+what)
}

// toStatus is the content service's one mapping from domain errors to what clients see.
// name is the resource the call was about.
func (s *Server) toStatus(ctx context.Context, err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return apierr.NotFound(name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
			name+" already exists", "resource", name)
	case errors.Is(err, store.ErrEtagMismatch):
		return apierr.New(codes.Aborted, errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH,
			name+" changed since the etag sent was read; read it again and retry", "resource", name)
	case errors.Is(err, store.ErrSpaceNotEmpty):
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_SPACE_NOT_EMPTY,
			name+" still holds apps (deleted ones count until purged); move or purge them first", "resource", name)
	case errors.Is(err, store.ErrStateConflict):
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_ROLLOUT_STATE,
			name+" is not in a state that allows this", "resource", name)
	}
	return apierr.FromError(ctx, s.log, err)
}
