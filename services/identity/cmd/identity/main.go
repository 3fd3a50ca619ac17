// Command identity serves the identity service (`identity serve`, the default) or migrates
// its schema (`identity migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"context"
	"log/slog"

	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/identity"
)

type serveCmd struct {
	identity.Config `embed:""`
}

func (c *serveCmd) Run(ctx context.Context, log *slog.Logger) error {
	srv, err := c.Complete(ctx, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

type migrateCmd struct {
	DatabaseURL string `name:"database-url" required:"" help:"postgres://… or sqlite://<path>."`
}

func (c *migrateCmd) Run(ctx context.Context, log *slog.Logger) error {
	return identity.Migrate(ctx, c.DatabaseURL, log)
}

var cli struct {
	server.Globals
	Serve   serveCmd   `cmd:"" default:"withargs" help:"Serve the identity service (the default)."`
	Migrate migrateCmd `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	server.Main("identity", "Oriel's identity service: single sign-on, users, roles, service accounts and embed tokens.", &cli, &cli.Globals, identity.Vars)
}
