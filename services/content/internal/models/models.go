// Package models keeps the app models this content replica serves: the model of each app
// as its latest successful reload left it, read from the snapshot that reload saved (or
// handed over by the reload that built it here), and the reduced views of it that
// row-level security gives each set of session attributes.
//
// The pointer to an app's current snapshot is in the database, so every replica follows
// the same reloads: a replica that holds an older model, or none, loads the current one on
// the next call about the app.
package models

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/oriel-dev/oriel/services/content/internal/blob"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
)

// Pointer says which snapshot serves an app.
type Pointer struct {
	// Reload is the reload's resource name.
	Reload string
	// Snapshot is the blob key of its snapshot.
	Snapshot string
	// LoadTime is when the reload ended.
	LoadTime time.Time
}

// Lookup reads an app's pointer; an app never reloaded returns ErrNotLoaded.
type Lookup func(ctx context.Context, tenant, app string) (Pointer, error)

// ErrNotLoaded says an app has no successful reload.
var ErrNotLoaded = fmt.Errorf("the app has no data loaded")

// Loaded is an app's model with where it came from.
type Loaded struct {
	Pointer
	Model *engine.Model

	mu    sync.Mutex
	views map[string]*engine.View // by reduction signature
}

// Cache holds models up to a memory budget, least recently used first out.
type Cache struct {
	lookup Lookup
	blobs  blob.Store
	budget int64
	log    *slog.Logger

	flight singleflight.Group
	mu     sync.Mutex
	lru    *list.List // of *entry, most recent at the front
	byApp  map[string]*list.Element
	used   int64
}

type entry struct {
	app    string
	loaded *Loaded
}

// New returns a cache of at most budget bytes of models (an app bigger than the budget is
// still served, alone).
func New(lookup Lookup, blobs blob.Store, budget int64, log *slog.Logger) *Cache {
	return &Cache{lookup: lookup, blobs: blobs, budget: budget, log: log, lru: list.New(), byApp: map[string]*list.Element{}}
}

func appKey(tenant, app string) string { return tenant + "/" + app }

// Get returns the app's current model, loading its snapshot when this replica holds none
// or an older one.
func (c *Cache) Get(ctx context.Context, tenant, app string) (*Loaded, error) {
	p, err := c.lookup(ctx, tenant, app)
	if err != nil {
		return nil, err
	}
	key := appKey(tenant, app)
	if l := c.current(key, p.Snapshot); l != nil {
		return l, nil
	}
	v, err, _ := c.flight.Do(p.Snapshot, func() (any, error) {
		if l := c.current(key, p.Snapshot); l != nil {
			return l, nil
		}
		start := time.Now()
		r, err := c.blobs.Open(ctx, p.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("open the snapshot of %s: %w", p.Reload, err)
		}
		defer r.Close()
		m, err := engine.ReadSnapshot(r)
		if err != nil {
			return nil, fmt.Errorf("read the snapshot of %s: %w", p.Reload, err)
		}
		c.log.Info("opened an app snapshot", "app", key, "reload", p.Reload,
			"bytes", m.MemoryBytes(), "duration", time.Since(start))
		l := &Loaded{Pointer: p, Model: m}
		c.put(key, l)
		return l, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Loaded), nil
}

// Put makes m the model of an app, as the reload that built it here saved it under p.
func (c *Cache) Put(tenant, app string, p Pointer, m *engine.Model) {
	c.put(appKey(tenant, app), &Loaded{Pointer: p, Model: m})
}

// Drop forgets an app (deleted or purged).
func (c *Cache) Drop(tenant, app string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byApp[appKey(tenant, app)]; ok {
		c.remove(el)
	}
}

// MemoryBytes is what the cached models hold.
func (c *Cache) MemoryBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

func (c *Cache) current(key, snapshot string) *Loaded {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byApp[key]
	if !ok || el.Value.(*entry).loaded.Snapshot != snapshot {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*entry).loaded
}

func (c *Cache) put(key string, l *Loaded) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byApp[key]; ok {
		c.remove(el)
	}
	c.byApp[key] = c.lru.PushFront(&entry{app: key, loaded: l})
	c.used += l.Model.MemoryBytes()
	// Evict the least recently used, never the one just put.
	for c.used > c.budget && c.lru.Len() > 1 {
		c.remove(c.lru.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.byApp, e.app)
	c.used -= e.loaded.Model.MemoryBytes()
}

// View is the model as a session with these reductions sees it (all of it for none).
// Reduced views are kept with the model, since every call of a session needs the same
// one and building it scans the reduced tables.
func (l *Loaded) View(reductions []engine.Reduction) (*engine.View, error) {
	if reductions == nil {
		return l.Model.View(), nil
	}
	sig := signature(reductions)
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.views[sig]; ok {
		return v, nil
	}
	v, err := l.Model.Reduce(reductions)
	if err != nil {
		return nil, err
	}
	if l.views == nil || len(l.views) >= maxViews {
		l.views = map[string]*engine.View{} // a crude bound: sessions with many distinct attributes rebuild
	}
	l.views[sig] = v
	return v, nil
}

// maxViews bounds the reduced views kept per model.
const maxViews = 256

// signature identifies a set of reductions; values are sorted, since their order does not
// change the view.
func signature(rs []engine.Reduction) string {
	var b strings.Builder
	for _, r := range rs {
		vs := slices.Clone(r.Values)
		slices.Sort(vs)
		fmt.Fprintf(&b, "%q=%q;", r.Field, vs)
	}
	return b.String()
}
