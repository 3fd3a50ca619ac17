package sessions

import (
	"context"
	"sort"
	"sync"
	"time"
)

// sweepEvery is how often (by the store's clock) a write walks every entry to drop the
// expired ones that nobody read again, so memory follows the live sessions.
const sweepEvery = time.Minute

// memory is the in-process Store of `oriel dev`. One mutex guards everything: a dev
// stack serves one developer, and a single lock makes every method trivially atomic,
// as the Redis scripts are.
//
// Expired entries go in two ways: lazily, when a read or write meets one, and by a
// sweep that the first call after sweepEvery has passed runs under the lock (O(entries)
// once a minute, so memory is bounded by what was live during the last minute or so).
// The revocation mirror is never dropped: it is a few integers per tenant and user.
type memory struct {
	now func() time.Time

	mu        sync.Mutex
	sessions  map[tenantScoped]*Session
	users     map[tenantScoped]map[string]struct{} // token hashes by tenant and user
	states    map[string]*memoryState
	jtis      map[tenantScoped]time.Time // until
	nextSweep time.Time
}

// tenantScoped names a per-tenant entry, so no tenant can reach another's.
type tenantScoped struct{ tenant, id string }

// memoryState is a tenant's mirror, with users packed as in Redis (epoch*2+disabled).
type memoryState struct {
	loaded           bool
	tenantEpoch      int64
	directoryVersion int64
	users            map[string]int64
}

// NewMemory returns an in-process Store whose expiries follow now; safe for concurrent
// use.
func NewMemory(now func() time.Time) Store {
	return &memory{
		now:      now,
		sessions: make(map[tenantScoped]*Session),
		users:    make(map[tenantScoped]map[string]struct{}),
		states:   make(map[string]*memoryState),
		jtis:     make(map[tenantScoped]time.Time),
	}
}

// lock takes the mutex and returns the time to act at, sweeping if one is due.
func (m *memory) lock() time.Time {
	m.mu.Lock()
	now := m.now()
	if !now.Before(m.nextSweep) {
		m.sweep(now)
		m.nextSweep = now.Add(sweepEvery)
	}
	return now
}

func (m *memory) sweep(now time.Time) {
	for k, s := range m.sessions {
		if expired(s, now) {
			m.drop(k, s)
		}
	}
	for k, until := range m.jtis {
		if !now.Before(until) {
			delete(m.jtis, k)
		}
	}
}

func expired(s *Session, now time.Time) bool { return !now.Before(s.ExpireTime) }

func (m *memory) drop(k tenantScoped, s *Session) {
	delete(m.sessions, k)
	uk := tenantScoped{k.tenant, s.User}
	if idx := m.users[uk]; idx != nil {
		delete(idx, k.id)
		if len(idx) == 0 {
			delete(m.users, uk)
		}
	}
}

// live returns the unexpired session under k, dropping an expired one.
func (m *memory) live(k tenantScoped, now time.Time) *Session {
	s := m.sessions[k]
	if s != nil && expired(s, now) {
		m.drop(k, s)
		return nil
	}
	return s
}

func (m *memory) Put(ctx context.Context, tokenHash string, s *Session) error {
	if err := checkPut(tokenHash, s); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := normalised(s)
	now := m.lock()
	defer m.mu.Unlock()
	k := tenantScoped{s.Tenant, tokenHash}
	if old := m.sessions[k]; old != nil {
		m.drop(k, old)
	}
	if expired(c, now) {
		return nil // as Redis does with a PEXPIREAT in the past
	}
	m.sessions[k] = c
	uk := tenantScoped{s.Tenant, s.User}
	if m.users[uk] == nil {
		m.users[uk] = make(map[string]struct{})
	}
	m.users[uk][tokenHash] = struct{}{}
	return nil
}

func (m *memory) Get(ctx context.Context, tenant, tokenHash string) (*Session, State, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, State{}, err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return nil, State{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, State{}, err
	}
	now := m.lock()
	defer m.mu.Unlock()
	s := m.live(tenantScoped{tenant, tokenHash}, now)
	if s == nil {
		return nil, State{}, ErrNotFound
	}
	st, err := m.state(tenant, s.User)
	return normalised(s), st, err
}

func (m *memory) Delete(ctx context.Context, tenant, tokenHash string) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	k := tenantScoped{tenant, tokenHash}
	if s := m.sessions[k]; s != nil {
		m.drop(k, s)
	}
	return nil
}

func (m *memory) ExpireWithin(ctx context.Context, tenant, tokenHash string, d time.Duration) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.lock()
	defer m.mu.Unlock()
	k := tenantScoped{tenant, tokenHash}
	s := m.live(k, now)
	if s == nil {
		return nil
	}
	if target := storedTime(now.Add(max(d, 0))); target.Before(s.ExpireTime) {
		s.ExpireTime = target
		if expired(s, now) {
			m.drop(k, s)
		}
	}
	return nil
}

func (m *memory) ListUser(ctx context.Context, tenant, user string) ([]*Session, error) {
	if err := checkTenant(tenant); err != nil {
		return nil, err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.lock()
	defer m.mu.Unlock()
	type entry struct {
		hash string
		s    *Session
	}
	var found []entry
	for h := range m.users[tenantScoped{tenant, user}] {
		if s := m.live(tenantScoped{tenant, h}, now); s != nil {
			found = append(found, entry{h, s})
		}
	}
	// Ties go by token hash, as in the Redis index (score, then member).
	sort.Slice(found, func(i, j int) bool {
		if !found[i].s.ExpireTime.Equal(found[j].s.ExpireTime) {
			return found[i].s.ExpireTime.Before(found[j].s.ExpireTime)
		}
		return found[i].hash < found[j].hash
	})
	if len(found) == 0 {
		return nil, nil
	}
	out := make([]*Session, len(found))
	for i, e := range found {
		out[i] = normalised(e.s)
	}
	return out, nil
}

// state reads the mirror for user; the caller holds the lock.
func (m *memory) state(tenant, user string) (State, error) {
	ts := m.states[tenant]
	if ts == nil || !ts.loaded {
		return State{}, ErrStateUnknown
	}
	u := unpackUser(ts.users[user])
	return State{
		TenantEpoch:      ts.tenantEpoch,
		UserEpoch:        u.Epoch,
		UserDisabled:     u.Disabled,
		DirectoryVersion: ts.directoryVersion,
	}, nil
}

func (m *memory) State(ctx context.Context, tenant, user string) (State, error) {
	if err := checkTenant(tenant); err != nil {
		return State{}, err
	}
	if err := checkNonEmpty("user", user); err != nil {
		return State{}, err
	}
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	m.lock()
	defer m.mu.Unlock()
	return m.state(tenant, user)
}

func (m *memory) LoadState(ctx context.Context, tenant string, full FullState) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("tenant epoch", full.TenantEpoch); err != nil {
		return err
	}
	if err := checkEpoch("directory version", full.DirectoryVersion); err != nil {
		return err
	}
	packed := make(map[string]int64, len(full.Users))
	for user, u := range full.Users {
		if err := checkNonEmpty("user", user); err != nil {
			return err
		}
		v, err := packUser(u)
		if err != nil {
			return err
		}
		packed[user] = v
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	ts := m.states[tenant]
	if ts == nil {
		ts = &memoryState{users: make(map[string]int64)}
		m.states[tenant] = ts
	}
	ts.tenantEpoch = max(ts.tenantEpoch, full.TenantEpoch)
	ts.directoryVersion = max(ts.directoryVersion, full.DirectoryVersion)
	for user, v := range packed {
		ts.users[user] = max(ts.users[user], v)
	}
	ts.loaded = true
	return nil
}

// raise applies f to a loaded mirror; ErrStateUnknown otherwise, as in Redis.
func (m *memory) raise(ctx context.Context, tenant string, f func(*memoryState)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.lock()
	defer m.mu.Unlock()
	ts := m.states[tenant]
	if ts == nil || !ts.loaded {
		return ErrStateUnknown
	}
	f(ts)
	return nil
}

func (m *memory) RaiseTenantEpoch(ctx context.Context, tenant string, epoch int64) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("tenant epoch", epoch); err != nil {
		return err
	}
	return m.raise(ctx, tenant, func(ts *memoryState) { ts.tenantEpoch = max(ts.tenantEpoch, epoch) })
}

func (m *memory) RaiseUser(ctx context.Context, tenant, user string, state UserState) error {
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
	return m.raise(ctx, tenant, func(ts *memoryState) { ts.users[user] = max(ts.users[user], v) })
}

func (m *memory) RaiseDirectoryVersion(ctx context.Context, tenant string, version int64) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := checkEpoch("directory version", version); err != nil {
		return err
	}
	return m.raise(ctx, tenant, func(ts *memoryState) { ts.directoryVersion = max(ts.directoryVersion, version) })
}

func (m *memory) Admit(ctx context.Context, tenant, key string, until time.Time, user string) (bool, State, error) {
	if err := checkNonEmpty("user", user); err != nil {
		return false, State{}, err
	}
	first, err := m.UseJTI(ctx, tenant, key, until)
	if err != nil {
		return false, State{}, err
	}
	st, err := m.State(ctx, tenant, user)
	return first, st, err
}

func (m *memory) UseJTI(ctx context.Context, tenant, key string, until time.Time) (bool, error) {
	if err := checkTenant(tenant); err != nil {
		return false, err
	}
	if err := checkNonEmpty("jti key", key); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.lock()
	defer m.mu.Unlock()
	k := tenantScoped{tenant, key}
	if held, ok := m.jtis[k]; ok && now.Before(held) {
		return false, nil
	}
	if now.Before(until) {
		m.jtis[k] = until
	} else {
		delete(m.jtis, k)
	}
	return true, nil
}
