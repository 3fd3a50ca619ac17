// Package api implements the datagateway's gRPC services for callers: connections (and
// the queries run through them), agents, and replications (whose work the replication
// engine does). The agents' own service, AgentTunnelService, is the tunnel hub's.
package api

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/pagination"
	"github.com/oriel-dev/oriel/services/datagateway/internal/secrets"
	"github.com/oriel-dev/oriel/services/datagateway/internal/source"
	"github.com/oriel-dev/oriel/services/datagateway/internal/store"
)

// Hub is what the API needs of the tunnel hub (*tunnel.Hub): running queries and tests
// on the agents of a pool, and cutting a revoked agent's stream.
type Hub interface {
	Query(ctx context.Context, tenant, pool string, src *datagatewayv1.Source, statement string, params []*datagatewayv1.QueryParameter, lim source.Limits, send source.Send) (agent string, err error)
	Test(ctx context.Context, tenant, pool string, src *datagatewayv1.Source) (*datagatewayv1.TestConnectionResponse, error)
	Disconnect(agent string)
}

// Options configure a Server.
type Options struct {
	Store store.Store
	// Keys seal and open connection credentials.
	Keys *secrets.Keyring
	Hub  Hub
	Log  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Limits are the most any query may return and take, and its batch size.
	Limits source.Limits
	// Source says how direct connections may reach their sources.
	Source source.Options
	// HeartbeatTimeout is how long after its last heartbeat an agent whose stream is
	// recorded open still shows as CONNECTED (its replica may have died without saying).
	HeartbeatTimeout time.Duration
	// WatchInterval is how often WatchReplication reads the replication; 500ms when 0.
	WatchInterval time.Duration
	// AdvertiseAddr is the address other replicas reach this one at (the hub records it
	// with its agents); when set, a query or test finding no agent of its pool here goes
	// to a replica that has one. "" keeps every call here.
	AdvertiseAddr string
}

// Server holds what every datagateway service implementation shares. The services embed
// it: ConnectionServer, AgentServer, ReplicationServer.
type Server struct {
	store            store.Store
	keys             *secrets.Keyring
	hub              Hub
	log              *slog.Logger
	now              func() time.Time
	limits           source.Limits
	source           source.Options
	heartbeatTimeout time.Duration
	watchInterval    time.Duration
	replicas         *replicas
}

// New returns the server.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 500 * time.Millisecond
	}
	return &Server{
		store: o.Store, keys: o.Keys, hub: o.Hub, log: o.Log, now: o.Now, limits: o.Limits, source: o.Source,
		heartbeatTimeout: o.HeartbeatTimeout, watchInterval: o.WatchInterval, replicas: &replicas{self: o.AdvertiseAddr},
	}
}

// clock is the time at the precision the stores keep.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Level is what a caller may do in a tenant, each level including the ones below.
type Level int

// The levels.
const (
	// None: nothing.
	None Level = iota
	// Use: test connections and query through them (tenant roles admin and developer).
	Use
	// Manage: everything: connections, agents, replications (datagateway.admin, or the
	// tenant role admin).
	Manage
)

// LevelOf is p's level in tenant, and whether p may act in tenant at all: platform
// service accounts act in every tenant, everyone else in their own only.
func LevelOf(p *auth.Principal, tenant string) (Level, bool) {
	if p == nil || (!p.IsPlatform() && p.Tenant != tenant) {
		return None, false
	}
	if p.Kind == auth.KindEmbedSession {
		if p.EmbedSession == nil || p.IsPlatform() {
			return None, true
		}
		switch {
		case slices.Contains(p.EmbedSession.Roles, "admin"):
			return Manage, true
		case slices.Contains(p.EmbedSession.Roles, "developer"):
			return Use, true
		}
		return None, true
	}
	if p.Has(auth.ScopeDatagatewayAdmin) {
		return Manage, true
	}
	return None, true
}

// authorize returns nil if the caller reaches need in tenant. Another tenant's resource
// (name) is NOT_FOUND, worded exactly as a missing one; in its own tenant a caller that
// falls short is PERMISSION_DENIED.
func authorize(ctx context.Context, tenant, name string, need Level, what string) error {
	p := auth.FromContext(ctx)
	if p == nil {
		return apierr.New(codes.Unauthenticated, errorsv1.ErrorReason_ERROR_REASON_CREDENTIAL_MISSING,
			"a valid credential is required: send `authorization: Bearer <credential>`")
	}
	level, inTenant := LevelOf(p, tenant)
	switch {
	case !inTenant:
		return apierr.NotFound(name)
	case level >= need:
		return nil
	}
	msg := "you may not " + what + ": it needs scope " + string(auth.ScopeDatagatewayAdmin) + " or the tenant role admin"
	if need == Use {
		msg = "you may not " + what + ": it needs scope " + string(auth.ScopeDatagatewayAdmin) + " or the tenant role admin or developer"
	}
	return apierr.New(codes.PermissionDenied, errorsv1.ErrorReason_ERROR_REASON_PERMISSION_DENIED, msg,
		"required_scope", string(auth.ScopeDatagatewayAdmin))
}

// toStatus is the datagateway's one mapping from domain errors to what clients see.
// name is the resource the call was about. Errors of sources and of the hub are statuses
// already and pass through; anything unrecognised is masked as INTERNAL.
func (s *Server) toStatus(ctx context.Context, err error, name string) error {
	var (
		missing *store.MissingError
		inUse   *store.InUseError
		state   *store.StateError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &missing):
		return apierr.NotFound(missing.Name)
	case errors.Is(err, store.ErrNotFound):
		return apierr.NotFound(name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
			name+" already exists", "resource", name)
	case errors.Is(err, store.ErrEtagMismatch):
		return apierr.New(codes.Aborted, errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH,
			name+" changed since the etag sent was read; read it again and retry", "resource", name)
	case errors.As(err, &inUse):
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_IN_USE,
			name+" is used by "+inUse.UsedBy+"; delete that first", "resource", name, "used_by", inUse.UsedBy)
	case errors.As(err, &state):
		st := strings.TrimPrefix(state.State.String(), "STATE_")
		if state.Deleting {
			st = "DELETING"
		}
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_REPLICATION_STATE,
			name+" is "+st+", which does not allow this", "resource", name, "state", st)
	}
	return apierr.FromError(ctx, s.log, err)
}

// segments splits a resource name into its ids: for "tenants/a/agents/b", {"tenants":
// "a", "agents": "b"}.
func segments(name string) map[string]string {
	parts := strings.Split(name, "/")
	out := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		out[parts[i]] = parts[i+1]
	}
	return out
}

// idEncoding is lowercase base32, whose letters and digits fit resource ids.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID makes an id for a resource whose creator chose none: prefix (a letter, as ids
// start with one) and 80 random bits, short enough for a replication id (≤ 40).
func newID(prefix string) string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return prefix + idEncoding.EncodeToString(b)
}

// listPage reads a page token and size into a store page one longer than the page, so
// the listing says whether another page follows.
func listPage(req proto.Message, token string, size int32) (store.Page, int, error) {
	after, err := pagination.Decode(req, token)
	if err != nil {
		return store.Page{}, 0, err
	}
	n := pagination.PageSize(size)
	return store.Page{AfterID: after, Limit: n + 1}, n, nil
}

// trimPage cuts a listing read with listPage to size and makes the token that continues
// after its last item, whose key key gives.
func trimPage[T any](req proto.Message, list []T, size int, key func(T) string) ([]T, string) {
	if len(list) <= size {
		return list, ""
	}
	list = list[:size]
	return list, pagination.Encode(req, key(list[size-1]))
}

// invalid is INVALID_ARGUMENT naming one field.
func invalid(field, description string) error {
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{Field: field, Description: description})
}
