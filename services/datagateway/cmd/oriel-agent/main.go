// Command oriel-agent runs beside a customer's databases and serves the datagateway's
// queries over one outbound gRPC stream: `oriel-agent run` enrolls once with an
// enrollment token, then reconnects with its stored credential. Every flag also reads
// ORIEL_AGENT_<FLAG_NAME> (e.g. ORIEL_AGENT_ENROLLMENT_TOKEN, which keeps the token out of
// the process list).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/services/datagateway/internal/agent"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

type cli struct {
	LogLevel string     `name:"log-level" help:"debug, info, warn or error." enum:"debug,info,warn,error" default:"info"`
	Run      runCmd     `cmd:"" help:"Enroll if needed, then connect to the datagateway and serve its queries until stopped."`
	Version  versionCmd `cmd:"" help:"Print the version and exit."`
}

type runCmd struct {
	Server               string        `name:"server" required:"" help:"The datagateway's gRPC address, host:port."`
	EnrollmentToken      string        `name:"enrollment-token" help:"The one-time enrollment token (oriel_ae_…); used only when the credential file does not exist yet."`
	CredentialFile       string        `name:"credential-file" default:"${credential_file}" help:"Where the agent's credential is kept (written 0600 when enrolling)."`
	Insecure             bool          `name:"insecure" help:"Connect without TLS (development only)."`
	TLSCAFile            string        `name:"tls-ca-file" type:"path" help:"PEM file of the authorities that sign the datagateway's certificate; the system's roots when unset."`
	TLSServerName        string        `name:"tls-server-name" help:"The name to check the datagateway's certificate against, when it differs from the --server host."`
	DevMode              bool          `name:"dev-mode" help:"Allow http sources over plain http and on private addresses."`
	MaxConcurrentQueries int           `name:"max-concurrent-queries" default:"${max_queries}" help:"The most queries run at once; more are refused so the datagateway retries elsewhere."`
	BackoffMin           time.Duration `name:"backoff-min" default:"${backoff_min}" help:"The shortest wait before reconnecting."`
	BackoffMax           time.Duration `name:"backoff-max" default:"${backoff_max}" help:"The longest wait before reconnecting."`
}

func (c *runCmd) run(ctx context.Context, log *slog.Logger) error {
	return agent.Run(ctx, agent.Config{
		Server:               c.Server,
		CredentialFile:       c.CredentialFile,
		EnrollmentToken:      c.EnrollmentToken,
		Insecure:             c.Insecure,
		TLSCAFile:            c.TLSCAFile,
		TLSServerName:        c.TLSServerName,
		DevMode:              c.DevMode,
		Version:              version,
		Log:                  log,
		MaxConcurrentQueries: c.MaxConcurrentQueries,
		BackoffMin:           c.BackoffMin,
		BackoffMax:           c.BackoffMax,
	})
}

type versionCmd struct{}

func main() {
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("oriel-agent"),
		kong.Description("Oriel's data gateway agent: serves the datagateway's queries against databases only it reaches, over one outbound connection."),
		kong.DefaultEnvars("ORIEL_AGENT"),
		kong.UsageOnError(),
		kong.Vars{
			"credential_file": agent.DefaultCredentialFile,
			"max_queries":     fmt.Sprint(agent.DefaultMaxConcurrentQueries),
			"backoff_min":     agent.DefaultBackoffMin.String(),
			"backoff_max":     agent.DefaultBackoffMax.String(),
		},
	)
	if kctx.Command() == "version" {
		fmt.Printf("oriel-agent %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	log, err := logging.New(os.Stderr, c.LogLevel)
	kctx.FatalIfErrorf(err)
	log = log.With("version", version)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.Run.run(ctx, log); err != nil {
		log.Error("exiting", "error", err)
		stop()
		os.Exit(1)
	}
}
