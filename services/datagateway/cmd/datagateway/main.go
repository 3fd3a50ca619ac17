// Command datagateway serves the datagateway (`datagateway serve`, the default) or
// migrates its schema (`datagateway migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/datagateway"
)

var cli struct {
	server.Globals
	Serve   server.ServeCmd[datagateway.Config] `cmd:"" default:"withargs" help:"Serve the datagateway (the default)."`
	Migrate server.MigrateCmd                   `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	cli.Migrate.Migrate = datagateway.Migrate
	server.Main("datagateway", "Oriel's datagateway: data connections, queries directly or through agents, and replications.", &cli, &cli.Globals, datagateway.Vars)
}
