// Command tenant serves the tenant service (`tenant serve`, the default) or migrates its
// schema (`tenant migrate`). Every flag also reads ORIEL_<FLAG_NAME>.
package main

import (
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/services/tenant"
)

var cli struct {
	server.Globals
	Serve   server.ServeCmd[tenant.Config] `cmd:"" default:"withargs" help:"Serve the tenant service (the default)."`
	Migrate server.MigrateCmd              `cmd:"" help:"Apply pending schema migrations and exit."`
}

func main() {
	cli.Migrate.Migrate = tenant.Migrate
	server.Main("tenant", "Oriel's tenant service: tenants, regions, lifecycle and tenant events.", &cli, &cli.Globals, tenant.Vars)
}
