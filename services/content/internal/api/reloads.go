package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// ReloadServer implements contentv1.ReloadServiceServer. Who may see an app may see its
// reloads; who may edit it may reload it, or cancel a reload.
type ReloadServer struct {
	contentv1.UnimplementedReloadServiceServer
	*Server
}

// reloadWatchInterval is how often WatchReload reads the reload: the runner writes its
// progress with each lease renewal, from whichever replica runs it.
const reloadWatchInterval = 250 * time.Millisecond

// editableApp reads an app the caller may edit (verb says what, for the
// PERMISSION_DENIED message); a deleted app is refused.
func (s ReloadServer) editableApp(ctx context.Context, name, verb string) (*contentv1.App, error) {
	app, a, err := s.visibleApp(ctx, name)
	if err != nil {
		return nil, err
	}
	if !a.CanEditApp(a.in(spaceIDOf(app.GetSpace())), app.GetOwner()) {
		return nil, denied(verb + " " + name)
	}
	return app, nil
}

// CreateReload queues a reload of the app's latest revision.
func (s ReloadServer) CreateReload(ctx context.Context, req *contentv1.CreateReloadRequest) (*contentv1.CreateReloadResponse, error) {
	app, err := s.editableApp(ctx, req.GetParent(), "reload")
	if err != nil {
		return nil, err
	}
	if app.GetState() == contentv1.App_STATE_DELETED {
		return nil, appDeleted(app.GetName())
	}
	ids := segments(app.GetName())
	created, _, err := s.store.CreateReload(ctx, ids["tenants"], ids["apps"], store.NewReload{
		Variables: req.GetReload().GetVariables(),
		Creator:   auth.FromContext(ctx).ID,
		RequestID: req.GetRequestId(),
	}, s.clock())
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	if s.reloads != nil {
		s.reloads.Notify()
	}
	return &contentv1.CreateReloadResponse{Reload: created}, nil
}

// GetReload reads a reload with its log.
func (s ReloadServer) GetReload(ctx context.Context, req *contentv1.GetReloadRequest) (*contentv1.GetReloadResponse, error) {
	r, err := s.visibleReload(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &contentv1.GetReloadResponse{Reload: r}, nil
}

// visibleReload reads a reload of an app the caller may see.
func (s ReloadServer) visibleReload(ctx context.Context, name string) (*contentv1.Reload, error) {
	ids := segments(name)
	if _, _, err := s.visibleApp(ctx, store.AppName(ids["tenants"], ids["apps"])); err != nil {
		return nil, apierr.NotFound(name)
	}
	r, err := s.store.GetReload(ctx, reloadKey(name))
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return r, nil
}

// ListReloads lists an app's reloads, newest first.
func (s ReloadServer) ListReloads(ctx context.Context, req *contentv1.ListReloadsRequest) (*contentv1.ListReloadsResponse, error) {
	if _, _, err := s.visibleApp(ctx, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	ids := segments(req.GetParent())
	list, err := s.store.ListReloads(ctx, ids["tenants"], ids["apps"], page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	list, next := trimPage(req, list, size, func(r *contentv1.Reload) string { return segments(r.GetName())["reloads"] })
	return &contentv1.ListReloadsResponse{Reloads: list, NextPageToken: next}, nil
}

// CancelReload cancels a queued reload at once, and asks the runner of a running one to
// stop; a finished reload is RELOAD_STATE.
func (s ReloadServer) CancelReload(ctx context.Context, req *contentv1.CancelReloadRequest) (*contentv1.CancelReloadResponse, error) {
	ids := segments(req.GetName())
	if _, err := s.editableApp(ctx, store.AppName(ids["tenants"], ids["apps"]), "cancel reloads of"); err != nil {
		if status.Code(err) == codes.NotFound {
			return nil, apierr.NotFound(req.GetName())
		}
		return nil, err
	}
	r, err := s.store.CancelReload(ctx, reloadKey(req.GetName()), s.clock())
	if err != nil {
		return nil, s.reloadStatus(ctx, err, req.GetName())
	}
	return &contentv1.CancelReloadResponse{Reload: r}, nil
}

// reloadStatus maps a reload's state conflict to RELOAD_STATE.
func (s ReloadServer) reloadStatus(ctx context.Context, err error, name string) error {
	if errors.Is(err, store.ErrStateConflict) {
		return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_RELOAD_STATE,
			name+" has ended; only a queued or running reload can be canceled", "resource", name)
	}
	return s.toStatus(ctx, err, name)
}

// WatchReload sends the reload at once and again whenever it changes, and ends the stream
// after sending it in a final state.
func (s ReloadServer) WatchReload(req *contentv1.WatchReloadRequest, stream grpc.ServerStreamingServer[contentv1.WatchReloadResponse]) error {
	ctx := stream.Context()
	tick := time.NewTicker(reloadWatchInterval)
	defer tick.Stop()
	var last *contentv1.Reload
	for {
		r, err := s.visibleReload(ctx, req.GetName())
		if err != nil {
			return err
		}
		if last == nil || !proto.Equal(r, last) {
			if err := stream.Send(&contentv1.WatchReloadResponse{Reload: r}); err != nil {
				return err
			}
			last = r
		}
		if reloadEnded(r.GetState()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return apierr.FromError(ctx, s.log, ctx.Err())
		case <-tick.C:
		}
	}
}

// reloadKey is the store's key of a reload name.
func reloadKey(name string) store.ReloadKey {
	ids := segments(name)
	return store.ReloadKey{Tenant: ids["tenants"], App: ids["apps"], ID: ids["reloads"]}
}

// reloadEnded reports whether a reload is in a final state.
func reloadEnded(st contentv1.Reload_State) bool {
	return st == contentv1.Reload_STATE_SUCCEEDED || st == contentv1.Reload_STATE_FAILED || st == contentv1.Reload_STATE_CANCELED
}
