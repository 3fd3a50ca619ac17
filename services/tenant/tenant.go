// Package tenant is the tenant service: it owns tenants, the region catalog, the tenant
// lifecycle (deactivation, purge) and tenant events. Its binary is cmd/tenant; `oriel dev`
// runs it in-process through Config.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/grpc"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/server"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/tenant/internal/api"
	"github.com/oriel-dev/oriel/services/tenant/internal/purge"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// Name is the service's name and its PostgreSQL schema.
const Name = "tenant"

// Default addresses: gRPC on 9101, metrics and probes on 9201.
const (
	DefaultGRPCAddr = ":9101"
	DefaultHTTPAddr = ":9201"
)

// DefaultRegions is the region catalog unless configured otherwise.
const DefaultRegions = "us-east=US East;eu-west=Europe West;eu-central=Europe Central;" +
	"ap-southeast=Asia Pacific Southeast;ap-northeast=Asia Pacific Northeast"

// Vars are the defaults the flags of Config refer to.
var Vars = kong.Vars{
	"grpc_addr": DefaultGRPCAddr,
	"http_addr": DefaultHTTPAddr,
	"regions":   DefaultRegions,
}

// Config configures the tenant service. Its tags are the flags of `tenant serve`.
type Config struct {
	Server        server.Config   `embed:""`
	Database      sqlstore.Config `embed:""`
	Regions       string          `name:"regions" default:"${regions}" help:"The region catalog: code=Display name entries separated by ';'."`
	PurgeInterval time.Duration   `name:"purge-interval" default:"1m" help:"How often to purge tenants whose purge time has passed."`
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time `kong:"-"`
}

var regionCode = regexp.MustCompile(`^[a-z][a-z0-9-]{1,61}[a-z0-9]$`)

// ParseRegions reads a catalog in the form of DefaultRegions.
func ParseRegions(s string) ([]api.Region, error) {
	var out []api.Region
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		code, display, ok := strings.Cut(entry, "=")
		code, display = strings.TrimSpace(code), strings.TrimSpace(display)
		switch {
		case !ok || display == "":
			return nil, fmt.Errorf("region %q: want code=Display name", entry)
		case !regionCode.MatchString(code):
			return nil, fmt.Errorf("region code %q: want 3 to 63 lowercase letters, digits and hyphens", code)
		case seen[code]:
			return nil, fmt.Errorf("region %q is listed twice", code)
		}
		seen[code] = true
		out = append(out, api.Region{Code: code, DisplayName: display})
	}
	if len(out) == 0 {
		return nil, errors.New("the region catalog is empty")
	}
	return out, nil
}

// Complete validates the configuration, opens the database and returns the service ready
// to Run. It does not migrate: the service reports NOT_SERVING until Migrate has run.
func (c Config) Complete(ctx context.Context, log *slog.Logger) (*server.Server, error) {
	regions, err := ParseRegions(c.Regions)
	if err != nil {
		return nil, fmt.Errorf("--regions: %w", err)
	}
	if c.PurgeInterval <= 0 {
		return nil, errors.New("--purge-interval must be > 0")
	}
	if err := c.Server.Validate(); err != nil {
		return nil, err
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	db, err := sqlstore.Open(ctx, c.Database.URL, sqlstore.Options{Schema: Name, MaxConns: c.Database.MaxConns})
	if err != nil {
		return nil, err
	}
	closers := &server.Closers{}
	closers.Push("database", func() error { db.Close(); return nil })
	st := store.SQL(db)
	log = log.With("service", Name)
	srv, err := server.New(c.Server, server.Service{
		Name: Name,
		Register: func(s *grpc.Server) {
			tenantv1.RegisterTenantServiceServer(s, api.New(st, regions, log, now))
		},
		Ready: func(ctx context.Context) (bool, error) { return db.AtHead(ctx, store.Migrations) },
		Workers: map[string]server.Worker{
			"purge": purge.New(st, log, now, c.PurgeInterval).Run,
		},
		Closers: closers,
	}, log)
	if err != nil {
		_ = closers.Close()
		return nil, err
	}
	return srv, nil
}

// Migrate brings the schema at databaseURL to head.
func Migrate(ctx context.Context, databaseURL string, log *slog.Logger) error {
	return sqlstore.MigrateURL(ctx, databaseURL, Name, store.Migrations, log)
}
