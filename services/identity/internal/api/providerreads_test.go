package api

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// heldProviders is a store whose provider reads each return the configuration version
// current when the read started, and finish only when released.
type heldProviders struct {
	store.Store // only ListIdentityProviders is called
	mu          sync.Mutex
	version     int
	reads       int
	release     chan struct{}
}

func (h *heldProviders) ListIdentityProviders(ctx context.Context, _ string, _ store.Page) ([]*identityv1.IdentityProvider, error) {
	h.mu.Lock()
	v := h.version
	h.reads++
	h.mu.Unlock()
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []*identityv1.IdentityProvider{{Name: "v" + strconv.Itoa(v)}}, nil
}

func (h *heldProviders) change() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.version++
}

type listResult struct {
	version string
	err     error
}

func listAsync(ctx context.Context, p *providerReads) chan listResult {
	out := make(chan listResult, 1)
	go func() {
		list, err := p.list(ctx, "t1")
		r := listResult{err: err}
		if len(list) == 1 {
			r.version = list[0].GetName()
		}
		out <- r
	}()
	return out
}

func TestProviderReadsNeverServeAReadStartedBeforeTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldProviders{version: 1, release: make(chan struct{})}
		p := newProviderReads(h)
		first := listAsync(t.Context(), p)
		synctest.Wait() // the first read has started and holds version 1
		h.change()      // e.g. a provider disabled, committed before the next calls
		second, third := listAsync(t.Context(), p), listAsync(t.Context(), p)
		synctest.Wait()
		h.release <- struct{}{}
		if r := <-first; r.version != "v1" || r.err != nil {
			t.Fatalf("first call got %+v, want v1", r)
		}
		synctest.Wait() // the read the later calls joined has started
		h.release <- struct{}{}
		for _, c := range []chan listResult{second, third} {
			if r := <-c; r.version != "v2" || r.err != nil {
				t.Fatalf("a call made after the change got %+v, want v2", r)
			}
		}
		synctest.Wait() // the reads' goroutine has ended
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.reads != 2 {
			t.Fatalf("%d reads for 3 calls, want 2: the later calls share one", h.reads)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.tenants) != 0 {
			t.Fatalf("%d tenants still tracked after every read ended", len(p.tenants))
		}
	})
}

func TestProviderReadsACallGivingUpFailsNoOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &heldProviders{version: 1, release: make(chan struct{})}
		p := newProviderReads(h)
		ctx, cancel := context.WithCancel(t.Context())
		leader := listAsync(ctx, p)
		synctest.Wait()
		joined := listAsync(t.Context(), p)
		synctest.Wait()
		cancel()
		if r := <-leader; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("the cancelled call got %+v, want context.Canceled", r)
		}
		h.release <- struct{}{} // the read the cancelled call started still ends normally
		synctest.Wait()
		h.release <- struct{}{}
		if r := <-joined; r.version != "v1" || r.err != nil {
			t.Fatalf("the other call got %+v, want v1", r)
		}
	})
}
