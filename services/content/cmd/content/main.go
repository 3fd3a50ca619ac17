// Command content serves the content service (`content serve`, the default) or migrates
// its schema (`content migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/content"
)

var cli struct {
	server.Globals
	Serve   server.ServeCmd[content.Config] `cmd:"" default:"withargs" help:"Serve the content service (the default)."`
	Migrate server.MigrateCmd               `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	cli.Migrate.Migrate = content.Migrate
	server.Main("content", "Oriel's content service: spaces, apps and their revisions, templates and rollouts across tenants.", &cli, &cli.Globals, content.Vars)
}
