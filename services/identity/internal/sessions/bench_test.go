package sessions_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
)

// benchCallers is the number of concurrent callers the benchmarks use.
const benchCallers = 32

// runParallel runs op from benchCallers goroutines and reports throughput; the
// ops/s figures of BenchmarkRedisSetGetFloor are what these compare against.
func runParallel(b *testing.B, op func(ctx context.Context, i int64) error) {
	b.Helper()
	// SetParallelism multiplies GOMAXPROCS; round up so there are at least 32 callers.
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchCallers + procs - 1) / procs)
	var seq atomic.Int64
	ctx := context.Background()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func benchClient(b *testing.B) *redis.Client {
	return newClient(b, productionOptions(redisOptions(b)))
}

func benchSession(tenant, user string) *sessions.Session {
	now := time.Now()
	return &sessions.Session{
		ID: "s", Tenant: tenant, User: user, IdentityProvider: "idp",
		Roles: []string{"viewer"}, Groups: []string{"sales", "emea"},
		AllowedOrigin: "https://app.example.com",
		Attributes:    map[string]string{"region": "emea"},
		CreateTime:    now, ExpireTime: now.Add(5 * time.Minute), TTL: 5 * time.Minute,
		TenantEpoch: 1, UserEpoch: 1,
	}
}

// BenchmarkRedisGet measures the introspection read: one script returning a session and
// its user's revocation state.
func BenchmarkRedisGet(b *testing.B) {
	store := sessions.NewRedis(benchClient(b))
	tenant := testkit.UniqueID("bench")
	ctx := context.Background()
	const sessionsInUse = 1024
	for i := range sessionsInUse {
		if err := store.Put(ctx, "h"+strconv.Itoa(i), benchSession(tenant, "u"+strconv.Itoa(i%64))); err != nil {
			b.Fatal(err)
		}
	}
	if err := store.LoadState(ctx, tenant, sessions.FullState{TenantEpoch: 1}); err != nil {
		b.Fatal(err)
	}
	runParallel(b, func(ctx context.Context, i int64) error {
		_, _, err := store.Get(ctx, tenant, "h"+strconv.FormatInt(i%sessionsInUse, 10))
		return err
	})
}

// BenchmarkRedisPut measures storing a new session: one script writing the session,
// its expiry and the user index.
func BenchmarkRedisPut(b *testing.B) {
	store := sessions.NewRedis(benchClient(b))
	tenant := testkit.UniqueID("bench")
	s := benchSession(tenant, "u")
	runParallel(b, func(ctx context.Context, i int64) error {
		c := *s
		c.User = "u" + strconv.FormatInt(i%64, 10)
		return store.Put(ctx, "h"+strconv.FormatInt(i, 10), &c)
	})
}

// BenchmarkRedisSetGetFloor is the floor for the two above: a plain GET and SET of a
// value about the size of a session, with the same client and callers.
func BenchmarkRedisSetGetFloor(b *testing.B) {
	client := benchClient(b)
	prefix := "oriel:{" + testkit.UniqueID("bench") + "}:floor:"
	value := make([]byte, 300)
	for i := range value {
		value[i] = 'x'
	}
	ctx := context.Background()
	const keys = 1024
	for i := range keys {
		if err := client.Set(ctx, prefix+strconv.Itoa(i), value, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("GET", func(b *testing.B) {
		runParallel(b, func(ctx context.Context, i int64) error {
			return client.Get(ctx, prefix+strconv.FormatInt(i%keys, 10)).Err()
		})
	})
	b.Run("SET", func(b *testing.B) {
		runParallel(b, func(ctx context.Context, i int64) error {
			return client.Set(ctx, prefix+strconv.FormatInt(i, 10), value, time.Hour).Err()
		})
	})
}
