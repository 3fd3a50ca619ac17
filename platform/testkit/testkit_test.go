package testkit

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestPostgresDatabaseGivesEachCallItsOwnDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second := PostgresDatabase(t), PostgresDatabase(t)
	if databaseName(t, first) == databaseName(t, second) {
		t.Fatalf("both calls returned database %q", databaseName(t, first))
	}

	a := connect(t, first)
	b := connect(t, second)
	if _, err := a.Exec(ctx, "CREATE TABLE widgets (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("create table in first database: %v", err)
	}
	if _, err := a.Exec(ctx, "INSERT INTO widgets VALUES (1)"); err != nil {
		t.Fatalf("insert into first database: %v", err)
	}
	var visible bool
	if err := b.QueryRow(ctx, "SELECT to_regclass('widgets') IS NOT NULL").Scan(&visible); err != nil {
		t.Fatalf("query second database: %v", err)
	}
	if visible {
		t.Fatal("table created in the first database is visible in the second")
	}
}

func TestPostgresDatabaseIsDroppedWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("uses a database", func(t *testing.T) {
		dbURL := PostgresDatabase(t)
		name = databaseName(t, dbURL)
		// An open connection must not keep the database alive: cleanup drops WITH (FORCE).
		conn := connect(t, dbURL)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		if !databaseExists(t, name) {
			t.Fatalf("database %s does not exist during the test", name)
		}
	})
	if name == "" {
		t.Fatal("subtest did not create a database")
	}
	if databaseExists(t, name) {
		t.Fatalf("database %s still exists after the subtest's cleanup", name)
	}
}

func TestPostgresDatabaseNamesAreValidIdentifiers(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	now := time.Now()
	for range 1000 {
		name := newTestDatabaseName(now)
		if len(name) > 63 || !valid.MatchString(name) {
			t.Fatalf("name %q is not a valid unquoted identifier of at most 63 bytes", name)
		}
		if seen[name] {
			t.Fatalf("name %q generated twice", name)
		}
		seen[name] = true
		created, ok := testDatabaseCreated(name)
		if !ok || created.Unix() != now.Unix() {
			t.Fatalf("creation time of %q read back as %v, %v; want %v", name, created, ok, now.Unix())
		}
	}
}

func TestPostgresDatabaseFailsWithHintWhenServerIsUnreachable(t *testing.T) {
	t.Setenv(PostgresURLEnv, "postgres://postgres:s3cret@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1")
	msg, skipped := runExpectingFatal(t, func(tb testing.TB) { PostgresDatabase(tb) })
	if skipped {
		t.Fatal("an unreachable server skipped the test; it must fail it")
	}
	for _, want := range []string{"127.0.0.1:1", "make test", PostgresURLEnv} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cret") {
		t.Errorf("failure message %q leaks the password", msg)
	}
}

func TestWithDatabaseKeepsServerAndOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, admin, want string
	}{
		{"url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
			"postgres://postgres@127.0.0.1:5432/oriel_test_x?sslmode=disable"},
		{"url with password and no path", "postgresql://u:p%40ss@db:6000?sslmode=require",
			"postgresql://u:p%40ss@db:6000/oriel_test_x?sslmode=require"},
		{"keyword value", "host=/tmp user=postgres dbname=postgres",
			"host=/tmp user=postgres dbname=postgres dbname=oriel_test_x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := withDatabase(tc.admin, "oriel_test_x")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("withDatabase(%q) = %q, want %q", tc.admin, got, tc.want)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			if cfg.Database != "oriel_test_x" {
				t.Fatalf("result connects to database %q", cfg.Database)
			}
		})
	}
}

func TestRedisLeasesADatabaseOtherThanZeroForThisProcess(t *testing.T) {
	t.Parallel()
	client := Redis(t)
	db := client.Options().DB
	if db < 1 {
		t.Fatalf("client uses DB %d; DB 0 holds the leases and must never be handed out", db)
	}
	if got := RedisDB(t); got != db {
		t.Fatalf("RedisDB = %d, client uses DB %d", got, db)
	}

	admin := redisOnDB(t, 0)
	ctx := context.Background()
	key := RedisLeaseKeyPrefix + strconv.Itoa(db)
	owner, err := admin.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("read lease %s in DB 0: %v", key, err)
	}
	if owner != lease.owner {
		t.Fatalf("lease %s is held by %q, want this process (%q)", key, owner, lease.owner)
	}
	ttl, err := admin.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 0 || ttl > redisLeaseTTL {
		t.Fatalf("lease TTL is %v, want in (0, %v] so a dead process frees it", ttl, redisLeaseTTL)
	}
}

func TestRedisClientsOfOneProcessShareTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, second := Redis(t), Redis(t)
	if first == second {
		t.Fatal("both calls returned the same client; each caller must own (and may close) its own")
	}
	if first.Options().DB != second.Options().DB {
		t.Fatalf("clients use DBs %d and %d", first.Options().DB, second.Options().DB)
	}
	key := UniqueID("shared")
	if err := first.Set(ctx, key, "hello", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := second.Get(ctx, key).Result()
	if err != nil || got != "hello" {
		t.Fatalf("second client reads %q, %v; want the first client's value", got, err)
	}
}

func TestRedisLeaseRenewal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := redisOnDB(t, 0)
	ttl := strconv.FormatInt(redisLeaseTTL.Milliseconds(), 10)
	tests := []struct {
		name      string
		holder    string // "" leaves the key missing
		wantKept  int
		wantOwner string
	}{
		{"extends our own lease", "me", 1, "me"},
		{"takes back a lapsed lease nobody claimed", "", 1, "me"},
		{"never takes a lease another process holds", "someone-else", 0, "someone-else"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A key of its own in DB 0, so the real leases are never touched.
			key := "oriel:testkit:test:" + UniqueID("lease")
			t.Cleanup(func() { admin.Del(context.Background(), key) })
			if tc.holder != "" {
				if err := admin.Set(ctx, key, tc.holder, time.Second).Err(); err != nil {
					t.Fatal(err)
				}
			}
			kept, err := renewLease.Run(ctx, admin, []string{key}, "me", ttl).Int()
			if err != nil {
				t.Fatal(err)
			}
			if kept != tc.wantKept {
				t.Fatalf("renewal returned %d, want %d", kept, tc.wantKept)
			}
			owner, _ := admin.Get(ctx, key).Result()
			if owner != tc.wantOwner {
				t.Fatalf("lease is held by %q, want %q", owner, tc.wantOwner)
			}
			if tc.wantKept == 1 {
				if pttl := admin.PTTL(ctx, key).Val(); pttl <= time.Second {
					t.Fatalf("lease TTL is %v after renewal, want about %v", pttl, redisLeaseTTL)
				}
			}
		})
	}
}

func TestRedisLeaseFailsWithHintWhenServerIsUnreachable(t *testing.T) {
	t.Parallel()
	_, err := leaseRedisDB("redis://:s3cret@127.0.0.1:1", "owner", new(atomic.Bool))
	if err == nil {
		t.Fatal("leasing from a closed port succeeded")
	}
	for _, want := range []string{"127.0.0.1:1", "make test", RedisURLEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q leaks the password", err)
	}
}

func TestUniqueIDIsAValidDistinctResourceID(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	tests := []struct {
		name, prefix, wantPrefix string
	}{
		{"plain prefix is kept", "tenant", "tenant-"},
		{"empty prefix", "", "id-"},
		{"mixed case and symbols", "My Tenant_Name!!", "my-tenant-name-"},
		{"leading digit", "42apps", "t42apps-"},
		{"leading and trailing junk", "--a--b--", "a-b-"},
		{"long prefix is shortened", "a-very-long-prefix-for-a-resource-id", "a-very-long-prefix-"},
		{"non-ascii", "Größe", "gr-e-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 500 {
				id := UniqueID(tc.prefix)
				if len(id) > 30 || !valid.MatchString(id) || strings.Contains(id, "--") {
					t.Fatalf("UniqueID(%q) = %q, not a valid resource id of at most 30 characters", tc.prefix, id)
				}
				if !strings.HasPrefix(id, tc.wantPrefix) {
					t.Fatalf("UniqueID(%q) = %q, want prefix %q", tc.prefix, id, tc.wantPrefix)
				}
				if seen[id] {
					t.Fatalf("UniqueID(%q) returned %q twice", tc.prefix, id)
				}
				seen[id] = true
			}
		})
	}
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", dbURL, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	conn := connect(t, postgresAdminURL())
	var exists bool
	err := conn.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	return exists
}

func redisOnDB(t *testing.T, db int) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	opts.DB = db
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// fatalRecorder stands in for a test so a helper's Fatalf can be observed
// without failing the real test.
type fatalRecorder struct {
	testing.TB
	mu      sync.Mutex
	msg     string
	skipped bool
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

func (r *fatalRecorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) Skip(args ...any) { r.Skipf("%s", fmt.Sprint(args...)) }
func (r *fatalRecorder) SkipNow()         { r.Skipf("") }

// runExpectingFatal runs f and returns the message it failed with.
func runExpectingFatal(t *testing.T, f func(testing.TB)) (msg string, skipped bool) {
	t.Helper()
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.msg == "" && !r.skipped {
		t.Fatal("helper returned normally; want it to fail the test")
	}
	return r.msg, r.skipped
}
