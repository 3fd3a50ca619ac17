package selection

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout: `oriel:{<tenant>}:selections:<session>:<app>`, a string holding the encoded
// state, with a TTL. The tenant is the hash tag, so a tenant's keys share a Redis Cluster
// slot, as identity's do. App ids hold no colon, so the key reads back unambiguously
// whatever the session name holds.
func redisKey(k Key) string {
	return "oriel:{" + k.Tenant + "}:selections:" + k.Session + ":" + k.App
}

// updateAttempts bounds how often Update retries after another writer changed the state
// between its read and its write. Each conflict means another Update succeeded, so only
// a session hammering one app from many places comes near it.
const updateAttempts = 200

// redisStore is the Store of production.
type redisStore struct {
	client *redis.Client
	ttl    time.Duration
}

// NewRedis returns a Store in Redis whose states expire ttl after their last change
// (DefaultTTL if ttl is not positive).
func NewRedis(client *redis.Client, ttl time.Duration) Store {
	return &redisStore{client: client, ttl: ttlOrDefault(ttl)}
}

// unavailable wraps a Redis failure so that callers can tell it from a refusal.
func unavailable(op string, err error) error {
	return fmt.Errorf("%w: redis %s: %w", ErrUnavailable, op, err)
}

func (r *redisStore) Get(ctx context.Context, key Key) (State, error) {
	if err := key.check(); err != nil {
		return State{}, err
	}
	b, err := r.client.Get(ctx, redisKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return State{}, nil
	}
	if err != nil {
		return State{}, unavailable("get", err)
	}
	return decode(b), nil
}

// Update is optimistic: WATCH the key, read it, compute, and write it in MULTI/EXEC, which
// Redis refuses if the key changed after the WATCH; then start over. fn is Go code, so a
// Lua script could not run it.
func (r *redisStore) Update(ctx context.Context, key Key, fn func(State) (State, error)) (State, error) {
	if err := key.check(); err != nil {
		return State{}, err
	}
	k := redisKey(key)
	var (
		stored State
		// refused is an error of fn or of encode: an answer, not a Redis failure.
		refused error
	)
	txn := func(tx *redis.Tx) error {
		var cur State
		b, err := tx.Get(ctx, k).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			cur = decode(b)
		}
		next, err := fn(cur)
		if err != nil {
			refused = err
			return err
		}
		enc, next, err := encode(next)
		if err != nil {
			refused = err
			return err
		}
		// Written even when unchanged: a write refreshes the TTL.
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, k, enc, r.ttl)
			return nil
		})
		if err == nil {
			stored = next
		}
		return err
	}
	for attempt := range updateAttempts {
		err := r.client.Watch(ctx, txn, k)
		switch {
		case err == nil:
			return stored, nil
		case refused != nil:
			return State{}, refused
		case !errors.Is(err, redis.TxFailedErr):
			return State{}, unavailable("update", err)
		}
		// Lost a race: back off a little, more after each loss, so that many writers of
		// one key spread out instead of colliding again.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(attempt+1, 10))))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return State{}, unavailable("update", ctx.Err())
		}
	}
	return State{}, unavailable("update", fmt.Errorf("the state changed under %d attempts in a row", updateAttempts))
}
