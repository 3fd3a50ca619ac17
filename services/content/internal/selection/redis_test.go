package selection_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
	"github.com/oriel-dev/oriel/services/content/internal/selection/selectiontest"
)

func TestRedisPassesTheConformanceSuite(t *testing.T) {
	t.Parallel()
	selectiontest.Run(t, func(t *testing.T) selection.Store { return selection.NewRedis(testkit.Redis(t), 0) })
}

// newKey returns a key no other test uses.
func newKey() selection.Key {
	tenant := testkit.UniqueID("tenant")
	return selection.Key{Tenant: tenant, Session: "tenants/" + tenant + "/embedSessions/" + testkit.UniqueID("s"), App: "sales"}
}

func selectEU(st selection.State) (selection.State, error) {
	return st.Select("Region", []string{"EU"}, false), nil
}

func TestRedisKeysAreHashTaggedByTenant(t *testing.T) {
	t.Parallel()
	got := selection.RedisKey(selection.Key{Tenant: "acme", Session: "tenants/acme/embedSessions/s1", App: "sales"})
	testkit.RequireEqual(t, "key", "oriel:{acme}:selections:tenants/acme/embedSessions/s1:sales", got)
}

func TestRedisUpdatesSetAndRefreshTheTTL(t *testing.T) {
	t.Parallel()
	client := testkit.Redis(t)
	key := newKey()
	k := selection.RedisKey(key)
	requireTTL := func(what string, lo, hi time.Duration) {
		t.Helper()
		ttl, err := client.PTTL(t.Context(), k).Result()
		testkit.RequireNoError(t, "PTTL", err)
		if ttl < lo || ttl > hi {
			t.Fatalf("%s: TTL %v, want within [%v, %v]", what, ttl, lo, hi)
		}
	}

	s := selection.NewRedis(client, 0)
	_, err := s.Update(t.Context(), key, selectEU)
	testkit.RequireNoError(t, "Update", err)
	requireTTL("after an update", selection.DefaultTTL-time.Minute, selection.DefaultTTL)

	testkit.RequireNoError(t, "PEXPIRE", client.PExpire(t.Context(), k, 5*time.Second).Err())
	_, err = s.Get(t.Context(), key)
	testkit.RequireNoError(t, "Get", err)
	requireTTL("after a read", time.Second, 5*time.Second)
	// Even an update that changes nothing is a write, and refreshes the TTL.
	_, err = s.Update(t.Context(), key, func(st selection.State) (selection.State, error) { return st, nil })
	testkit.RequireNoError(t, "Update that changes nothing", err)
	requireTTL("after an update that changes nothing", selection.DefaultTTL-time.Minute, selection.DefaultTTL)

	s = selection.NewRedis(client, time.Hour)
	_, err = s.Update(t.Context(), key, selectEU)
	testkit.RequireNoError(t, "Update", err)
	requireTTL("after an update with a TTL of an hour", time.Hour-time.Minute, time.Hour)
}

func TestRedisStatesExpire(t *testing.T) {
	t.Parallel()
	s := selection.NewRedis(testkit.Redis(t), 200*time.Millisecond)
	key := newKey()
	_, err := s.Update(t.Context(), key, selectEU)
	testkit.RequireNoError(t, "Update", err)
	// Redis keeps a key through the millisecond it expires in.
	time.Sleep(300 * time.Millisecond)
	st, err := s.Get(t.Context(), key)
	testkit.RequireNoError(t, "Get", err)
	testkit.RequireEqual(t, "fields selected after the TTL", 0, len(st.Current()))
}

func TestRedisDamagedStateReadsAsNone(t *testing.T) {
	t.Parallel()
	client := testkit.Redis(t)
	s := selection.NewRedis(client, 0)
	for _, damaged := range []string{"not json", `{"v":99,"h":[[]],"i":0}`, `{"v":1,"h":[],"i":0}`, `{"v":1,"h":[[]],"i":3}`} {
		key := newKey()
		testkit.RequireNoError(t, "SET", client.Set(t.Context(), selection.RedisKey(key), damaged, time.Minute).Err())
		st, err := s.Get(t.Context(), key)
		testkit.RequireNoError(t, "Get of "+damaged, err)
		testkit.RequireEqual(t, "fields selected in "+damaged, 0, len(st.Current()))
		st, err = s.Update(t.Context(), key, selectEU)
		testkit.RequireNoError(t, "Update of "+damaged, err)
		testkit.RequireEqual(t, "fields selected after an update of "+damaged, 1, len(st.Current()))
	}
}

func TestRedisStoppedIsUnavailable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now: a stopped Redis
	// Retries as few as platform/redisconn's: the store's answer matters here, not go-redis'
	// default patience.
	client := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: 1, DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	s := selection.NewRedis(client, 0)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = s.Get(ctx, newKey())
	testkit.RequireErrorIs(t, "Get", err, selection.ErrUnavailable)
	called := false
	_, err = s.Update(ctx, newKey(), func(st selection.State) (selection.State, error) {
		called = true
		return selectEU(st)
	})
	testkit.RequireErrorIs(t, "Update", err, selection.ErrUnavailable)
	testkit.RequireEqual(t, "fn called without a state to give it", false, called)
}
