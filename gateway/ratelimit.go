package gateway

import (
	"context"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// rateLimiter takes one token from a bucket. Both implementations are GCRA token buckets
// with the same answers; rateLimiterConformance in ratelimit_test.go holds them to it.
type rateLimiter interface {
	// Allow takes a token from key's bucket, sized by limit. An error means the bucket
	// could not be asked (Redis is down); the edge then lets the call through.
	Allow(ctx context.Context, key string, limit RateLimit) (rateDecision, error)
}

// rateDecision is what a bucket said about one call.
type rateDecision struct {
	Allowed bool
	// Limit is the bucket's size (its burst).
	Limit int
	// Remaining is how many calls the bucket would allow at once now.
	Remaining int
	// RetryAfter is when the next call will be allowed (0 when this one was).
	RetryAfter time.Duration
	// ResetAfter is when the bucket will be full again.
	ResetAfter time.Duration
}

// redisRateLimiter keeps buckets in Redis (redis_rate's GCRA script, run on Redis's
// clock, so every edge replica shares the buckets).
type redisRateLimiter struct{ l *redis_rate.Limiter }

func newRedisRateLimiter(client redis.UniversalClient) *redisRateLimiter {
	return &redisRateLimiter{l: redis_rate.NewLimiter(client)}
}

func (r *redisRateLimiter) Allow(ctx context.Context, key string, limit RateLimit) (rateDecision, error) {
	res, err := r.l.Allow(ctx, key, redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period})
	if err != nil {
		return rateDecision{}, err
	}
	d := rateDecision{Allowed: res.Allowed > 0, Limit: limit.Burst, Remaining: res.Remaining, ResetAfter: max(res.ResetAfter, 0)}
	if !d.Allowed {
		d.RetryAfter = max(res.RetryAfter, 0)
	}
	return d, nil
}

// memorySweepEvery is how many calls the memory limiter takes between sweeps of full
// buckets.
const memorySweepEvery = 4096

// memoryRateLimiter keeps buckets in process memory, for --dev-mode: the same GCRA as
// redis_rate's script, on the process's clock.
type memoryRateLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	// tat is each bucket's theoretical arrival time: the bucket is full again then.
	tat   map[string]time.Time
	calls int
}

func newMemoryRateLimiter(now func() time.Time) *memoryRateLimiter {
	if now == nil {
		now = time.Now
	}
	return &memoryRateLimiter{now: now, tat: map[string]time.Time{}}
}

func (m *memoryRateLimiter) Allow(_ context.Context, key string, limit RateLimit) (rateDecision, error) {
	now := m.now()
	emission := limit.Period / time.Duration(limit.Rate)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls%memorySweepEvery == 0 {
		// Full buckets are the same as no bucket: drop them, so memory follows the
		// callers of the last few periods, not of all time.
		for k, t := range m.tat {
			if !t.After(now) {
				delete(m.tat, k)
			}
		}
	}
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(emission)
	allowAt := newTAT.Add(-emission * time.Duration(limit.Burst))
	diff := now.Sub(allowAt)
	if diff < 0 {
		return rateDecision{Limit: limit.Burst, RetryAfter: -diff, ResetAfter: tat.Sub(now)}, nil
	}
	m.tat[key] = newTAT
	return rateDecision{Allowed: true, Limit: limit.Burst, Remaining: int(diff / emission), ResetAfter: newTAT.Sub(now)}, nil
}

// rateBuckets are the two buckets a call takes a token from, named so that Redis Cluster
// keeps each tenant's buckets in one slot (the {…} hash tag).
type rateBuckets struct {
	credentialKey, tenantKey string
	plan                     RatePlan
}

// bucketKeys names the buckets of a call: the credential's (by its name, never its
// secret; the client IP's for calls without an API key or embed token), tagged by the
// tenant the credential belongs to, and the tenant's. A call without a tenant (a platform
// key listing tenants) takes from its credential's bucket only.
func bucketKeys(credential, credentialTenant, ip, tenant string) (credentialKey, tenantKey string) {
	if credential != "" {
		credentialKey = "oriel:edge:{" + tagOr(credentialTenant, "platform") + "}:credential:" + credential
	} else {
		credentialKey = "oriel:edge:{" + tagOr(tenant, "anonymous") + "}:ip:" + ip
	}
	if tenant != "" {
		tenantKey = "oriel:edge:{" + tenant + "}:tenant"
	}
	return credentialKey, tenantKey
}

func tagOr(tag, fallback string) string {
	if tag == "" {
		return fallback
	}
	return tag
}

// rateVerdict is the outcome of both buckets: the decision the headers report (the
// tighter bucket, or the one that refused) and which limit that is.
type rateVerdict struct {
	decision rateDecision
	limit    string
	ok       bool
}

// takeTokens asks both buckets. A failing limiter (Redis down) lets the call through
// without headers: the API's availability matters more than its limits.
func (g *Gateway) takeTokens(ctx context.Context, b rateBuckets) rateVerdict {
	var v rateVerdict
	for _, bucket := range []struct {
		name, key string
		limit     RateLimit
	}{{"credential", b.credentialKey, b.plan.Credential}, {"tenant", b.tenantKey, b.plan.Tenant}} {
		if bucket.key == "" {
			continue
		}
		d, err := g.limiter.Allow(ctx, bucket.key, bucket.limit)
		if err != nil {
			g.log.WarnContext(ctx, "rate limit not applied: the limiter failed", "bucket", bucket.name, "error", err)
			return rateVerdict{}
		}
		if !d.Allowed {
			return rateVerdict{decision: d, limit: bucket.name, ok: true}
		}
		if !v.ok || d.Remaining < v.decision.Remaining {
			v = rateVerdict{decision: d, limit: bucket.name, ok: true}
		}
	}
	return v
}

// ceilSeconds is a duration in whole seconds, rounded up, as the RateLimit headers and
// Retry-After carry it.
func ceilSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}
