package gateway

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oriel-dev/oriel/platform/testkit"
)

// rateLimiterConformance is what every rateLimiter must do. Rates are per hour so that no
// token comes back while a test runs: every count is exact however slow the machine, and
// nothing is timed.
func rateLimiterConformance(t *testing.T, newLimiter func(t *testing.T) rateLimiter) {
	ctx := context.Background()
	hourly := RateLimit{Rate: 1, Period: time.Hour, Burst: 3}

	t.Run("a fresh bucket allows its burst, then refuses", func(t *testing.T) {
		t.Parallel()
		l, key := newLimiter(t), testkit.UniqueID("burst")
		for i, want := range []int{2, 1, 0} {
			d, err := l.Allow(ctx, key, hourly)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Allowed || d.Limit != 3 || d.Remaining != want || d.RetryAfter != 0 {
				t.Fatalf("call %d: %+v, want allowed with limit 3 and %d remaining", i+1, d, want)
			}
			// Full again once every spent token came back: (i+1) hours at most.
			if d.ResetAfter <= time.Duration(i)*time.Hour || d.ResetAfter > time.Duration(i+1)*time.Hour {
				t.Fatalf("call %d: ResetAfter %s, want in (%dh, %dh]", i+1, d.ResetAfter, i, i+1)
			}
		}
		for i := range 2 {
			d, err := l.Allow(ctx, key, hourly)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed || d.Remaining != 0 || d.Limit != 3 {
				t.Fatalf("refusal %d: %+v, want refused with 0 remaining", i+1, d)
			}
			// The next token comes an hour after the first call, so a little under an hour
			// from now (the test took some of it).
			if d.RetryAfter <= 50*time.Minute || d.RetryAfter > time.Hour {
				t.Fatalf("refusal %d: RetryAfter %s, want just under an hour", i+1, d.RetryAfter)
			}
			if d.ResetAfter <= 2*time.Hour || d.ResetAfter > 3*time.Hour {
				t.Fatalf("refusal %d: ResetAfter %s, want just under three hours", i+1, d.ResetAfter)
			}
		}
	})

	t.Run("buckets are independent", func(t *testing.T) {
		t.Parallel()
		l := newLimiter(t)
		one, two := testkit.UniqueID("one"), testkit.UniqueID("two")
		single := RateLimit{Rate: 1, Period: time.Hour, Burst: 1}
		if d, err := l.Allow(ctx, one, single); err != nil || !d.Allowed {
			t.Fatalf("first bucket: %+v %v", d, err)
		}
		if d, err := l.Allow(ctx, one, single); err != nil || d.Allowed {
			t.Fatalf("first bucket again: %+v %v, want refused", d, err)
		}
		if d, err := l.Allow(ctx, two, single); err != nil || !d.Allowed {
			t.Fatalf("second bucket: %+v %v, want its own token", d, err)
		}
	})

	t.Run("a faster rate spaces tokens closer", func(t *testing.T) {
		t.Parallel()
		l, key := newLimiter(t), testkit.UniqueID("minute")
		perMinute := RateLimit{Rate: 60, Period: time.Hour, Burst: 1}
		if d, err := l.Allow(ctx, key, perMinute); err != nil || !d.Allowed || d.ResetAfter > time.Minute {
			t.Fatalf("first: %+v %v, want allowed and full again within a minute", d, err)
		}
		d, err := l.Allow(ctx, key, perMinute)
		if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
			t.Fatalf("second: %+v %v, want refused for under a minute", d, err)
		}
	})
}

func TestRateLimiterConformanceRedis(t *testing.T) {
	t.Parallel()
	client := testkit.Redis(t)
	rateLimiterConformance(t, func(*testing.T) rateLimiter { return newRedisRateLimiter(client) })
}

func TestRateLimiterConformanceMemory(t *testing.T) {
	t.Parallel()
	rateLimiterConformance(t, func(*testing.T) rateLimiter { return newMemoryRateLimiter(time.Now) })
}

// The memory limiter forgets full buckets, so its memory follows recent callers only.
func TestMemoryRateLimiterForgetsFullBuckets(t *testing.T) {
	t.Parallel()
	clock := &testkit.Clock{}
	l := newMemoryRateLimiter(clock.Now)
	perSecond := RateLimit{Rate: 1, Period: time.Second, Burst: 1}
	for i := range memorySweepEvery - 1 {
		_, _ = l.Allow(context.Background(), "k"+strings.Repeat("x", i%7)+string(rune('a'+i%26)), perSecond)
	}
	clock.Advance(time.Hour)
	_, _ = l.Allow(context.Background(), "last", perSecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tat) != 1 {
		t.Fatalf("%d buckets kept, want only the last caller's", len(l.tat))
	}
}

// When Redis fails, calls go through without RateLimit headers and a warning is logged:
// the API's availability matters more than its limits.
func TestRateLimitsFailOpenWhenRedisFails(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	logs := &testkit.LogBuffer{}
	g := &Gateway{log: slog.New(slog.NewTextHandler(logs, nil)), limiter: newRedisRateLimiter(client)}
	plan := RatePlan{Credential: RateLimit{Rate: 1, Period: time.Hour, Burst: 1}, Tenant: RateLimit{Rate: 1, Period: time.Hour, Burst: 1}}
	v := g.takeTokens(context.Background(), rateBuckets{credentialKey: "c", tenantKey: "t", plan: plan})
	if v.ok {
		t.Fatalf("verdict %+v with Redis down, want none (the call goes through)", v)
	}
	if !strings.Contains(logs.String(), "rate limit not applied") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
}

// Redis Cluster keeps a tenant's buckets in one slot: every key carries the tenant as its
// hash tag, and a credential's bucket its own tenant's.
func TestRateBucketKeysAreHashTaggedByTenant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                                     string
		credential, credentialTenant, ip, tenant string
		wantCredential, wantTenant               string
	}{
		{"a tenant's key", "tenants/acme/serviceAccounts/ci/keys/k1", "acme", "10.0.0.1", "acme",
			"oriel:edge:{acme}:credential:tenants/acme/serviceAccounts/ci/keys/k1", "oriel:edge:{acme}:tenant"},
		{"a platform key in a tenant", "serviceAccounts/isv/keys/k1", "", "10.0.0.1", "acme",
			"oriel:edge:{platform}:credential:serviceAccounts/isv/keys/k1", "oriel:edge:{acme}:tenant"},
		{"a platform key listing tenants", "serviceAccounts/isv/keys/k1", "", "10.0.0.1", "",
			"oriel:edge:{platform}:credential:serviceAccounts/isv/keys/k1", ""},
		{"no credential", "", "", "10.0.0.1", "acme", "oriel:edge:{acme}:ip:10.0.0.1", "oriel:edge:{acme}:tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tk := bucketKeys(tc.credential, tc.credentialTenant, tc.ip, tc.tenant)
			if c != tc.wantCredential || tk != tc.wantTenant {
				t.Fatalf("keys %q %q, want %q %q", c, tk, tc.wantCredential, tc.wantTenant)
			}
		})
	}
}
