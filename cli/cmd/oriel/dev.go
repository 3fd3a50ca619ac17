package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/oriel-dev/oriel/cli/internal/client"
	"github.com/oriel-dev/oriel/cli/internal/demo"
	"github.com/oriel-dev/oriel/cli/internal/devstack"
	"github.com/oriel-dev/oriel/platform/logging"
)

// devCmd is `oriel dev`: the whole stack in one process on embedded defaults.
type devCmd struct {
	DataDir             string `name:"data-dir" help:"Where the embedded databases and the admin key live." default:".oriel" type:"path"`
	Addr                string `name:"addr" help:"Address of the REST edge." default:"127.0.0.1:8080" env:"ORIEL_DEV_ADDR"`
	TenantGRPCAddr      string `name:"tenant-grpc-addr" help:"gRPC address of the tenant service." default:"127.0.0.1:9101"`
	TenantHTTPAddr      string `name:"tenant-http-addr" help:"Metrics and probes address of the tenant service." default:"127.0.0.1:9201"`
	IdentityGRPCAddr    string `name:"identity-grpc-addr" help:"gRPC address of the identity service." default:"127.0.0.1:9102"`
	IdentityHTTPAddr    string `name:"identity-http-addr" help:"Metrics and probes address of the identity service." default:"127.0.0.1:9202"`
	ContentGRPCAddr     string `name:"content-grpc-addr" help:"gRPC address of the content service." default:"127.0.0.1:9103"`
	ContentHTTPAddr     string `name:"content-http-addr" help:"Metrics and probes address of the content service." default:"127.0.0.1:9203"`
	DatagatewayGRPCAddr string `name:"datagateway-grpc-addr" help:"gRPC address of the datagateway, where agents dial in too." default:"127.0.0.1:9104"`
	DatagatewayHTTPAddr string `name:"datagateway-http-addr" help:"Metrics and probes address of the datagateway." default:"127.0.0.1:9204"`
	DatabaseURL         string `name:"database-url" help:"Use this PostgreSQL (one schema per service) instead of SQLite files in --data-dir."`
	RedisURL            string `name:"redis-url" help:"Keep embed sessions in this Redis instead of in process memory."`
	AdminKey            string `name:"admin-key" env:"ORIEL_BOOTSTRAP_ADMIN_KEY" help:"The bootstrap admin API key; empty means the one kept in --data-dir (created at first start). Prefer the environment variable to the flag."`
	LogLevel            string `name:"log-level" help:"debug, info, warn or error." enum:"debug,info,warn,error" default:"warn"`

	Demo            bool   `name:"demo" group:"demo" help:"Seed a demo ISV (tenants Acme and Globex, sample sales data, single sign-on, a dashboard rolled out to both) and serve its host page at /demo."`
	DemoDatabaseURL string `name:"demo-database-url" group:"demo" env:"ORIEL_DEMO_DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" help:"With --demo: the PostgreSQL the sample data is written to (schemas oriel_demo_acme and oriel_demo_globex), if it answers within 3 s; otherwise the data comes from an embedded source. Empty: always the embedded source."`
	DemoGatewayURL  string `name:"demo-gateway-url" group:"demo" env:"ORIEL_DEMO_GATEWAY_URL" help:"With --demo: start no stack; seed the Oriel whose REST edge is at this URL (with --admin-key) and serve the demo page on --demo-addr, e.g. beside docker compose's gateway."`
	DemoAddr        string `name:"demo-addr" group:"demo" env:"ORIEL_DEMO_ADDR" default:"127.0.0.1:8090" help:"With --demo-gateway-url: where the demo page listens. Its origins (http://localhost:PORT and http://127.0.0.1:PORT) are allowed to embed the demo tenants."`
	DemoServerURL   string `name:"demo-server-url" group:"demo" env:"ORIEL_DEMO_SERVER_URL" help:"With --demo-gateway-url: the REST edge as the browser reaches it (the page loads oriel-embed.js from there); --demo-gateway-url when empty."`
}

// Run starts the stack, prints how to reach it, and serves until interrupted.
func (c *devCmd) Run(out io.Writer) error {
	log, err := logging.New(os.Stderr, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.DemoGatewayURL != "" {
		if !c.Demo {
			return errors.New("--demo-gateway-url needs --demo")
		}
		return c.serveDemo(ctx, out, log)
	}
	var d *demo.Demo
	var routes map[string]http.Handler
	if c.Demo {
		if d, err = demo.New(demo.Config{DataDir: c.DataDir, Out: out}); err != nil {
			return err
		}
		routes = d.Routes()
	}
	stack, err := devstack.Start(ctx, devstack.Config{
		DataDir:             c.DataDir,
		DatabaseURL:         c.DatabaseURL,
		AdminKey:            c.AdminKey,
		RedisURL:            c.RedisURL,
		GatewayAddr:         c.Addr,
		TenantGRPCAddr:      c.TenantGRPCAddr,
		TenantHTTPAddr:      c.TenantHTTPAddr,
		IdentityGRPCAddr:    c.IdentityGRPCAddr,
		IdentityHTTPAddr:    c.IdentityHTTPAddr,
		ContentGRPCAddr:     c.ContentGRPCAddr,
		ContentHTTPAddr:     c.ContentHTTPAddr,
		DatagatewayGRPCAddr: c.DatagatewayGRPCAddr,
		DatagatewayHTTPAddr: c.DatagatewayHTTPAddr,
		KeyEncryptionKeys:   os.Getenv("ORIEL_KEY_ENCRYPTION_KEYS"),
		GatewayRoutes:       routes,
	}, log)
	if err != nil {
		return err
	}
	printBanner(out, c, stack)
	if d != nil {
		target := demo.Target{
			API:         client.New(stack.GatewayURL, stack.AdminKey, nil),
			PageOrigins: pageOrigins(stack.GatewayURL),
			DatabaseURL: c.DemoDatabaseURL,
			DataURL:     loopbackURL(stack.GatewayURL) + "/demo/data/",
		}
		fmt.Fprintln(out, "Seeding the demo…")
		if err := d.Seed(ctx, target); err != nil {
			return errors.Join(err, stack.Stop())
		}
		fmt.Fprintf(out, "\nThe demo is ready: open %s/demo\n", localhostURL(stack.GatewayURL))
	}
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping…")
	case <-stack.Done():
	}
	return stack.Stop()
}

// serveDemo seeds the Oriel at --demo-gateway-url and serves the demo page on its own
// port: a host page on another origin than Oriel's, as an ISV's would be.
func (c *devCmd) serveDemo(ctx context.Context, out io.Writer, log *slog.Logger) error {
	if c.AdminKey == "" {
		return errors.New("--demo-gateway-url needs the admin key: set ORIEL_BOOTSTRAP_ADMIN_KEY")
	}
	ln, err := net.Listen("tcp", c.DemoAddr)
	if err != nil {
		return fmt.Errorf("demo page: %w", err)
	}
	// The demo's key lives in memory: each start rotates it in the providers.
	d, err := demo.New(demo.Config{Out: out})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	server := c.DemoServerURL
	if server == "" {
		server = c.DemoGatewayURL
	}
	target := demo.Target{
		API:         client.New(c.DemoGatewayURL, c.AdminKey, nil),
		PageOrigins: []string{"http://localhost:" + port, "http://127.0.0.1:" + port},
		ServerURL:   strings.TrimSuffix(server, "/"),
		DatabaseURL: c.DemoDatabaseURL,
		DataURL:     "http://127.0.0.1:" + port + "/demo/data/",
	}
	// The edge may still be starting (compose starts everything at once).
	for attempt := 1; ; attempt++ {
		err = d.Seed(ctx, target)
		if err == nil {
			break
		}
		if ctx.Err() != nil || attempt == 30 {
			return err
		}
		log.Warn("seeding the demo failed; retrying", "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	fmt.Fprintf(out, "\nThe demo is ready: open http://localhost:%s/demo\n", port)
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping…")
		return nil
	case err := <-served:
		return err
	}
}

// pageOrigins are the edge's origin under both loopback names, since a developer may
// type either.
func pageOrigins(gatewayURL string) []string {
	port := portOf(gatewayURL)
	return []string{"http://localhost:" + port, "http://127.0.0.1:" + port}
}

func portOf(u string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if _, port, err := net.SplitHostPort(host); err == nil {
		return port
	}
	return "80"
}

// loopbackURL is where the datagateway, in this process, reaches the edge.
func loopbackURL(gatewayURL string) string { return "http://127.0.0.1:" + portOf(gatewayURL) }

// localhostURL is the edge's URL as a developer types it.
func localhostURL(gatewayURL string) string { return "http://localhost:" + portOf(gatewayURL) }

func printBanner(out io.Writer, c *devCmd, s *devstack.Stack) {
	store := "SQLite in " + c.DataDir
	if c.DatabaseURL != "" {
		store = "PostgreSQL"
	}
	keyNote := "from ORIEL_BOOTSTRAP_ADMIN_KEY"
	if s.AdminKeyFile != "" {
		keyNote = "kept in " + s.AdminKeyFile
		if s.NewAdminKey {
			keyNote = "new, saved to " + s.AdminKeyFile
		}
	}
	kekNote := "from ORIEL_KEY_ENCRYPTION_KEYS"
	if s.KeyEncryptionKeyFile != "" {
		kekNote = "kept in " + s.KeyEncryptionKeyFile
	}
	fmt.Fprintf(out, `Oriel is running (%s).

  REST edge         %s
  OpenAPI           %s/openapi.json
  gRPC identity     %s
  gRPC tenant       %s   (grpcurl -plaintext %s list)
  gRPC content      %s
  gRPC datagateway  %s   (agents dial here: oriel-agent run --server %s --insecure)
  metrics           http://%s/metrics, http://%s/metrics,
                    http://%s/metrics, http://%s/metrics

  Admin API key     %s
                    (%s)
  Encryption key    %s (connection credentials; keep it with the data)

  export ORIEL_API_KEY=%s

Press Ctrl+C to stop; data survives restarts.
`, store, s.GatewayURL, s.GatewayURL, s.IdentityGRPCAddr, s.TenantGRPCAddr, s.TenantGRPCAddr, s.ContentGRPCAddr,
		s.DatagatewayGRPCAddr, s.DatagatewayGRPCAddr,
		s.IdentityHTTPAddr, s.TenantHTTPAddr, s.ContentHTTPAddr, s.DatagatewayHTTPAddr,
		s.AdminKey, keyNote, kekNote, s.AdminKey)
}
