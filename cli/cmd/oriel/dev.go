package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
	LogLevel            string `name:"log-level" help:"debug, info, warn or error." enum:"debug,info,warn,error" default:"warn"`
}

// Run starts the stack, prints how to reach it, and serves until interrupted.
func (c *devCmd) Run(out io.Writer) error {
	log, err := logging.New(os.Stderr, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, devstack.Config{
		DataDir:             c.DataDir,
		DatabaseURL:         c.DatabaseURL,
		AdminKey:            os.Getenv("ORIEL_BOOTSTRAP_ADMIN_KEY"),
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
	}, log)
	if err != nil {
		return err
	}
	printBanner(out, c, stack)
	select {
	case <-ctx.Done():
		fmt.Fprintln(out, "\nstopping…")
	case <-stack.Done():
	}
	return stack.Stop()
}

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
