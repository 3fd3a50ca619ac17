package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
	"github.com/oriel-dev/oriel/services/content/internal/live"
)

// liveHypercube computes a hypercube at the source: compiled to SQL over the statements
// the model's tables were loaded with, selections and reductions bound as parameters, run
// through the datagateway with content's own credential (the caller was authorized for
// the app; the data of a connection is content's to query for it).
func (s AppDataServer) liveHypercube(ctx context.Context, ds *dataSession, h engine.Hypercube, sel []engine.Selection) (*engine.Result, error) {
	if s.datagateway == nil {
		return nil, liveUnsupported("", "this content service has no datagateway (--datagateway-addr)")
	}
	m := ds.loaded.Model
	conn := ""
	for _, t := range m.Tables() {
		if t.Source.Connection != "" {
			conn = t.Source.Connection
			break
		}
	}
	if conn == "" {
		return nil, liveUnsupported("", "no table of the app was loaded from a connection")
	}
	out := auth.OutgoingCredential(ctx, s.credential)
	c, err := s.datagateway.GetConnection(out, &datagatewayv1.GetConnectionRequest{Name: conn})
	if err != nil {
		return nil, err // the datagateway's own status, e.g. NOT_FOUND for a deleted connection
	}
	dialect := live.Postgres
	switch {
	case c.GetConnection().GetMysql() != nil:
		dialect = live.MySQL
	case c.GetConnection().GetPostgres() == nil:
		return nil, liveUnsupported("", fmt.Sprintf("connection %s is not a SQL database", conn))
	}
	plan, err := live.Compile(dialect, m.Tables(), m.Numeric, h, sel, ds.reductions)
	var un *live.Unsupported
	if errors.As(err, &un) {
		return nil, liveUnsupported(un.Table, un.Reason)
	}
	if err != nil {
		return nil, err
	}
	return plan.Run(out, live.Gateway(s.datagateway, plan.Connection()))
}

// liveUnsupported refuses a live chart that cannot be pushed down.
func liveUnsupported(table, reason string) error {
	return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_LIVE_UNSUPPORTED,
		"this chart cannot be queried live: "+reason, "table", table)
}
