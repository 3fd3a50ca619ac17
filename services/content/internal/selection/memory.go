package selection

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often (by the store's clock) an Update drops every expired state, so
// memory follows the live sessions even when nobody reads the expired ones again.
const sweepEvery = time.Minute

// memory is the in-process Store of `oriel dev`. One mutex makes every Update atomic, as
// WATCH/MULTI/EXEC does in Redis; a dev stack serves one developer. States are kept
// encoded, so they pass the same size cap and read back exactly as from Redis.
type memory struct {
	ttl time.Duration
	now func() time.Time

	mu        sync.Mutex
	states    map[Key]memoryEntry
	nextSweep time.Time
}

type memoryEntry struct {
	encoded []byte
	expires time.Time
}

// NewMemory returns an in-process Store whose states expire ttl (DefaultTTL if not
// positive) after their last change, by the clock now; safe for concurrent use.
func NewMemory(ttl time.Duration, now func() time.Time) Store {
	return &memory{ttl: ttlOrDefault(ttl), now: now, states: make(map[Key]memoryEntry)}
}

func (m *memory) Get(_ context.Context, key Key) (State, error) {
	if err := key.check(); err != nil {
		return State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.get(key, m.now()), nil
}

// get returns the live state of key at now; the caller holds the mutex.
func (m *memory) get(key Key, now time.Time) State {
	e, ok := m.states[key]
	if !ok || !now.Before(e.expires) {
		return State{}
	}
	return decode(e.encoded)
}

func (m *memory) Update(_ context.Context, key Key, fn func(State) (State, error)) (State, error) {
	if err := key.check(); err != nil {
		return State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !now.Before(m.nextSweep) {
		for k, e := range m.states {
			if !now.Before(e.expires) {
				delete(m.states, k)
			}
		}
		m.nextSweep = now.Add(sweepEvery)
	}
	next, err := fn(m.get(key, now))
	if err != nil {
		return State{}, err
	}
	enc, next, err := encode(next)
	if err != nil {
		return State{}, err
	}
	m.states[key] = memoryEntry{encoded: enc, expires: now.Add(m.ttl)}
	return next, nil
}
