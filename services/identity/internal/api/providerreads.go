package api

import (
	"context"
	"sync"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// providerReadTimeout bounds one shared read of a tenant's providers. The read runs
// detached from any one exchange, so that an exchange giving up does not fail the others
// waiting for the same read; each exchange still stops waiting when its own ctx ends.
const providerReadTimeout = 5 * time.Second

// providerReads coalesces the provider-list reads of concurrent exchanges of one tenant.
//
// Every exchange needs the tenant's providers, and reading them from PostgreSQL (a round
// trip, then decoding each provider's config) was about a quarter of the exchange
// handler's CPU time in BenchmarkIdentityThroughput. Caching the list would let a
// disabled provider or a retired key keep working for a while; this does not. An exchange
// only ever shares a read that had not started when the exchange arrived: if a read is
// already in flight, it waits for the next one, which starts when that one ends. So every
// provider change committed before an exchange began is seen by it, exactly as with a
// read of its own, while a burst of exchanges for one tenant costs about one read per
// read's duration instead of one read each.
type providerReads struct {
	store   store.Store
	mu      sync.Mutex
	tenants map[string]*tenantProviderReads // only tenants with a read in flight
}

type tenantProviderReads struct {
	running *providerRead // in flight: started before anyone arriving now
	next    *providerRead // not started yet: arrivals join it; starts when running ends
}

type providerRead struct {
	done      chan struct{} // closed when providers and err are set
	providers []*identityv1.IdentityProvider
	err       error
}

func newProviderReads(st store.Store) *providerReads {
	return &providerReads{store: st, tenants: map[string]*tenantProviderReads{}}
}

// list returns tenant's providers from a read that started after list was called. The
// slice and its messages are shared between exchanges: callers must not modify them.
func (p *providerReads) list(ctx context.Context, tenant string) ([]*identityv1.IdentityProvider, error) {
	p.mu.Lock()
	t := p.tenants[tenant]
	var r *providerRead
	switch {
	case t == nil:
		r = &providerRead{done: make(chan struct{})}
		p.tenants[tenant] = &tenantProviderReads{running: r}
		go p.run(context.WithoutCancel(ctx), tenant, r)
	case t.next != nil:
		r = t.next
	default:
		r = &providerRead{done: make(chan struct{})}
		t.next = r
	}
	p.mu.Unlock()
	select {
	case <-r.done:
		return r.providers, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs r, then the read queued behind it, and so on until none is queued.
func (p *providerReads) run(ctx context.Context, tenant string, r *providerRead) {
	for r != nil {
		readCtx, cancel := context.WithTimeout(ctx, providerReadTimeout)
		r.providers, r.err = p.store.ListIdentityProviders(readCtx, tenant, store.Page{Limit: 1000})
		cancel()
		close(r.done)
		p.mu.Lock()
		t := p.tenants[tenant]
		r, t.running, t.next = t.next, t.next, nil
		if r == nil {
			delete(p.tenants, tenant)
		}
		p.mu.Unlock()
	}
}
