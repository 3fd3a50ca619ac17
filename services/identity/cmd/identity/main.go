// Command identity serves the identity service (`identity serve`, the default) or migrates
// its schema (`identity migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/identity"
)

var cli struct {
	server.Globals
	Serve   server.ServeCmd[identity.Config] `cmd:"" default:"withargs" help:"Serve the identity service (the default)."`
	Migrate server.MigrateCmd                `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	cli.Migrate.Migrate = identity.Migrate
	server.Main("identity", "Oriel's identity service: single sign-on, users, roles, service accounts and embed tokens.", &cli, &cli.Globals, identity.Vars)
}
