// Command content serves the content service (`content serve`, the default) or migrates
// its schema (`content migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"context"
	"log/slog"

	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/content"
)

type serveCmd struct {
	content.Config `embed:""`
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
	return content.Migrate(ctx, c.DatabaseURL, log)
}

var cli struct {
	server.Globals
	Serve   serveCmd   `cmd:"" default:"withargs" help:"Serve the content service (the default)."`
	Migrate migrateCmd `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	server.Main("content", "Oriel's content service: spaces, apps and their revisions, templates and rollouts across tenants.", &cli, &cli.Globals, content.Vars)
}
