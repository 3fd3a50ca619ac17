// Package devstack runs the whole of Oriel in one process: every service a real gRPC
// server on its own port, with the REST edge in front. `oriel dev` runs it on embedded
// SQLite in a data folder; tests and benchmarks run it on PostgreSQL with ":0" ports.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oriel-dev/oriel/gateway"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/content"
	"github.com/oriel-dev/oriel/services/datagateway"
	"github.com/oriel-dev/oriel/services/identity"
	"github.com/oriel-dev/oriel/services/tenant"
)

// Config configures a stack.
type Config struct {
	// DataDir holds the SQLite databases and the admin key file. Required unless
	// DatabaseURL is set and AdminKey given.
	DataDir string
	// DatabaseURL, if set, is a PostgreSQL URL every service uses (each in its own schema)
	// instead of SQLite files in DataDir.
	DatabaseURL string
	// RedisURL, if set, holds embed sessions; otherwise they live in process memory.
	RedisURL string
	// AdminKey is the bootstrap admin API key; empty means the one in DataDir/admin.key,
	// created at first start.
	AdminKey string
	// Addresses; empty means a free loopback port.
	GatewayAddr                        string
	IdentityGRPCAddr, IdentityHTTPAddr string
	TenantGRPCAddr, TenantHTTPAddr     string
	ContentGRPCAddr, ContentHTTPAddr   string
	// DatagatewayGRPCAddr is also where agents dial in.
	DatagatewayGRPCAddr, DatagatewayHTTPAddr string
	// KeyEncryptionKeys are the datagateway's (`id:base64(32 bytes)`, …); empty means the
	// key in DataDir/datagateway.keys, created at first start so that credentials stored
	// before a restart still decrypt after it, or, without DataDir, a key for this start.
	KeyEncryptionKeys string
	// PurgeInterval of the tenant service; 0 means one minute.
	PurgeInterval time.Duration
	// Now is the clock of the services; nil means time.Now.
	Now func() time.Time
	// GatewayRoutes are pages the REST edge serves beside the API (gateway.Config.Routes).
	GatewayRoutes map[string]http.Handler
	// GatewayRatePlans are the edge's --rate-plan values; empty means devRatePlans.
	GatewayRatePlans []string
}

// devRatePlans let one developer (and the benchmarks, which run thousands of calls a
// second) never hit a limit, while every response still carries the RateLimit headers.
var devRatePlans = []string{"default=credential:50000/s:50000,tenant:50000/s:50000"}

// Stack is a running stack.
type Stack struct {
	// AdminKey is the bootstrap admin API key.
	AdminKey string
	// AdminKeyFile is where the key is kept ("" when it was given).
	AdminKeyFile string
	// NewAdminKey reports whether the key was created by this start.
	NewAdminKey bool
	// GatewayURL is the REST edge's base URL, e.g. http://127.0.0.1:8080.
	GatewayURL string
	// IdentityGRPCAddr and IdentityHTTPAddr are the identity service's addresses.
	IdentityGRPCAddr, IdentityHTTPAddr string
	// TenantGRPCAddr and TenantHTTPAddr are the tenant service's addresses.
	TenantGRPCAddr, TenantHTTPAddr string
	// ContentGRPCAddr and ContentHTTPAddr are the content service's addresses.
	ContentGRPCAddr, ContentHTTPAddr string
	// DatagatewayGRPCAddr and DatagatewayHTTPAddr are the datagateway's addresses; agents
	// dial the gRPC one.
	DatagatewayGRPCAddr, DatagatewayHTTPAddr string
	// KeyEncryptionKeyFile is where the datagateway's key-encryption key is kept ("" when
	// it was given, or lives only as long as the stack).
	KeyEncryptionKeyFile string

	cancel context.CancelFunc
	done   chan struct{}
	err    error
	// tempDirs are removed when the stack stops.
	tempDirs []string
}

func loopback(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// serverConfig is how every service runs in one process on a developer's machine.
func serverConfig(grpcAddr, httpAddr string) server.Config {
	return server.Config{
		GRPCAddr: loopback(grpcAddr),
		HTTPAddr: loopback(httpAddr),
		// One process on one machine: nobody load-balances it.
		ShutdownDrain:   0,
		ShutdownTimeout: 5 * time.Second,
		ReadyInterval:   100 * time.Millisecond,
		CredentialCache: 5 * time.Second,
	}
}

// Start migrates the schemas, starts every service and the edge, and returns once all of
// them report ready (or ctx ends).
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Stack, error) {
	st := &Stack{AdminKey: cfg.AdminKey, done: make(chan struct{})}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
	}
	if st.AdminKey == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("devstack: DataDir or AdminKey is required")
		}
		st.AdminKeyFile = filepath.Join(cfg.DataDir, "admin.key")
		var err error
		if st.AdminKey, st.NewAdminKey, err = loadOrCreateKey(st.AdminKeyFile); err != nil {
			return nil, err
		}
	}
	dbURL := func(service string) string {
		if cfg.DatabaseURL != "" {
			return cfg.DatabaseURL
		}
		return "sqlite://" + filepath.Join(cfg.DataDir, service+".db")
	}
	purgeInterval := cfg.PurgeInterval
	if purgeInterval == 0 {
		purgeInterval = time.Minute
	}
	if err := identity.Migrate(ctx, dbURL(identity.Name), log); err != nil {
		return nil, fmt.Errorf("migrate identity: %w", err)
	}
	if err := tenant.Migrate(ctx, dbURL(tenant.Name), log); err != nil {
		return nil, fmt.Errorf("migrate tenant: %w", err)
	}
	if err := content.Migrate(ctx, dbURL(content.Name), log); err != nil {
		return nil, fmt.Errorf("migrate content: %w", err)
	}
	if err := datagateway.Migrate(ctx, dbURL(datagateway.Name), log); err != nil {
		return nil, fmt.Errorf("migrate datagateway: %w", err)
	}
	keks := cfg.KeyEncryptionKeys
	if keks == "" {
		var err error
		if keks, err = loadOrCreateKeyEncryptionKey(cfg.DataDir); err != nil {
			return nil, err
		}
		if cfg.DataDir != "" {
			st.KeyEncryptionKeyFile = filepath.Join(cfg.DataDir, keyEncryptionKeyFile)
		}
	}

	var started []*server.Server
	fail := func(err error) (*Stack, error) {
		for _, s := range started {
			err = errors.Join(err, closeUnstarted(s))
		}
		for _, dir := range st.tempDirs {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	// Identity first: it checks every other service's credentials.
	identityCfg := serverConfig(cfg.IdentityGRPCAddr, cfg.IdentityHTTPAddr)
	identityCfg.BootstrapAdminKey = st.AdminKey
	identitySrv, err := identity.Config{
		Server:   identityCfg,
		Database: sqlstore.Config{URL: dbURL(identity.Name), MaxConns: 16},
		RedisURL: cfg.RedisURL,
		DevMode:  true,
		Now:      cfg.Now,
	}.Complete(ctx, log.With("service", identity.Name))
	if err != nil {
		return fail(fmt.Errorf("identity service: %w", err))
	}
	started = append(started, identitySrv)
	st.IdentityGRPCAddr, st.IdentityHTTPAddr = identitySrv.GRPCAddr(), identitySrv.HTTPAddr()

	tenantCfg := serverConfig(cfg.TenantGRPCAddr, cfg.TenantHTTPAddr)
	tenantCfg.IdentityAddr = st.IdentityGRPCAddr
	tenantSrv, err := tenant.Config{
		Server:        tenantCfg,
		Database:      sqlstore.Config{URL: dbURL(tenant.Name), MaxConns: 16},
		Regions:       tenant.DefaultRegions,
		PurgeInterval: purgeInterval,
		Now:           cfg.Now,
	}.Complete(ctx, log.With("service", tenant.Name))
	if err != nil {
		return fail(fmt.Errorf("tenant service: %w", err))
	}
	started = append(started, tenantSrv)
	st.TenantGRPCAddr, st.TenantHTTPAddr = tenantSrv.GRPCAddr(), tenantSrv.HTTPAddr()

	datagatewayCfg := serverConfig(cfg.DatagatewayGRPCAddr, cfg.DatagatewayHTTPAddr)
	datagatewayCfg.IdentityAddr = st.IdentityGRPCAddr
	datagatewaySrv, err := datagateway.Config{
		Server:            datagatewayCfg,
		Database:          sqlstore.Config{URL: dbURL(datagateway.Name), MaxConns: 16},
		KeyEncryptionKeys: keks,
		// Sources on this machine (loopback, plain HTTP, no TLS) are what a developer has.
		DevMode: true,
		// The binary's defaults (datagateway serve --help).
		RowLimit:          100_000_000,
		QueryTimeout:      10 * time.Minute,
		HeartbeatInterval: 10 * time.Second,
		HeartbeatTimeout:  30 * time.Second,
		BatchRows:         1000,
		WALWarningBytes:   1 << 30,
		Now:               cfg.Now,
	}.Complete(ctx, log.With("service", datagateway.Name))
	if err != nil {
		return fail(fmt.Errorf("datagateway: %w", err))
	}
	started = append(started, datagatewaySrv)
	st.DatagatewayGRPCAddr, st.DatagatewayHTTPAddr = datagatewaySrv.GRPCAddr(), datagatewaySrv.HTTPAddr()

	// Snapshots live in the data folder, so apps open at once after a restart; a stack
	// without one (tests) keeps them in a temporary folder of its own.
	snapshotDir := filepath.Join(cfg.DataDir, "snapshots")
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "oriel-snapshots-")
		if err != nil {
			return fail(err)
		}
		snapshotDir = dir
		st.tempDirs = append(st.tempDirs, dir)
	}
	contentCfg := serverConfig(cfg.ContentGRPCAddr, cfg.ContentHTTPAddr)
	contentCfg.IdentityAddr = st.IdentityGRPCAddr
	contentSrv, err := content.Config{
		Server:        contentCfg,
		Database:      sqlstore.Config{URL: dbURL(content.Name), MaxConns: 16},
		TenantAddr:    st.TenantGRPCAddr,
		PurgeInterval: purgeInterval,
		// Reloads and live charts query through the datagateway with the admin key.
		DatagatewayAddr:    st.DatagatewayGRPCAddr,
		RedisURL:           cfg.RedisURL,
		DevMode:            true,
		SnapshotDir:        snapshotDir,
		ModelMemoryMB:      1024,
		ReloadConcurrency:  2,
		ReloadTenantLimit:  1,
		ReloadQueryTimeout: 30 * time.Minute,
		// One machine, one operator: the admin key follows the tenant service's events and
		// runs reloads' queries.
		ServiceAPIKey: st.AdminKey,
		Now:           cfg.Now,
	}.Complete(ctx, log.With("service", content.Name))
	if err != nil {
		return fail(fmt.Errorf("content service: %w", err))
	}
	started = append(started, contentSrv)
	st.ContentGRPCAddr, st.ContentHTTPAddr = contentSrv.GRPCAddr(), contentSrv.HTTPAddr()

	ratePlans := cfg.GatewayRatePlans
	if len(ratePlans) == 0 {
		ratePlans = devRatePlans
	}
	edge, err := gateway.New(ctx, gateway.Config{
		Addr:            loopback(cfg.GatewayAddr),
		TenantAddr:      st.TenantGRPCAddr,
		IdentityAddr:    st.IdentityGRPCAddr,
		ContentAddr:     st.ContentGRPCAddr,
		DatagatewayAddr: st.DatagatewayGRPCAddr,
		CallTimeout:     30 * time.Second,
		StreamTimeout:   time.Hour,
		MaxBodyBytes:    1 << 20,
		ShutdownTimeout: 5 * time.Second,
		Routes:          cfg.GatewayRoutes,
		// One machine, one operator: the admin key reads tenants' settings (allowed
		// origins, theme, rate plan).
		ServiceAPIKey:      st.AdminKey,
		TenantCacheTTL:     5 * time.Second,
		CredentialCacheTTL: 5 * time.Second,
		// Rate-limit buckets in Redis when the stack has one, else in memory.
		RedisURL:  cfg.RedisURL,
		DevMode:   cfg.RedisURL == "",
		RatePlans: ratePlans,
	}, log.With("service", "gateway"))
	if err != nil {
		return fail(fmt.Errorf("gateway: %w", err))
	}
	st.GatewayURL = "http://" + strings.Replace(edge.Addr(), "[::]", "localhost", 1)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st.cancel = cancel
	var wg sync.WaitGroup
	var mu sync.Mutex
	record := func(err error) {
		if err != nil {
			mu.Lock()
			st.err = errors.Join(st.err, err)
			mu.Unlock()
		}
	}
	for _, s := range started {
		wg.Go(func() { record(s.Run(runCtx)) })
	}
	wg.Go(func() { record(edge.Run(runCtx)) })
	go func() {
		wg.Wait()
		for _, dir := range st.tempDirs {
			_ = os.RemoveAll(dir)
		}
		close(st.done)
	}()

	for _, s := range started {
		select {
		case <-s.Ready():
		case <-st.done:
			return nil, fmt.Errorf("devstack: stopped while starting: %w", st.err)
		case <-ctx.Done():
			_ = st.Stop()
			return nil, ctx.Err()
		}
	}
	return st, nil
}

// closeUnstarted releases a server that was built but never run.
func closeUnstarted(s *server.Server) error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Run(ctx)
}

// Stop shuts everything down and waits for it.
func (s *Stack) Stop() error {
	s.cancel()
	<-s.done
	return s.err
}

// Done is closed when the stack has stopped.
func (s *Stack) Done() <-chan struct{} { return s.done }

// keyEncryptionKeyFile is where `oriel dev` keeps the datagateway's key-encryption key.
const keyEncryptionKeyFile = "datagateway.keys"

// loadOrCreateKeyEncryptionKey returns the datagateway's key-encryption keys from dataDir,
// creating the file (mode 0600) with one new key (`dev1:<base64 of 32 random bytes>`) at
// first start. Without dataDir the key lives as long as this process: fine for a stack
// whose stores are as fresh as it is.
func loadOrCreateKeyEncryptionKey(dataDir string) (string, error) {
	newKey := func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		return "dev1:" + base64.StdEncoding.EncodeToString(b)
	}
	if dataDir == "" {
		return newKey(), nil
	}
	path := filepath.Join(dataDir, keyEncryptionKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		keys := strings.TrimSpace(string(b))
		if keys == "" {
			return "", fmt.Errorf("%s is empty: restore it from a backup (without it the stored connection credentials cannot be decrypted), or delete the data folder to start over", path)
		}
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	keys := newKey()
	if err := writeSecretFile(path, keys); err != nil {
		return "", err
	}
	return keys, nil
}

// writeSecretFile creates path (mode 0600, failing if it exists) holding secret and a
// newline, synced to disk.
func writeSecretFile(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadOrCreateKey reads the admin key file, or creates it (mode 0600) with a new key.
func loadOrCreateKey(path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key = strings.TrimSpace(string(b))
		if _, err := auth.NewBootstrapKey(key); err != nil {
			return "", false, fmt.Errorf("%s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	key = auth.GenerateAPIKey()
	if err := writeSecretFile(path, key); err != nil {
		return "", false, err
	}
	return key, true, nil
}
