// Package sessionstest is the conformance suite every sessions.Store passes: the Redis
// store of production and the in-process store of `oriel dev` must be interchangeable,
// including in how they expire, merge and race.
package sessionstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
)

// Clock is the time a store under test expires things by.
type Clock interface {
	// Now is the store's current time.
	Now() time.Time
	// Advance lets d pass: a fake clock jumps, a real one sleeps.
	Advance(d time.Duration)
}

// RealClock is wall time, for stores that expire by a server's clock (Redis).
type RealClock struct{}

// Now returns time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Advance sleeps for d.
func (RealClock) Advance(d time.Duration) { time.Sleep(d) }

// FakeClock is a clock that moves only when told, safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a FakeClock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// shortTTL is long enough that a session is surely alive right after Put on a loaded
// machine, and short enough that the Redis suite's sleeps stay brief.
const shortTTL = 1500 * time.Millisecond

// expiryMargin lets a real clock pass the expiry: Redis keeps a key through the
// millisecond it expires in.
const expiryMargin = 100 * time.Millisecond

// Run runs the conformance suite. newStore is called once per sub-test and returns a
// store and the clock it expires by; sub-tests run in parallel and use tenants of their
// own, so stores may share a backend.
func Run(t *testing.T, newStore func(t *testing.T) (sessions.Store, Clock)) {
	tests := []struct {
		name string
		run  func(t *testing.T, s sessions.Store, c Clock)
	}{
		// The slow ones first: with a real clock TimePasses mostly sleeps, and
		// `go test` runs only GOMAXPROCS parallel tests at once.
		{"TimePasses", testTimePasses},
		{"GetsStartedAfterARevokeReturnsSeeIt", testRevokeRace},
		{"PutThenGetReturnsEveryField", testRoundTrip},
		{"EmptyAndNilCollectionsBothReadBackAsNil", testEmptyCollections},
		{"ReturnedSessionsAreCopies", testCopies},
		{"PutReplacesASessionUnderTheSameHash", testPutReplaces},
		{"PutRejectsAnIncompleteSession", testPutRejects},
		{"GetOfAnUnknownHashIsNotFound", testUnknown},
		{"AnotherTenantSeesNothing", testTenantIsolation},
		{"DeleteRemovesOneSession", testDelete},
		{"ExpireWithinShortensAndNeverLengthens", testExpireWithin},
		{"ListUserIsSoonestFirstAndOnlyTheUsers", testListUser},
		{"StateIsUnknownUntilLoaded", testStateUnknown},
		{"LoadStateThenStateAndGetSeeIt", testLoadState},
		{"RaisesNeverLower", testRaisesNeverLower},
		{"LoadStateMergesByMax", testLoadMergesByMax},
		{"DisabledFlipsOnlyWithAHigherEpoch", testDisabledFlips},
		{"ValidFollowsEpochsAndDisabled", testValid},
		{"UseJTIIsTrueOnceThenFalsePerTenant", testJTI},
		{"UseJTIConcurrentlyHasExactlyOneWinner", testJTIConcurrent},
		{"AdmitUsesTheJTIOnceAndReadsTheUsersState", testAdmit},
		{"AdmitConcurrentlyHasExactlyOneWinner", testAdmitConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := newStore(t)
			tc.run(t, s, c)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

var hashSeq atomic.Int64

// tokenHash returns a distinct stand-in for a token digest (the store never sees
// tokens, only whatever digest the caller passes).
func tokenHash() string { return fmt.Sprintf("h%d-%s", hashSeq.Add(1), testkit.UniqueID("x")) }

func newSession(c Clock, tenant, user string, ttl time.Duration) *sessions.Session {
	now := c.Now()
	return &sessions.Session{
		ID:         testkit.UniqueID("s"),
		Tenant:     tenant,
		User:       user,
		CreateTime: now,
		ExpireTime: now.Add(ttl),
		TTL:        ttl,
	}
}

func put(t *testing.T, s sessions.Store, hash string, sess *sessions.Session) {
	t.Helper()
	if err := s.Put(ctx(t), hash, sess); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// get returns the session, failing unless it is found (the state may be unknown).
func get(t *testing.T, s sessions.Store, tenant, hash string) (*sessions.Session, sessions.State) {
	t.Helper()
	got, st, err := s.Get(ctx(t), tenant, hash)
	if err != nil && !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("Get: %v", err)
	}
	if got == nil {
		t.Fatalf("Get returned no session and %v", err)
	}
	return got, st
}

func wantNotFound(t *testing.T, s sessions.Store, tenant, hash string) {
	t.Helper()
	got, _, err := s.Get(ctx(t), tenant, hash)
	if !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get = %+v, %v; want ErrNotFound", got, err)
	}
	if got != nil {
		t.Fatalf("Get returned a session with ErrNotFound: %+v", got)
	}
}

func load(t *testing.T, s sessions.Store, tenant string, full sessions.FullState) {
	t.Helper()
	if err := s.LoadState(ctx(t), tenant, full); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
}

func state(t *testing.T, s sessions.Store, tenant, user string) sessions.State {
	t.Helper()
	st, err := s.State(ctx(t), tenant, user)
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	return st
}

func wantState(t *testing.T, s sessions.Store, tenant, user string, want sessions.State) {
	t.Helper()
	if got := state(t, s, tenant, user); got != want {
		t.Fatalf("State(%s) = %+v, want %+v", user, got, want)
	}
}

// sameTime is the suite's precision promise: milliseconds or better.
func sameTime(a, b time.Time) bool {
	return a.Truncate(time.Millisecond).Equal(b.Truncate(time.Millisecond))
}

func diffSession(got, want *sessions.Session) string {
	g, w := *got, *want
	if !sameTime(g.CreateTime, w.CreateTime) || !sameTime(g.ExpireTime, w.ExpireTime) {
		return fmt.Sprintf("times: got create %v expire %v, want %v %v", g.CreateTime, g.ExpireTime, w.CreateTime, w.ExpireTime)
	}
	g.CreateTime, g.ExpireTime, w.CreateTime, w.ExpireTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", w) {
		return fmt.Sprintf("got  %#v\nwant %#v", g, w)
	}
	return ""
}

func testRoundTrip(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	now := c.Now()
	want := &sessions.Session{
		ID:               "sess-1",
		Tenant:           tenant,
		User:             "user:ünïcode/1",
		IdentityProvider: "idp-1",
		Roles:            []string{"admin", "viewer"},
		Groups:           []string{"g1", "g,2", `g"3`},
		AllowedResources: []string{"tenants/" + tenant + "/apps/a1"},
		AllowedOrigin:    "https://app.example.com",
		Attributes:       map[string]string{"region": "emea", "": "empty key", "k": ""},
		CreateTime:       now.Add(-time.Second + 123456789*time.Nanosecond),
		ExpireTime:       now.Add(time.Hour + 987654321*time.Nanosecond),
		TTL:              time.Hour,
		TenantEpoch:      7,
		UserEpoch:        1<<40 + 3,
	}
	hash := tokenHash()
	put(t, s, hash, want)
	got, _ := get(t, s, tenant, hash)
	if d := diffSession(got, want); d != "" {
		t.Fatal(d)
	}
}

func testEmptyCollections(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	for _, tc := range []struct {
		name string
		sess func() *sessions.Session
	}{
		{"nil", func() *sessions.Session { return newSession(c, tenant, "u", time.Hour) }},
		{"empty", func() *sessions.Session {
			x := newSession(c, tenant, "u", time.Hour)
			x.Roles, x.Groups, x.AllowedResources, x.Attributes = []string{}, []string{}, []string{}, map[string]string{}
			return x
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := tokenHash()
			put(t, s, hash, tc.sess())
			got, _ := get(t, s, tenant, hash)
			if got.Roles != nil || got.Groups != nil || got.AllowedResources != nil || got.Attributes != nil {
				t.Fatalf("collections read back as %#v %#v %#v %#v, want all nil",
					got.Roles, got.Groups, got.AllowedResources, got.Attributes)
			}
		})
	}
	t.Run("zero create time", func(t *testing.T) {
		x := newSession(c, tenant, "u", time.Hour)
		x.CreateTime = time.Time{}
		hash := tokenHash()
		put(t, s, hash, x)
		if got, _ := get(t, s, tenant, hash); !got.CreateTime.IsZero() {
			t.Fatalf("zero create time read back as %v", got.CreateTime)
		}
	})
}

func testCopies(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	x := newSession(c, tenant, "u", time.Hour)
	x.Roles = []string{"viewer"}
	x.Attributes = map[string]string{"a": "1"}
	hash := tokenHash()
	put(t, s, hash, x)
	x.Roles[0] = "admin"
	x.Attributes["a"] = "2"
	got, _ := get(t, s, tenant, hash)
	got.Roles[0] = "developer"
	got.Attributes["b"] = "3"
	again, _ := get(t, s, tenant, hash)
	if again.Roles[0] != "viewer" || len(again.Attributes) != 1 || again.Attributes["a"] != "1" {
		t.Fatalf("stored session changed through a caller's slice or map: %+v", again)
	}
}

func testPutReplaces(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	hash := tokenHash()
	first := newSession(c, tenant, "u", time.Hour)
	first.Roles = []string{"admin"}
	first.AllowedOrigin = "https://a.example"
	put(t, s, hash, first)
	second := newSession(c, tenant, "u", time.Hour)
	put(t, s, hash, second)
	got, _ := get(t, s, tenant, hash)
	if d := diffSession(got, second); d != "" {
		t.Fatalf("a field of the replaced session survived: %s", d)
	}
}

func testPutRejects(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	for _, tc := range []struct {
		name string
		hash string
		sess func() *sessions.Session
	}{
		{"nil session", "h", func() *sessions.Session { return nil }},
		{"no hash", "", func() *sessions.Session { return newSession(c, tenant, "u", time.Hour) }},
		{"no tenant", "h", func() *sessions.Session { return newSession(c, "", "u", time.Hour) }},
		{"brace in tenant", "h", func() *sessions.Session { return newSession(c, "a}b", "u", time.Hour) }},
		{"no user", "h", func() *sessions.Session { return newSession(c, tenant, "", time.Hour) }},
		{"no expire time", "h", func() *sessions.Session {
			x := newSession(c, tenant, "u", time.Hour)
			x.ExpireTime = time.Time{}
			return x
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Put(ctx(t), tc.hash, tc.sess()); err == nil {
				t.Fatal("Put accepted it")
			}
		})
	}
}

func testUnknown(t *testing.T, s sessions.Store, _ Clock) {
	tenant := testkit.UniqueID("t")
	wantNotFound(t, s, tenant, tokenHash())
	// A loaded mirror must not turn a missing session into anything else.
	load(t, s, tenant, sessions.FullState{TenantEpoch: 1})
	wantNotFound(t, s, tenant, tokenHash())
}

func testTenantIsolation(t *testing.T, s sessions.Store, c Clock) {
	a, b := testkit.UniqueID("ta"), testkit.UniqueID("tb")
	hash := tokenHash()
	put(t, s, hash, newSession(c, a, "u", time.Hour))
	load(t, s, a, sessions.FullState{TenantEpoch: 3, Users: map[string]sessions.UserState{"u": {Epoch: 2}}})

	wantNotFound(t, s, b, hash)
	if got, err := s.ListUser(ctx(t), b, "u"); err != nil || len(got) != 0 {
		t.Fatalf("ListUser in the other tenant = %v, %v", got, err)
	}
	if _, err := s.State(ctx(t), b, "u"); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("State in the other tenant: %v, want ErrStateUnknown", err)
	}
	// Writes through the other tenant must not reach this one.
	if err := s.Delete(ctx(t), b, hash); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireWithin(ctx(t), b, hash, 0); err != nil {
		t.Fatal(err)
	}
	load(t, s, b, sessions.FullState{TenantEpoch: 9, Users: map[string]sessions.UserState{"u": {Epoch: 9, Disabled: true}}})
	got, st := get(t, s, a, hash)
	if !sameTime(got.ExpireTime, got.CreateTime.Add(time.Hour)) {
		t.Fatalf("expire time moved to %v", got.ExpireTime)
	}
	if want := (sessions.State{TenantEpoch: 3, UserEpoch: 2}); st != want {
		t.Fatalf("state %+v, want %+v", st, want)
	}
}

func testDelete(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	gone, kept := tokenHash(), tokenHash()
	put(t, s, gone, newSession(c, tenant, "u", time.Hour))
	put(t, s, kept, newSession(c, tenant, "u", time.Hour))
	if err := s.Delete(ctx(t), tenant, gone); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, tenant, gone)
	want, _ := get(t, s, tenant, kept)
	got, err := s.ListUser(ctx(t), tenant, "u")
	if err != nil || len(got) != 1 || got[0].ID != want.ID {
		t.Fatalf("ListUser after Delete = %+v, %v; want only %s", got, err, want.ID)
	}
	if err := s.Delete(ctx(t), tenant, gone); err != nil {
		t.Fatalf("Delete of a deleted session: %v", err)
	}
	if err := s.Delete(ctx(t), tenant, tokenHash()); err != nil {
		t.Fatalf("Delete of an unknown session: %v", err)
	}
}

func testExpireWithin(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	// Redis shortens by its own clock; a second covers any gap to the suite's clock.
	const slack = time.Second
	hash := tokenHash()
	put(t, s, hash, newSession(c, tenant, "u", time.Hour))
	if err := s.ExpireWithin(ctx(t), tenant, hash, 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	got, _ := get(t, s, tenant, hash)
	if want := c.Now().Add(30 * time.Minute); got.ExpireTime.Sub(want).Abs() > slack {
		t.Fatalf("after shortening to 30m: expire time %v, want about %v", got.ExpireTime, want)
	}
	shortened := got.ExpireTime
	if err := s.ExpireWithin(ctx(t), tenant, hash, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, tenant, hash); !got.ExpireTime.Equal(shortened) {
		t.Fatalf("ExpireWithin(2h) moved the expire time from %v to %v", shortened, got.ExpireTime)
	}
	if list, err := s.ListUser(ctx(t), tenant, "u"); err != nil || len(list) != 1 || !list[0].ExpireTime.Equal(shortened) {
		t.Fatalf("ListUser = %+v, %v; want the shortened session", list, err)
	}
	if err := s.ExpireWithin(ctx(t), tenant, tokenHash(), time.Minute); err != nil {
		t.Fatalf("ExpireWithin of an unknown session: %v", err)
	}
}

// timeScenario is a behaviour that needs time to pass. setup runs before the clock
// moves and returns the check to run after; testTimePasses sets up every scenario,
// moves the clock once and then checks them all, so a real clock sleeps only once.
type timeScenario struct {
	name  string
	setup func(t *testing.T, s sessions.Store, c Clock) (check func(t *testing.T))
}

var timeScenarios = []timeScenario{
	{"SessionIsGoneAfterItsExpireTime", func(t *testing.T, s sessions.Store, c Clock) func(t *testing.T) {
		tenant := testkit.UniqueID("t")
		short, long := tokenHash(), tokenHash()
		put(t, s, short, newSession(c, tenant, "u", shortTTL))
		put(t, s, long, newSession(c, tenant, "u", time.Hour))
		get(t, s, tenant, short)
		if got, err := s.ListUser(ctx(t), tenant, "u"); err != nil || len(got) != 2 {
			t.Fatalf("ListUser before expiry = %d sessions, %v; want 2", len(got), err)
		}
		return func(t *testing.T) {
			wantNotFound(t, s, tenant, short)
			get(t, s, tenant, long)
			got, err := s.ListUser(ctx(t), tenant, "u")
			if err != nil || len(got) != 1 || !sameTime(got[0].ExpireTime, got[0].CreateTime.Add(time.Hour)) {
				t.Fatalf("ListUser after expiry = %+v, %v; want only the long session", got, err)
			}
		}
	}},
	{"ExpireWithinEndsTheSessionAfterTheGracePeriod", func(t *testing.T, s sessions.Store, c Clock) func(t *testing.T) {
		tenant := testkit.UniqueID("t")
		grace, now := tokenHash(), tokenHash()
		put(t, s, grace, newSession(c, tenant, "u", time.Hour))
		put(t, s, now, newSession(c, tenant, "u", time.Hour))
		if err := s.ExpireWithin(ctx(t), tenant, grace, shortTTL); err != nil {
			t.Fatal(err)
		}
		get(t, s, tenant, grace)
		if err := s.ExpireWithin(ctx(t), tenant, now, 0); err != nil {
			t.Fatal(err)
		}
		return func(t *testing.T) {
			wantNotFound(t, s, tenant, grace)
			wantNotFound(t, s, tenant, now)
			if list, err := s.ListUser(ctx(t), tenant, "u"); err != nil || len(list) != 0 {
				t.Fatalf("ListUser after the grace period = %+v, %v; want none", list, err)
			}
		}
	}},
	{"UseJTIIsUsableAgainAfterUntil", func(t *testing.T, s sessions.Store, c Clock) func(t *testing.T) {
		tenant := testkit.UniqueID("t")
		use := func(t *testing.T, key string, until time.Time) bool {
			t.Helper()
			ok, err := s.UseJTI(ctx(t), tenant, key, until)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !use(t, "k", c.Now().Add(shortTTL)) {
			t.Fatal("first use refused")
		}
		if use(t, "k", c.Now().Add(time.Hour)) {
			t.Fatal("second use before until accepted")
		}
		return func(t *testing.T) {
			if !use(t, "k", c.Now().Add(time.Hour)) {
				t.Fatal("use after until refused")
			}
			if use(t, "k", c.Now().Add(time.Hour)) {
				t.Fatal("second use of the renewed id accepted")
			}
			// An id held only until the past holds nothing (its JWT has expired anyway).
			for range 2 {
				if !use(t, "past", c.Now().Add(-time.Minute)) {
					t.Fatal("use of an id held until the past refused")
				}
			}
		}
	}},
}

func testTimePasses(t *testing.T, s sessions.Store, c Clock) {
	checks := make([]func(t *testing.T), len(timeScenarios))
	for i, sc := range timeScenarios {
		checks[i] = sc.setup(t, s, c)
	}
	c.Advance(shortTTL + expiryMargin)
	for i, sc := range timeScenarios {
		t.Run(sc.name, checks[i])
	}
}

func testListUser(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	// Put out of order, so the order cannot come from insertion.
	for _, ttl := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
		put(t, s, tokenHash(), newSession(c, tenant, "alice", ttl))
	}
	for range 2 {
		put(t, s, tokenHash(), newSession(c, tenant, "bob", time.Hour))
	}
	got, err := s.ListUser(ctx(t), tenant, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ListUser(alice) = %d sessions, want 3", len(got))
	}
	for i, x := range got {
		if x.User != "alice" || x.Tenant != tenant {
			t.Fatalf("session %d belongs to %s/%s", i, x.Tenant, x.User)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b *sessions.Session) int { return a.ExpireTime.Compare(b.ExpireTime) }) {
		t.Fatalf("not soonest first: %v, %v, %v", got[0].ExpireTime, got[1].ExpireTime, got[2].ExpireTime)
	}
	if !sameTime(got[0].ExpireTime, got[0].CreateTime.Add(time.Hour)) {
		t.Fatalf("first session expires at %v, want the one-hour session", got[0].ExpireTime)
	}
	if bob, err := s.ListUser(ctx(t), tenant, "bob"); err != nil || len(bob) != 2 {
		t.Fatalf("ListUser(bob) = %d, %v; want 2", len(bob), err)
	}
	if none, err := s.ListUser(ctx(t), tenant, "carol"); err != nil || len(none) != 0 {
		t.Fatalf("ListUser(carol) = %+v, %v; want none", none, err)
	}
}

func testStateUnknown(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	if _, err := s.State(ctx(t), tenant, "u"); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("State: %v, want ErrStateUnknown", err)
	}
	hash := tokenHash()
	x := newSession(c, tenant, "u", time.Hour)
	put(t, s, hash, x)
	got, _, err := s.Get(ctx(t), tenant, hash)
	if !errors.Is(err, sessions.ErrStateUnknown) || got == nil || got.ID != x.ID {
		t.Fatalf("Get = %+v, %v; want the session with ErrStateUnknown", got, err)
	}
	// A raise must not create a mirror that later looks loaded with only its value.
	for name, raise := range map[string]func() error{
		"RaiseTenantEpoch":      func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 5) },
		"RaiseUser":             func() error { return s.RaiseUser(ctx(t), tenant, "u", sessions.UserState{Epoch: 5}) },
		"RaiseDirectoryVersion": func() error { return s.RaiseDirectoryVersion(ctx(t), tenant, 5) },
	} {
		if err := raise(); !errors.Is(err, sessions.ErrStateUnknown) {
			t.Fatalf("%s on an unloaded mirror: %v, want ErrStateUnknown", name, err)
		}
	}
	if _, err := s.State(ctx(t), tenant, "u"); !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("State after refused raises: %v, want ErrStateUnknown", err)
	}
	// Loading an empty state is still loaded.
	load(t, s, tenant, sessions.FullState{})
	wantState(t, s, tenant, "u", sessions.State{})
}

func testLoadState(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	load(t, s, tenant, sessions.FullState{
		TenantEpoch:      4,
		DirectoryVersion: 11,
		Users: map[string]sessions.UserState{
			"alice": {Epoch: 2},
			"bob":   {Epoch: 3, Disabled: true},
			"carol": {Disabled: true},
		},
	})
	for _, tc := range []struct {
		user string
		want sessions.State
	}{
		{"alice", sessions.State{TenantEpoch: 4, DirectoryVersion: 11, UserEpoch: 2}},
		{"bob", sessions.State{TenantEpoch: 4, DirectoryVersion: 11, UserEpoch: 3, UserDisabled: true}},
		{"carol", sessions.State{TenantEpoch: 4, DirectoryVersion: 11, UserDisabled: true}},
		{"dave", sessions.State{TenantEpoch: 4, DirectoryVersion: 11}},
	} {
		wantState(t, s, tenant, tc.user, tc.want)
		hash := tokenHash()
		put(t, s, hash, newSession(c, tenant, tc.user, time.Hour))
		_, st, err := s.Get(ctx(t), tenant, hash)
		if err != nil || st != tc.want {
			t.Fatalf("Get(%s) state = %+v, %v; want %+v", tc.user, st, err, tc.want)
		}
	}
}

func testRaisesNeverLower(t *testing.T, s sessions.Store, _ Clock) {
	tenant := testkit.UniqueID("t")
	load(t, s, tenant, sessions.FullState{})
	steps := []struct {
		name string
		do   func() error
		want sessions.State
	}{
		{"raise tenant epoch", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 5) },
			sessions.State{TenantEpoch: 5}},
		{"lower tenant epoch", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 3) },
			sessions.State{TenantEpoch: 5}},
		{"raise directory version", func() error { return s.RaiseDirectoryVersion(ctx(t), tenant, 9) },
			sessions.State{TenantEpoch: 5, DirectoryVersion: 9}},
		{"lower directory version", func() error { return s.RaiseDirectoryVersion(ctx(t), tenant, 8) },
			sessions.State{TenantEpoch: 5, DirectoryVersion: 9}},
		{"raise user", func() error { return s.RaiseUser(ctx(t), tenant, "u", sessions.UserState{Epoch: 10}) },
			sessions.State{TenantEpoch: 5, DirectoryVersion: 9, UserEpoch: 10}},
		// Decimal strings compare by length first: 9 < 10 although "9" > "10".
		{"lower user by a digit", func() error { return s.RaiseUser(ctx(t), tenant, "u", sessions.UserState{Epoch: 9}) },
			sessions.State{TenantEpoch: 5, DirectoryVersion: 9, UserEpoch: 10}},
		{"raise tenant epoch past a digit", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 10) },
			sessions.State{TenantEpoch: 10, DirectoryVersion: 9, UserEpoch: 10}},
		{"lower tenant epoch by a digit", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 9) },
			sessions.State{TenantEpoch: 10, DirectoryVersion: 9, UserEpoch: 10}},
		{"raise tenant epoch beyond 2^53", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 1<<53+1) },
			sessions.State{TenantEpoch: 1<<53 + 1, DirectoryVersion: 9, UserEpoch: 10}},
		{"raise tenant epoch by one beyond 2^53", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 1<<53+2) },
			sessions.State{TenantEpoch: 1<<53 + 2, DirectoryVersion: 9, UserEpoch: 10}},
		{"lower tenant epoch by one beyond 2^53", func() error { return s.RaiseTenantEpoch(ctx(t), tenant, 1<<53+1) },
			sessions.State{TenantEpoch: 1<<53 + 2, DirectoryVersion: 9, UserEpoch: 10}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := state(t, s, tenant, "u"); got != st.want {
			t.Fatalf("after %s: %+v, want %+v", st.name, got, st.want)
		}
	}
	for name, bad := range map[string]func() error{
		"negative tenant epoch":      func() error { return s.RaiseTenantEpoch(ctx(t), tenant, -1) },
		"negative user epoch":        func() error { return s.RaiseUser(ctx(t), tenant, "u", sessions.UserState{Epoch: -1}) },
		"negative directory version": func() error { return s.RaiseDirectoryVersion(ctx(t), tenant, -1) },
	} {
		if err := bad(); err == nil || errors.Is(err, sessions.ErrStateUnknown) {
			t.Fatalf("%s: %v, want an invalid-argument error", name, err)
		}
	}
}

func testLoadMergesByMax(t *testing.T, s sessions.Store, _ Clock) {
	tenant := testkit.UniqueID("t")
	load(t, s, tenant, sessions.FullState{
		TenantEpoch: 2, DirectoryVersion: 2,
		Users: map[string]sessions.UserState{"a": {Epoch: 2}, "b": {Epoch: 2}},
	})
	// Revokes land in the mirror...
	if err := s.RaiseTenantEpoch(ctx(t), tenant, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseUser(ctx(t), tenant, "a", sessions.UserState{Epoch: 3, Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseUser(ctx(t), tenant, "c", sessions.UserState{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	// ...then a load read from the database before them arrives late: it must lower
	// nothing, and a user it does not mention keeps what it had.
	load(t, s, tenant, sessions.FullState{
		TenantEpoch: 2, DirectoryVersion: 5,
		Users: map[string]sessions.UserState{"a": {Epoch: 2}, "b": {Epoch: 4}},
	})
	for _, tc := range []struct {
		user string
		want sessions.State
	}{
		{"a", sessions.State{TenantEpoch: 3, DirectoryVersion: 5, UserEpoch: 3, UserDisabled: true}},
		{"b", sessions.State{TenantEpoch: 3, DirectoryVersion: 5, UserEpoch: 4}},
		{"c", sessions.State{TenantEpoch: 3, DirectoryVersion: 5, UserEpoch: 1}},
	} {
		wantState(t, s, tenant, tc.user, tc.want)
	}
	// A raise never lowers a loaded value either.
	if err := s.RaiseUser(ctx(t), tenant, "b", sessions.UserState{Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseDirectoryVersion(ctx(t), tenant, 4); err != nil {
		t.Fatal(err)
	}
	wantState(t, s, tenant, "b", sessions.State{TenantEpoch: 3, DirectoryVersion: 5, UserEpoch: 4})
}

func testDisabledFlips(t *testing.T, s sessions.Store, _ Clock) {
	tenant := testkit.UniqueID("t")
	load(t, s, tenant, sessions.FullState{Users: map[string]sessions.UserState{"u": {Epoch: 3}}})
	steps := []struct {
		name string
		set  sessions.UserState
		want sessions.UserState
	}{
		{"enable at a lower epoch is ignored", sessions.UserState{Epoch: 2}, sessions.UserState{Epoch: 3}},
		{"disable at a lower epoch is ignored", sessions.UserState{Epoch: 2, Disabled: true}, sessions.UserState{Epoch: 3}},
		{"disable at a higher epoch disables", sessions.UserState{Epoch: 4, Disabled: true}, sessions.UserState{Epoch: 4, Disabled: true}},
		{"enable at the same epoch is ignored", sessions.UserState{Epoch: 4}, sessions.UserState{Epoch: 4, Disabled: true}},
		{"enable at a lower epoch is still ignored", sessions.UserState{Epoch: 3}, sessions.UserState{Epoch: 4, Disabled: true}},
		{"enable at a higher epoch enables", sessions.UserState{Epoch: 5}, sessions.UserState{Epoch: 5}},
		// The one flip without a higher epoch, and the safe direction: at a tie,
		// disabled wins (the epoch*2+disabled packing), so a caller that forgot to raise
		// the epoch fails closed.
		{"disable at the same epoch disables", sessions.UserState{Epoch: 5, Disabled: true}, sessions.UserState{Epoch: 5, Disabled: true}},
	}
	for _, st := range steps {
		if err := s.RaiseUser(ctx(t), tenant, "u", st.set); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		got := state(t, s, tenant, "u")
		if (sessions.UserState{Epoch: got.UserEpoch, Disabled: got.UserDisabled}) != st.want {
			t.Fatalf("%s: user state %+v, want %+v", st.name, got, st.want)
		}
	}
}

func testValid(t *testing.T, s sessions.Store, c Clock) {
	// Each step changes the mirror and says whether a session issued at tenant epoch 2
	// and user epoch 3 is still valid; tenants are fresh per case.
	for _, tc := range []struct {
		name  string
		apply func(ctx context.Context, tenant string) error
		valid bool
	}{
		{"at its epochs", func(context.Context, string) error { return nil }, true},
		{"other user revoked", func(ctx context.Context, tenant string) error {
			return s.RaiseUser(ctx, tenant, "other", sessions.UserState{Epoch: 9, Disabled: true})
		}, true},
		{"directory changed", func(ctx context.Context, tenant string) error {
			return s.RaiseDirectoryVersion(ctx, tenant, 9)
		}, true},
		{"user revoked", func(ctx context.Context, tenant string) error {
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 4})
		}, false},
		{"user disabled", func(ctx context.Context, tenant string) error {
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 3, Disabled: true})
		}, false},
		{"tenant revoked", func(ctx context.Context, tenant string) error {
			return s.RaiseTenantEpoch(ctx, tenant, 3)
		}, false},
		{"stale raises", func(ctx context.Context, tenant string) error {
			if err := s.RaiseTenantEpoch(ctx, tenant, 1); err != nil {
				return err
			}
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 2})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := testkit.UniqueID("t")
			load(t, s, tenant, sessions.FullState{TenantEpoch: 2, Users: map[string]sessions.UserState{"u": {Epoch: 3}}})
			x := newSession(c, tenant, "u", time.Hour)
			x.TenantEpoch, x.UserEpoch = 2, 3
			hash := tokenHash()
			put(t, s, hash, x)
			if err := tc.apply(ctx(t), tenant); err != nil {
				t.Fatal(err)
			}
			got, st, err := s.Get(ctx(t), tenant, hash)
			if err != nil {
				t.Fatal(err)
			}
			if v := st.Valid(got); v != tc.valid {
				t.Fatalf("Valid = %v under %+v, want %v", v, st, tc.valid)
			}
		})
	}
}

func testJTI(t *testing.T, s sessions.Store, c Clock) {
	a, b := testkit.UniqueID("ta"), testkit.UniqueID("tb")
	until := c.Now().Add(time.Hour)
	for _, step := range []struct {
		tenant, key string
		want        bool
	}{
		{a, "k1", true},
		{a, "k1", false},
		{a, "k1", false},
		{b, "k1", true}, // another tenant's JWT ids are its own
		{b, "k1", false},
		{a, "k2", true},
	} {
		got, err := s.UseJTI(ctx(t), step.tenant, step.key, until)
		if err != nil || got != step.want {
			t.Fatalf("UseJTI(%s, %s) = %v, %v; want %v", step.tenant, step.key, got, err, step.want)
		}
	}
}

func testJTIConcurrent(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	until := c.Now().Add(time.Hour)
	exactlyOneWins(t, "uses of one JWT id", func() (bool, error) { return s.UseJTI(ctx(t), tenant, "replayed", until) })
}

// exactlyOneWins presents one JWT id 50 times at once through use and fails unless
// exactly one presentation wins and none errs.
func exactlyOneWins(t *testing.T, what string, use func() (bool, error)) {
	t.Helper()
	const n = 50
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			ok, err := use()
			if err != nil {
				errs <- err
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := wins.Load(); got != 1 {
		t.Fatalf("%d of %d concurrent %s won, want exactly 1", got, n, what)
	}
}

func testRevokeRace(t *testing.T, s sessions.Store, c Clock) {
	for _, tc := range []struct {
		name   string
		revoke func(ctx context.Context, tenant string) error
	}{
		{"user", func(ctx context.Context, tenant string) error {
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 2})
		}},
		{"disable", func(ctx context.Context, tenant string) error {
			return s.RaiseUser(ctx, tenant, "u", sessions.UserState{Epoch: 2, Disabled: true})
		}},
		{"tenant", func(ctx context.Context, tenant string) error {
			return s.RaiseTenantEpoch(ctx, tenant, 2)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tenant := testkit.UniqueID("t")
			load(t, s, tenant, sessions.FullState{TenantEpoch: 1, Users: map[string]sessions.UserState{"u": {Epoch: 1}}})
			x := newSession(c, tenant, "u", time.Hour)
			x.TenantEpoch, x.UserEpoch = 1, 1
			hash := tokenHash()
			put(t, s, hash, x)

			const readers = 200
			getCtx := ctx(t)
			var (
				revoked     atomic.Bool
				stop        atomic.Bool
				before      atomic.Int64 // Gets that completed before the revoke returned
				after       atomic.Int64 // Gets that started after it
				wg          sync.WaitGroup
				failOnce    sync.Once
				firstFailed error
			)
			fail := func(err error) { failOnce.Do(func() { firstFailed = err }); stop.Store(true) }
			for range readers {
				wg.Go(func() {
					for !stop.Load() {
						startedAfter := revoked.Load()
						got, st, err := s.Get(getCtx, tenant, hash)
						if err != nil {
							fail(fmt.Errorf("Get: %w", err))
							return
						}
						if startedAfter {
							after.Add(1)
							if st.Valid(got) {
								fail(fmt.Errorf("a Get started after the revoke returned saw a valid session under %+v", st))
								return
							}
						} else {
							before.Add(1)
						}
					}
				})
			}
			// Let the readers get going, revoke, then let enough Gets start afterwards.
			for before.Load() < readers && !stop.Load() {
				time.Sleep(time.Millisecond)
			}
			if err := tc.revoke(ctx(t), tenant); err != nil {
				fail(err)
			}
			revoked.Store(true)
			for after.Load() < 2*readers && !stop.Load() {
				time.Sleep(time.Millisecond)
			}
			stop.Store(true)
			wg.Wait()
			if firstFailed != nil {
				t.Fatal(firstFailed)
			}
		})
	}
}

// testAdmit checks Admit as UseJTI and State together: the id is taken once, the state is
// the user's, and an unloaded mirror still records the id.
func testAdmit(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	until := c.Now().Add(time.Hour)
	first, _, err := s.Admit(ctx(t), tenant, "k1", until, "u")
	if !first || !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("Admit before the mirror is loaded = %v, %v; want true, ErrStateUnknown", first, err)
	}
	if first, _, err := s.Admit(ctx(t), tenant, "k1", until, "u"); first || !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("Admit of a used id, mirror not loaded = %v, %v; want false, ErrStateUnknown", first, err)
	}
	load(t, s, tenant, sessions.FullState{TenantEpoch: 4, DirectoryVersion: 7,
		Users: map[string]sessions.UserState{"u": {Epoch: 3, Disabled: true}}})
	first, st, err := s.Admit(ctx(t), tenant, "k2", until, "u")
	want := sessions.State{TenantEpoch: 4, DirectoryVersion: 7, UserEpoch: 3, UserDisabled: true}
	if err != nil || !first || st != want {
		t.Fatalf("Admit(k2, u) = %v, %+v, %v; want true, %+v", first, st, err, want)
	}
	if first, st, err := s.Admit(ctx(t), tenant, "k2", until, "other"); err != nil || first ||
		st != (sessions.State{TenantEpoch: 4, DirectoryVersion: 7}) {
		t.Fatalf("Admit of a used id for another user = %v, %+v, %v; want false and that user's state", first, st, err)
	}
	// Another tenant's ids are its own.
	other := testkit.UniqueID("t")
	if first, _, err := s.Admit(ctx(t), other, "k2", until, "u"); !first || !errors.Is(err, sessions.ErrStateUnknown) {
		t.Fatalf("Admit(k2) in another tenant = %v, %v; want true, ErrStateUnknown", first, err)
	}
	if _, _, err := s.Admit(ctx(t), tenant, "k3", until, ""); err == nil || errors.Is(err, sessions.ErrStateUnknown) {
		t.Errorf("Admit without a user = %v; want an input error", err)
	}
	if ok, err := s.UseJTI(ctx(t), tenant, "k1", until); err != nil || ok {
		t.Errorf("UseJTI of an id Admit took = %v, %v; want false", ok, err)
	}
}

func testAdmitConcurrent(t *testing.T, s sessions.Store, c Clock) {
	tenant := testkit.UniqueID("t")
	load(t, s, tenant, sessions.FullState{TenantEpoch: 1})
	until := c.Now().Add(time.Hour)
	exactlyOneWins(t, "admissions of one JWT id", func() (bool, error) {
		ok, _, err := s.Admit(ctx(t), tenant, "replayed", until, "u")
		return ok, err
	})
}
