package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURLEnv names the variable holding the URL of the test Redis server.
const RedisURLEnv = "ORIEL_TEST_REDIS_URL"

// DefaultRedisURL is used when RedisURLEnv is unset; it matches what `make test` starts.
const DefaultRedisURL = "redis://127.0.0.1:6379"

// RedisLeaseKeyPrefix prefixes the DB 0 keys that record which process owns which logical DB.
const RedisLeaseKeyPrefix = "oriel:testkit:lease:"

const (
	// redisLeaseTTL bounds how long a DB stays taken after its process dies without cleanup
	// (Go has no exit hook), so a crashed run blocks no one for long.
	redisLeaseTTL = 30 * time.Second
	// redisLeaseRenewal leaves two missed renewals of slack before the lease would lapse.
	redisLeaseRenewal = 10 * time.Second
	// redisLeaseWait outlasts redisLeaseTTL, so waiting always sees stale leases expire.
	redisLeaseWait     = redisLeaseTTL + 5*time.Second
	redisTimeout       = 5 * time.Second
	redisDefaultDBs    = 16
	redisLeaseDatabase = 0
)

// renewLease extends our lease, or takes the key back if it lapsed and nobody
// else took it, atomically so two processes can never both believe they own it.
var renewLease = redis.NewScript(`
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
elseif owner == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// redisLease is this process's claim on one logical DB.
type redisLease struct {
	url   string
	db    int
	owner string
	err   error
	// lost is set when another process took the DB, after which data may be shared.
	lost atomic.Bool
}

var (
	leaseOnce sync.Once
	lease     redisLease
)

// Redis returns a client on a Redis logical database that this test process has to itself.
//
// The database is leased once per process and flushed when leased, so test
// binaries running at the same time (go test ./... runs packages in parallel)
// never see each other's keys. Tests of the same package share it, so each
// test must use keys of its own (see UniqueID). Every call returns a new
// client, closed when the test finishes; the DB index is Options().DB.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	l := acquireRedisLease(t)
	opts, err := redis.ParseURL(l.url)
	if err != nil {
		t.Fatalf("testkit: parse %s: %v", RedisURLEnv, err)
	}
	opts.DB = l.db
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// RedisURL returns a redis:// URL of the logical database Redis returns clients of, for
// services under test that open their own connection.
func RedisURL(t testing.TB) string {
	t.Helper()
	l := acquireRedisLease(t)
	u, err := url.Parse(l.url)
	if err != nil {
		t.Fatalf("testkit: parse %s: %v", RedisURLEnv, err)
	}
	u.Path = "/" + strconv.Itoa(l.db)
	return u.String()
}

// RedisDB returns the index of the logical database that Redis clients of this process use.
func RedisDB(t testing.TB) int {
	t.Helper()
	return acquireRedisLease(t).db
}

func acquireRedisLease(t testing.TB) *redisLease {
	t.Helper()
	leaseOnce.Do(func() {
		lease.url = redisURL()
		lease.owner = newLeaseOwner()
		lease.db, lease.err = leaseRedisDB(lease.url, lease.owner, &lease.lost)
	})
	if lease.err != nil {
		t.Fatalf("testkit: %v", lease.err)
	}
	if lease.lost.Load() {
		t.Fatalf("testkit: lost the lease on Redis DB %d at %s (the process was stalled for over %s); "+
			"another test process may be using it", lease.db, redactRedisURL(lease.url), redisLeaseTTL)
	}
	return &lease
}

func redisURL() string {
	if u := strings.TrimSpace(os.Getenv(RedisURLEnv)); u != "" {
		return u
	}
	return DefaultRedisURL
}

// newLeaseOwner names this process in lease keys, readable for whoever debugs a stuck lease.
func newLeaseOwner() string {
	host, _ := os.Hostname()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// leaseRedisDB claims a free DB in 1..n-1, flushes it and keeps the claim alive
// for the rest of the process. DB 0 holds only the leases, so it is never handed out.
func leaseRedisDB(rawURL, owner string, lost *atomic.Bool) (int, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return 0, fmt.Errorf("parse %s=%s: %w", RedisURLEnv, redactRedisURL(rawURL), err)
	}
	opts.DB = redisLeaseDatabase
	opts.DialTimeout = redisTimeout
	opts.MaxRetries = 1
	admin := redis.NewClient(opts)

	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	err = admin.Ping(ctx).Err()
	cancel()
	if err != nil {
		_ = admin.Close()
		return 0, fmt.Errorf("cannot reach Redis at %s: %v\n"+
			"Run the tests with `make test`, which starts PostgreSQL and Redis, or set %s.",
			redactRedisURL(rawURL), err, RedisURLEnv)
	}

	databases := redisDatabaseCount(admin)
	if databases < 2 {
		_ = admin.Close()
		return 0, fmt.Errorf("redis at %s has %d logical database(s); testkit needs DB 0 for leases "+
			"and at least one more (Redis Cluster cannot be used for tests)", redactRedisURL(rawURL), databases)
	}

	deadline := time.Now().Add(redisLeaseWait)
	for {
		db, err := tryLease(admin, owner, databases)
		if err != nil {
			_ = admin.Close()
			return 0, fmt.Errorf("lease a Redis DB at %s: %w", redactRedisURL(rawURL), err)
		}
		if db > 0 {
			if err := flushDB(rawURL, db); err != nil {
				_ = admin.Close()
				return 0, fmt.Errorf("flush Redis DB %d at %s: %w", db, redactRedisURL(rawURL), err)
			}
			// The admin client lives as long as the process, like the lease it renews.
			go keepLease(admin, RedisLeaseKeyPrefix+strconv.Itoa(db), owner, lost)
			return db, nil
		}
		if time.Now().After(deadline) {
			_ = admin.Close()
			return 0, fmt.Errorf("all Redis DBs 1..%d at %s stayed leased by other test processes for %s "+
				"(keys %s<n> in DB 0 name their owners)",
				databases-1, redactRedisURL(rawURL), redisLeaseWait, RedisLeaseKeyPrefix)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// redisDatabaseCount asks the server how many logical DBs it has; servers that
// forbid CONFIG are assumed to have Redis's default.
func redisDatabaseCount(admin *redis.Client) int {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	cfg, err := admin.ConfigGet(ctx, "databases").Result()
	if err != nil {
		return redisDefaultDBs
	}
	n, err := strconv.Atoi(cfg["databases"])
	if err != nil || n <= 0 {
		return redisDefaultDBs
	}
	return n
}

// tryLease returns the first DB it could claim, or 0 if every DB is taken.
func tryLease(admin *redis.Client, owner string, databases int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	for db := 1; db < databases; db++ {
		ok, err := admin.SetNX(ctx, RedisLeaseKeyPrefix+strconv.Itoa(db), owner, redisLeaseTTL).Result()
		if err != nil {
			return 0, err
		}
		if ok {
			return db, nil
		}
	}
	return 0, nil
}

// flushDB empties a freshly leased DB, removing whatever an earlier process left.
func flushDB(rawURL string, db int) error {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return err
	}
	opts.DB = db
	opts.DialTimeout = redisTimeout
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	return c.FlushDB(ctx).Err()
}

// keepLease renews the lease until the process exits. A failed renewal (Redis
// briefly away) is retried on the next tick; only a lease taken by another
// owner is reported, since only that can make two processes share data.
func keepLease(admin *redis.Client, key, owner string, lost *atomic.Bool) {
	ticker := time.NewTicker(redisLeaseRenewal)
	defer ticker.Stop()
	ttl := strconv.FormatInt(redisLeaseTTL.Milliseconds(), 10)
	for range ticker.C {
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		kept, err := renewLease.Run(ctx, admin, []string{key}, owner, ttl).Int()
		cancel()
		if err == nil && kept == 0 {
			lost.Store(true)
			return
		}
		if err != nil && errors.Is(err, redis.ErrClosed) {
			return
		}
	}
}

// redactRedisURL hides a password so failure messages can name the URL safely.
func redactRedisURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return s
}
