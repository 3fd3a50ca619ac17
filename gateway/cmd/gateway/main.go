// Command gateway serves Oriel's REST edge. Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"context"
	"log/slog"

	"github.com/alecthomas/kong"

	"github.com/oriel-dev/oriel/gateway"
	"github.com/oriel-dev/oriel/platform/server"
)

type serveCmd struct {
	gateway.Config `embed:""`
}

func (c *serveCmd) Run(ctx context.Context, log *slog.Logger) error {
	g, err := gateway.New(ctx, c.Config, log.With("service", "gateway"))
	if err != nil {
		return err
	}
	return g.Run(ctx)
}

var cli struct {
	server.Globals
	Serve serveCmd `cmd:"" default:"withargs" help:"Serve the REST edge (the default)."`
}

func main() {
	server.Main("gateway", "Oriel's REST edge: REST to the services' gRPC APIs.", &cli, &cli.Globals, kong.Vars{})
}
