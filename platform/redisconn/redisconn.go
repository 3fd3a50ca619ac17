// Package redisconn opens Oriel's Redis connections: one way, with timeouts short enough
// that a slow Redis turns into a fast UNAVAILABLE instead of hung calls.
package redisconn

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

func init() {
	// go-redis prints pool trouble to stderr on its own; callers see every failure as an
	// error and log it with its request, so its own printing is noise.
	redis.SetLogger(quiet{})
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Open connects to url (`redis://[user:password@]host:port/db` or `rediss://…` for TLS)
// and checks that it answers.
func Open(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// go-redis' parse errors may quote the URL, password included.
		return nil, fmt.Errorf("redis: invalid URL (want redis://host:port/db)")
	}
	opts.DialTimeout = 2 * time.Second
	// Calls carry their own deadlines; these bound a call without one.
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.ContextTimeoutEnabled = true
	opts.PoolSize = 64
	opts.MinIdleConns = 4
	// One retry mends a pooled connection Redis closed; more only delay the UNAVAILABLE
	// that a Redis that is really down must produce.
	opts.MaxRetries = 1
	opts.DialerRetries = 2
	// RESP2: Oriel uses no RESP3 feature (no client-side caching, no push messages), and
	// RESP3's per-read push-notification handling costs CPU on every call.
	opts.Protocol = 2
	client := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis: connect to %s: %w", opts.Addr, err)
	}
	return client, nil
}
