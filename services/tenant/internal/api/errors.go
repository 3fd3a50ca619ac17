package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// toStatus is the tenant service's one mapping from domain errors to what clients see.
// Every handler returns its errors through it; what it does not know is masked by
// apierr.FromError.
func (s *Server) toStatus(ctx context.Context, err error, name string) error {
	var inUse *store.HostnameInUseError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return apierr.NotFound(name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
			name+" already exists (ids of purged tenants stay reserved)", "resource", name)
	case errors.As(err, &inUse):
		return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_HOSTNAME_IN_USE,
			"hostname "+inUse.Hostname+" is used by another tenant", "hostname", inUse.Hostname)
	}
	return apierr.FromError(ctx, s.log, err)
}
