package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/oriel-dev/oriel/platform/logging"
)

// Globals are the flags every Oriel service binary has.
type Globals struct {
	LogLevel string `name:"log-level" help:"debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
}

// Command is a subcommand of a service binary.
type Command interface {
	Run(ctx context.Context, log *slog.Logger) error
}

// Main parses the command line of a service binary into cli (a kong grammar whose root
// embeds Globals and whose subcommands are Commands), with every flag also read from
// ORIEL_<FLAG_NAME>, then runs the chosen command until SIGINT or SIGTERM, and exits.
func Main(name, description string, cli any, globals *Globals, vars kong.Vars) {
	kctx := kong.Parse(cli,
		kong.Name(name),
		kong.Description(description),
		kong.DefaultEnvars("ORIEL"),
		kong.UsageOnError(),
		vars,
	)
	log, err := logging.New(os.Stderr, globals.LogLevel)
	if err != nil {
		kctx.FatalIfErrorf(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, ok := kctx.Selected().Target.Addr().Interface().(Command)
	if !ok {
		kctx.FatalIfErrorf(fmt.Errorf("%s: command %q cannot run", name, kctx.Command()))
	}
	if err := cmd.Run(ctx, log); err != nil {
		log.Error("exiting", "error", err)
		stop()
		os.Exit(1)
	}
}

// Completer is a service's configuration: validated and opened, it is a Server.
type Completer interface {
	Complete(ctx context.Context, log *slog.Logger) (*Server, error)
}

// ServeCmd is every service binary's `serve`: its configuration's flags, completed and
// run until the process is told to stop.
type ServeCmd[C Completer] struct {
	Config C `embed:""`
}

// Run completes the configuration and serves.
func (c *ServeCmd[C]) Run(ctx context.Context, log *slog.Logger) error {
	srv, err := c.Config.Complete(ctx, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// MigrateCmd is every service binary's `migrate`: bring the schema at --database-url to
// head with the service's migrations, then exit.
type MigrateCmd struct {
	DatabaseURL string `name:"database-url" required:"" help:"postgres://… or sqlite://<path>."`
	// Migrate is the service's migration, set by its main.
	Migrate func(ctx context.Context, databaseURL string, log *slog.Logger) error `kong:"-"`
}

// Run migrates.
func (c *MigrateCmd) Run(ctx context.Context, log *slog.Logger) error {
	return c.Migrate(ctx, c.DatabaseURL, log)
}
