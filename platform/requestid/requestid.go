// Package requestid carries the id of the request being served. It is the correlation id
// of Oriel: it is in every log line of the request, in the `x-request-id` response header,
// and in the message of any internal error the client sees.
package requestid

import (
	"context"
	"regexp"

	"github.com/google/uuid"
)

// MetadataKey is the gRPC metadata key (and, capitalised, the HTTP header) that carries it.
const MetadataKey = "x-request-id"

type ctxKey struct{}

// valid bounds what a caller may choose: a correlation id ends up in logs, so no control
// characters and nothing long.
var valid = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// New makes a fresh id (a UUIDv7, so ids sort by time in logs).
func New() string { return uuid.Must(uuid.NewV7()).String() }

// Accept returns id if a caller may choose it, or a fresh one.
func Accept(id string) string {
	if valid.MatchString(id) {
		return id
	}
	return New()
}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the request id, or "" outside a request.
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}
