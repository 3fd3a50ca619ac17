package live

import (
	"context"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/services/content/internal/datasource"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// Gateway runs a plan's statements on a connection through the datagateway's Query
// stream (a plan's Connection). Values convert by datasource's rules, the ones the
// reload used, so that dimension values match the model's. Errors of the stream are
// returned as they come, for the caller to map.
func Gateway(client datagatewayv1.ConnectionServiceClient, connection string) QueryFunc {
	return func(ctx context.Context, statement string, params []*datagatewayv1.QueryParameter, fn func(row []engine.Value) error) error {
		_, err := datasource.Query(ctx, client, &datagatewayv1.QueryRequest{
			Name:       connection,
			Statement:  statement,
			Parameters: params,
			// One row past the bound is enough for Run to see it crossed; the source need
			// not stream the rest.
			RowLimit: MaxGroups + 1,
		}, func([]string) error { return nil }, fn)
		return err
	}
}
