package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key layout. Every key of a tenant starts with "oriel:{<tenant>}:", so Redis Cluster
// puts all of them in one slot and a script may touch several:
//
//	oriel:{t}:et:<tokenHash>  hash, one session; PEXPIREAT its ExpireTime
//	oriel:{t}:us:<user>       sorted set of the user's token hashes scored by expiry (ms);
//	                          pruned of expired members on write and read, PEXPIREAT the
//	                          latest expiry
//	oriel:{t}:state           hash: "loaded" marker, "te" tenant epoch, "dv" directory
//	                          version, "u:<user>" packed user state (epoch*2+disabled);
//	                          PEXPIRE stateTTL from its last write
//	oriel:{t}:jti:<key>       string, SET NX PXAT the JWT's expiry
//
// The loaded marker lives in the same hash as the values it vouches for, so losing the
// hash (flush, eviction, expiry) can only make the mirror unknown, never partially
// known.
const keyPrefix = "oriel:{"

// stateTTL bounds how long a purged or idle tenant's mirror lingers. Losing it is safe:
// the epochs are durable in the database and the caller reloads on ErrStateUnknown, so
// a busy tenant pays one reload a day.
const stateTTL = 24 * time.Hour

// loadChunk bounds the users merged per script call, so loading a huge tenant never
// blocks Redis for long; the loaded marker is set only by the last chunk.
const loadChunk = 1000

func tenantKey(tenant, kind string) string { return keyPrefix + tenant + "}:" + kind }
func sessionKey(tenant, tokenHash string) string {
	return keyPrefix + tenant + "}:et:" + tokenHash
}
func userKey(tenant, user string) string { return keyPrefix + tenant + "}:us:" + user }
func stateKey(tenant string) string      { return tenantKey(tenant, "state") }
func jtiKey(tenant, key string) string   { return keyPrefix + tenant + "}:jti:" + key }

// Session hash fields, in the order the scripts return them. "et" comes first: it is
// always present, so a nil there means no session. "user" is second: Get's script
// reads it to find the user's state field.
var sessionFields = []string{
	"et", "user", "tenant", "id", "idp", "roles", "groups", "res", "origin", "attrs",
	"ct", "ttl", "te", "ue",
}

const (
	fExpire = iota
	fUser
	fTenant
	fID
	fIdP
	fRoles
	fGroups
	fResources
	fOrigin
	fAttributes
	fCreate
	fTTL
	fTenantEpoch
	fUserEpoch
)

// hmgetSession is the Lua expression reading a session hash's fields in sessionFields
// order.
func hmgetSession(key string) string {
	return "redis.call('HMGET', " + key + ", '" + strings.Join(sessionFields, "', '") + "')"
}

// luaNow is Redis's clock in milliseconds: expiry of keys runs on it, so pruning and
// shortening use it too rather than the caller's clock.
const luaNow = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// luaGreater compares non-negative decimal integers as strings, exactly: Lua numbers
// are doubles and would round an int64 above 2^53.
const luaGreater = `
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
`

var (
	// getScript reads a session and its user's state in one round trip and at one
	// instant. The user is a field name in the state hash, not a key, so only KEYS are
	// touched. KEYS: session, state.
	getScript = redis.NewScript(`
local s = ` + hmgetSession("KEYS[1]") + `
if not s[1] then return false end
return {s, redis.call('HMGET', KEYS[2], 'loaded', 'te', 'dv', 'u:' .. (s[2] or ''))}
`)

	// putScript replaces a session, sets its expiry and indexes it under its user, atomically,
	// so a session is never visible without its expiry. KEYS: session, user index.
	// ARGV: expire ms, token hash, field/value pairs.
	putScript = redis.NewScript(luaNow + `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now_ms()))
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[2], last[2]) end
return 1
`)

	// expireWithinScript moves a session's expiry earlier, never later, keeping the
	// stored ExpireTime ("et", microseconds) in step with the key's TTL. KEYS: session.
	// ARGV: d in microseconds.
	expireWithinScript = redis.NewScript(luaNow + `
local et = redis.call('HGET', KEYS[1], 'et')
if not et then return 0 end
local target_ms = now_ms() + math.floor(tonumber(ARGV[1]) / 1000)
if target_ms * 1000 >= tonumber(et) then return 0 end
redis.call('HSET', KEYS[1], 'et', string.format('%.0f', target_ms * 1000))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', target_ms))
return 1
`)

	// userIndexScript prunes the user's index of expired members and returns the rest.
	// KEYS: user index.
	userIndexScript = redis.NewScript(luaNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now_ms()))
return redis.call('ZRANGE', KEYS[1], 0, -1)
`)

	// userSessionsScript reads the indexed sessions and drops index members whose session
	// is gone (deleted, or expired early by ExpireWithin). KEYS: user index, then one
	// session key per member. ARGV: the members, in KEYS order.
	userSessionsScript = redis.NewScript(`
local out = {}
for i = 2, #KEYS do
  local s = ` + hmgetSession("KEYS[i]") + `
  if s[1] then out[#out + 1] = s else redis.call('ZREM', KEYS[1], ARGV[i - 1]) end
end
return out
`)

	// raiseScript sets one state field unless its value is already higher, and only
	// in a loaded mirror (returns -1 otherwise): a lone raised value in an unloaded
	// mirror would look like a complete state once loaded by a stale reader.
	// KEYS: state. ARGV: field, value, TTL ms.
	raiseScript = redis.NewScript(luaGreater + `
if redis.call('HEXISTS', KEYS[1], 'loaded') == 0 then return -1 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and not greater(ARGV[2], cur) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

	// loadScript merges field/value pairs keeping the higher of each, and marks the
	// mirror loaded when told this is the last chunk. KEYS: state.
	// ARGV: "1" to mark loaded or "0", TTL ms, field/value pairs.
	loadScript = redis.NewScript(luaGreater + `
for i = 3, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if not cur or greater(ARGV[i + 1], cur) then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'loaded', '1') end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)
)

// redisStore is the production Store.
type redisStore struct {
	client redis.UniversalClient
	// guard is set when the client would let a command outlive ctx (go-redis ignores
	// deadlines unless ContextTimeoutEnabled), so the store enforces ctx itself.
	guard bool
}

// NewRedis returns a Store on client, a single node or a Redis Cluster. Give the client
// ContextTimeoutEnabled (platform/redisconn does): otherwise go-redis ignores ctx
// deadlines and the store has to abandon late commands on a goroutine of their own.
func NewRedis(client redis.UniversalClient) Store {
	honours := false
	switch c := client.(type) {
	case *redis.Client:
		honours = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		honours = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		honours = c.Options().ContextTimeoutEnabled
	}
	return &redisStore{client: client, guard: !honours}
}

// do runs f, returning by ctx's deadline even if the client would not.
func (r *redisStore) do(ctx context.Context, f func(ctx context.Context) error) error {
	if !r.guard || ctx.Done() == nil {
		return f(ctx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// f's results are never read after this, so its late writes race with nothing.
		return ctx.Err()
	}
}

func unavailable(op string, err error) error {
	return fmt.Errorf("sessions: redis %s: %w", op, err)
}

func (r *redisStore) Put(ctx context.Context, tokenHash string, s *Session) error {
	if err := checkPut(tokenHash, s); err != nil {
		return err
	}
	fields, err := encodeSession(s)
	if err != nil {
		return err
	}
	args := make([]any, 0, 2+len(fields))
	args = append(args, strconv.FormatInt(s.ExpireTime.UnixMilli(), 10), tokenHash)
	args = append(args, fields...)
	keys := []string{sessionKey(s.Tenant, tokenHash), userKey(s.Tenant, s.User)}
	if err := r.do(ctx, func(ctx context.Context) error {
		return putScript.Run(ctx, r.client, keys, args...).Err()
	}); err != nil {
		return unavailable("put", err)
	}
	return nil
}

func (r *redisStore) Get(ctx context.Context, tenant, tokenHash string) (*Session, State, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, State{}, err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return nil, State{}, err
	}
	var reply any
	err := r.do(ctx, func(ctx context.Context) error {
		var err error
		reply, err = getScript.Run(ctx, r.client, []string{sessionKey(tenant, tokenHash), stateKey(tenant)}).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, State{}, ErrNotFound
	}
	if err != nil {
		return nil, State{}, unavailable("get", err)
	}
	parts, ok := reply.([]any)
	if !ok || len(parts) != 2 {
		return nil, State{}, fmt.Errorf("sessions: redis get: unexpected reply %T", reply)
	}
	s, err := decodeSession(parts[0])
	if err != nil {
		return nil, State{}, err
	}
	if s.Tenant != tenant {
		return nil, State{}, fmt.Errorf("sessions: redis get: session stored under tenant %q names %q", tenant, s.Tenant)
	}
	st, loaded, err := decodeState(parts[1])
	if err != nil {
		return nil, State{}, err
	}
	if !loaded {
		return s, State{}, ErrStateUnknown
	}
	return s, st, nil
}

func (r *redisStore) Delete(ctx context.Context, tenant, tokenHash string) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return err
	}
	// The user index keeps the member until ListUser or the expiry pruning drops it:
	// finding the user would cost a read, and the index is only ever a hint.
	if err := r.do(ctx, func(ctx context.Context) error {
		return r.client.Del(ctx, sessionKey(tenant, tokenHash)).Err()
	}); err != nil {
		return unavailable("delete", err)
	}
	return nil
}

func (r *redisStore) ExpireWithin(ctx context.Context, tenant, tokenHash string, d time.Duration) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return err
	}
	d = max(d, 0)
	if err := r.do(ctx, func(ctx context.Context) error {
		return expireWithinScript.Run(ctx, r.client, []string{sessionKey(tenant, tokenHash)},
			strconv.FormatInt(d.Microseconds(), 10)).Err()
	}); err != nil {
		return unavailable("expire", err)
	}
	return nil
}

func (r *redisStore) ListUser(ctx context.Context, tenant, user string) ([]*Session, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return nil, err
	}
	index := userKey(tenant, user)
	// Two round trips: a script may only touch keys it is given, and the session keys
	// are known only once the index is read.
	var members []string
	if err := r.do(ctx, func(ctx context.Context) error {
		var err error
		members, err = userIndexScript.Run(ctx, r.client, []string{index}).StringSlice()
		return err
	}); err != nil {
		return nil, unavailable("list", err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, 1+len(members))
	keys = append(keys, index)
	args := make([]any, 0, len(members))
	for _, m := range members {
		keys = append(keys, sessionKey(tenant, m))
		args = append(args, m)
	}
	var reply []any
	if err := r.do(ctx, func(ctx context.Context) error {
		var err error
		reply, err = userSessionsScript.Run(ctx, r.client, keys, args...).Slice()
		return err
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable("list", err)
	}
	out := make([]*Session, 0, len(reply))
	for _, v := range reply {
		s, err := decodeSession(v)
		if err != nil {
			return nil, err
		}
		if s.User == user { // a mismatch can only be corruption; never show it
			out = append(out, s)
		}
	}
	// The index scores are the expiries at Put; ExpireWithin may have shortened some.
	sort.SliceStable(out, func(i, j int) bool { return out[i].ExpireTime.Before(out[j].ExpireTime) })
	return out, nil
}

func (r *redisStore) State(ctx context.Context, tenant, user string) (State, error) {
	if err := checkTenant(tenant); err != nil {
		return State{}, err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return State{}, err
	}
	var reply []any
	if err := r.do(ctx, func(ctx context.Context) error {
		var err error
		reply, err = r.client.HMGet(ctx, stateKey(tenant), "loaded", "te", "dv", "u:"+user).Result()
		return err
	}); err != nil {
		return State{}, unavailable("state", err)
	}
	st, loaded, err := decodeState(reply)
	if err != nil {
		return State{}, err
	}
	if !loaded {
		return State{}, ErrStateUnknown
	}
	return st, nil
}

func (r *redisStore) LoadState(ctx context.Context, tenant string, full FullState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("tenant epoch", full.TenantEpoch); err != nil {
		return err
	}
	if err := checkEpoch("directory version", full.DirectoryVersion); err != nil {
		return err
	}
	pairs := make([]any, 0, 4+2*len(full.Users))
	pairs = append(pairs,
		"te", strconv.FormatInt(full.TenantEpoch, 10),
		"dv", strconv.FormatInt(full.DirectoryVersion, 10))
	for user, u := range full.Users {
		if err := checkNonEmpty("user", user); err != nil {
			return err
		}
		v, err := packUser(u)
		if err != nil {
			return err
		}
		pairs = append(pairs, "u:"+user, strconv.FormatInt(v, 10))
	}
	ttl := strconv.FormatInt(stateTTL.Milliseconds(), 10)
	keys := []string{stateKey(tenant)}
	for start := 0; start < len(pairs); start += 2 * loadChunk {
		end := min(start+2*loadChunk, len(pairs))
		last := "0"
		if end == len(pairs) {
			last = "1"
		}
		args := make([]any, 0, 2+end-start)
		args = append(args, last, ttl)
		args = append(args, pairs[start:end]...)
		if err := r.do(ctx, func(ctx context.Context) error {
			return loadScript.Run(ctx, r.client, keys, args...).Err()
		}); err != nil {
			return unavailable("load state", err)
		}
	}
	return nil
}

func (r *redisStore) raise(ctx context.Context, tenant, field string, value int64) error {
	var res int64
	if err := r.do(ctx, func(ctx context.Context) error {
		var err error
		res, err = raiseScript.Run(ctx, r.client, []string{stateKey(tenant)},
			field, strconv.FormatInt(value, 10), strconv.FormatInt(stateTTL.Milliseconds(), 10)).Int64()
		return err
	}); err != nil {
		return unavailable("raise", err)
	}
	if res < 0 {
		return ErrStateUnknown
	}
	return nil
}

func (r *redisStore) RaiseTenantEpoch(ctx context.Context, tenant string, epoch int64) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("tenant epoch", epoch); err != nil {
		return err
	}
	return r.raise(ctx, tenant, "te", epoch)
}

func (r *redisStore) RaiseUser(ctx context.Context, tenant, user string, state UserState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return err
	}
	v, err := packUser(state)
	if err != nil {
		return err
	}
	return r.raise(ctx, tenant, "u:"+user, v)
}

func (r *redisStore) RaiseDirectoryVersion(ctx context.Context, tenant string, version int64) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("directory version", version); err != nil {
		return err
	}
	return r.raise(ctx, tenant, "dv", version)
}

func (r *redisStore) Admit(ctx context.Context, tenant, key string, until time.Time, user string) (bool, State, error) {
	if err := checkTenant(tenant); err != nil {
		return false, State{}, err
	}
	if err := checkNonEmpty("jti key", key); err != nil {
		return false, State{}, err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return false, State{}, err
	}
	// One pipeline, one round trip: the two need no atomicity (the SET NX alone decides
	// the winner), only to travel together.
	var set *redis.Cmd
	var state *redis.SliceCmd
	err := r.do(ctx, func(ctx context.Context) error {
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			set = p.Do(ctx, "SET", jtiKey(tenant, key), "1", "NX", "PXAT", jtiExpiry(until))
			state = p.HMGet(ctx, stateKey(tenant), "loaded", "te", "dv", "u:"+user)
			return nil
		})
		// A JWT id already taken answers nil, which the pipeline reports as its error.
		if errors.Is(err, redis.Nil) {
			err = nil
		}
		return err
	})
	if err == nil {
		err = set.Err()
	}
	first := err == nil
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	if err == nil {
		err = state.Err()
	}
	if err != nil {
		return false, State{}, unavailable("admit", err)
	}
	st, loaded, err := decodeState(state.Val())
	if err != nil {
		return false, State{}, err
	}
	if !loaded {
		return first, State{}, ErrStateUnknown
	}
	return first, st, nil
}

// jtiExpiry is when a used JWT id may be forgotten, in Unix milliseconds for PXAT: rounded
// up so the id stays taken at least until `until`; PXAT refuses 0 and below, and a time
// already past stores nothing, which is right: the JWT has expired.
func jtiExpiry(until time.Time) int64 { return max((until.UnixMicro()+999)/1000, 1) }

func (r *redisStore) UseJTI(ctx context.Context, tenant, key string, until time.Time) (bool, error) {
	if err := checkTenant(tenant); err != nil {
		return false, err
	}
	if err := checkNonEmpty("jti key", key); err != nil {
		return false, err
	}
	var first bool
	err := r.do(ctx, func(ctx context.Context) error {
		err := r.client.Do(ctx, "SET", jtiKey(tenant, key), "1", "NX", "PXAT", jtiExpiry(until)).Err()
		switch {
		case err == nil:
			first = true
			return nil
		case errors.Is(err, redis.Nil):
			return nil
		default:
			return err
		}
	})
	if err != nil {
		return false, unavailable("use jti", err)
	}
	return first, nil
}

// encodeSession returns the session's field/value pairs, leaving out empty values so
// the hash stays small and readable in redis-cli.
func encodeSession(s *Session) ([]any, error) {
	f := make([]any, 0, 2*len(sessionFields))
	add := func(name, v string) {
		if v != "" {
			f = append(f, name, v)
		}
	}
	addInt := func(name string, v int64) {
		if v != 0 {
			f = append(f, name, strconv.FormatInt(v, 10))
		}
	}
	addJSON := func(name string, v any, n int) error {
		if n == 0 {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("sessions: encode %s: %w", name, err)
		}
		f = append(f, name, string(b))
		return nil
	}
	f = append(f, "et", strconv.FormatInt(s.ExpireTime.UnixMicro(), 10))
	add("user", s.User)
	add("tenant", s.Tenant)
	add("id", s.ID)
	add("idp", s.IdentityProvider)
	if err := addJSON("roles", s.Roles, len(s.Roles)); err != nil {
		return nil, err
	}
	if err := addJSON("groups", s.Groups, len(s.Groups)); err != nil {
		return nil, err
	}
	if err := addJSON("res", s.AllowedResources, len(s.AllowedResources)); err != nil {
		return nil, err
	}
	add("origin", s.AllowedOrigin)
	if err := addJSON("attrs", s.Attributes, len(s.Attributes)); err != nil {
		return nil, err
	}
	if !s.CreateTime.IsZero() {
		addInt("ct", s.CreateTime.UnixMicro())
	}
	addInt("ttl", int64(s.TTL))
	addInt("te", s.TenantEpoch)
	addInt("ue", s.UserEpoch)
	return f, nil
}

// decodeSession parses an HMGET reply in sessionFields order.
func decodeSession(reply any) (*Session, error) {
	v, ok := reply.([]any)
	if !ok || len(v) != len(sessionFields) {
		return nil, fmt.Errorf("sessions: redis: unexpected session reply %T", reply)
	}
	str := func(i int) string {
		s, _ := v[i].(string)
		return s
	}
	var err error
	num := func(i int) int64 {
		s := str(i)
		if s == "" || err != nil {
			return 0
		}
		var n int64
		n, err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			err = fmt.Errorf("sessions: redis: field %s: %w", sessionFields[i], err)
		}
		return n
	}
	list := func(i int) []string {
		s := str(i)
		if s == "" || err != nil {
			return nil
		}
		var l []string
		if e := json.Unmarshal([]byte(s), &l); e != nil {
			err = fmt.Errorf("sessions: redis: field %s: %w", sessionFields[i], e)
		}
		if len(l) == 0 {
			return nil
		}
		return l
	}
	s := &Session{
		ID:               str(fID),
		Tenant:           str(fTenant),
		User:             str(fUser),
		IdentityProvider: str(fIdP),
		Roles:            list(fRoles),
		Groups:           list(fGroups),
		AllowedResources: list(fResources),
		AllowedOrigin:    str(fOrigin),
		ExpireTime:       time.UnixMicro(num(fExpire)).UTC(),
		TTL:              time.Duration(num(fTTL)),
		TenantEpoch:      num(fTenantEpoch),
		UserEpoch:        num(fUserEpoch),
	}
	if ct := num(fCreate); ct != 0 {
		s.CreateTime = time.UnixMicro(ct).UTC()
	}
	if a := str(fAttributes); a != "" && err == nil {
		if e := json.Unmarshal([]byte(a), &s.Attributes); e != nil {
			err = fmt.Errorf("sessions: redis: field attrs: %w", e)
		}
		if len(s.Attributes) == 0 {
			s.Attributes = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// decodeState parses an HMGET of loaded, te, dv and u:<user>.
func decodeState(reply any) (State, bool, error) {
	v, ok := reply.([]any)
	if !ok || len(v) != 4 {
		return State{}, false, fmt.Errorf("sessions: redis: unexpected state reply %T", reply)
	}
	if v[0] == nil {
		return State{}, false, nil
	}
	var nums [3]int64
	for i := range nums {
		s, _ := v[i+1].(string)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return State{}, false, fmt.Errorf("sessions: redis: state value %q: %w", s, err)
		}
		nums[i] = n
	}
	u := unpackUser(nums[2])
	return State{
		TenantEpoch:      nums[0],
		DirectoryVersion: nums[1],
		UserEpoch:        u.Epoch,
		UserDisabled:     u.Disabled,
	}, true, nil
}
