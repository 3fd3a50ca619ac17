package storetest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

var reloadBehaviours = []behaviour{
	{"a created reload reads back QUEUED at the app's latest revision", reloadRoundTrips},
	{"a request id the app already used returns the reload it queued", reloadRequestIDIsIdempotent},
	{"of concurrent creates with one request id exactly one queues a reload", concurrentCreatesOneReload},
	{"reloads list newest first, in pages", reloadsNewestFirst},
	{"a queued reload is canceled at once, and an ended one cannot be", cancelQueuedReload},
	{"a reload of another tenant or app is not found", reloadIsolation},
}

// reloadLeaseBehaviours claim "the oldest claimable reload of the store", so each needs a
// store of its own: in a shared store they would claim each other's reloads.
var reloadLeaseBehaviours = []behaviour{
	{"claims take the oldest queued reload within the tenant's limit, one per app", claimReloadTakesOldest},
	{"only the owner renews a reload, which records its progress", renewReloadRecordsProgress},
	{"the log keeps its first 500 lines and its last 500, and says how many it dropped", reloadLogIsCapped},
	{"an expired run is queued again, and fails after the most attempts", expiredRunsRequeueThenFail},
	{"a running reload is canceled by its worker, and an ended one cannot be", cancelRunningReload},
	{"finishing a reload as succeeded makes its model the app's in one step", finishSetsAppModel},
	{"a reload and the app's model die with the app", reloadsDieWithTheirApp},
	{"concurrent claimers never take a reload twice nor exceed the limits", concurrentReloadClaims},
}

// reloadIDPattern is what every reload id must match (the API's pattern).
var reloadIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// reloadLease is how long the behaviours' leases last.
const reloadLease = time.Minute

// newReloadApp creates a space and an app in a new tenant and returns both ids.
func newReloadApp(t *testing.T, s store.Store) (tenant, app string) {
	t.Helper()
	tenant = newTenant()
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateApp(t, s, tenant, "finance", "sales")
	return tenant, "sales"
}

// mustCreateReload queues a reload of app at when and fails the test unless it is new.
func mustCreateReload(t *testing.T, s store.Store, tenant, app string, when time.Time) *contentv1.Reload {
	t.Helper()
	r, created, err := s.CreateReload(t.Context(), tenant, app, store.NewReload{Creator: "tenants/" + tenant + "/users/ann"}, when)
	testkit.RequireNoError(t, "CreateReload", err)
	testkit.RequireEqual(t, "created", true, created)
	return r
}

// reloadKey returns the key of a reload's name.
func reloadKey(t *testing.T, name string) store.ReloadKey {
	t.Helper()
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "tenants" || parts[2] != "apps" || parts[4] != "reloads" {
		t.Fatalf("reload name %q is not tenants/{t}/apps/{a}/reloads/{r}", name)
	}
	return store.ReloadKey{Tenant: parts[1], App: parts[3], ID: parts[5]}
}

// mustGetReload reads a reload.
func mustGetReload(t *testing.T, s store.Store, key store.ReloadKey) *contentv1.Reload {
	t.Helper()
	r, err := s.GetReload(t.Context(), key)
	testkit.RequireNoError(t, "GetReload", err)
	return r
}

// claim claims a reload with a limit of two per tenant and three attempts.
func claim(t *testing.T, s store.Store, owner string, now time.Time) *store.ReloadLease {
	t.Helper()
	l, err := s.ClaimReload(t.Context(), owner, reloadLease, 2, 3, now)
	testkit.RequireNoError(t, "ClaimReload by "+owner, err)
	return l
}

// mustClaim claims a reload and fails the test unless it is want.
func mustClaim(t *testing.T, s store.Store, owner string, now time.Time, want *contentv1.Reload) *store.ReloadLease {
	t.Helper()
	l := claim(t, s, owner, now)
	if l == nil {
		t.Fatalf("ClaimReload by %s claimed nothing, want %s", owner, want.GetName())
	}
	testkit.RequireEqual(t, "reload claimed by "+owner, want.GetName(), l.Reload.GetName())
	return l
}

// requireNoClaim fails the test if a reload can be claimed at now.
func requireNoClaim(t *testing.T, s store.Store, what string, now time.Time) {
	t.Helper()
	if l := claim(t, s, "idle-worker", now); l != nil {
		t.Fatalf("%s: ClaimReload claimed %s, want nothing", what, l.Reload.GetName())
	}
}

// logLines returns n log lines numbered from first, a microsecond apart after when.
func logLines(first, n int, when time.Time) []*contentv1.ReloadLogLine {
	out := make([]*contentv1.ReloadLogLine, n)
	for i := range out {
		out[i] = &contentv1.ReloadLogLine{Time: ts(when.Add(time.Duration(first+i) * time.Microsecond)), Message: fmt.Sprintf("line %d", first+i)}
	}
	return out
}

// messages returns the message of each log line.
func messages(lines []*contentv1.ReloadLogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.GetMessage()
	}
	return out
}

// succeed finishes a reload as SUCCEEDED with a model at snapshot.
func succeed(t *testing.T, s store.Store, l *store.ReloadLease, snapshot string, memory int64, now time.Time) *contentv1.Reload {
	t.Helper()
	r, err := s.FinishReload(t.Context(), l.Key, l.Owner, store.ReloadResult{
		State: contentv1.Reload_STATE_SUCCEEDED, Duration: time.Second,
		Model: &store.AppModel{SnapshotKey: snapshot, MemoryBytes: memory},
	}, now)
	testkit.RequireNoError(t, "FinishReload as SUCCEEDED", err)
	return r
}

func reloadRoundTrips(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	a := mustGetApp(t, s, tenant, app)
	mustSave(t, s, tenant, app, a.GetEtag(), a, saveRevision(at(time.Minute)))

	vars := map[string]string{"vSchema": "sales", "vEmpty": ""}
	r, created, err := s.CreateReload(t.Context(), tenant, app, store.NewReload{
		Variables: vars, Creator: "tenants/" + tenant + "/users/ann",
	}, at(time.Hour))
	testkit.RequireNoError(t, "CreateReload", err)
	testkit.RequireEqual(t, "created", true, created)
	key := reloadKey(t, r.GetName())
	testkit.RequireEqual(t, "tenant of the reload", tenant, key.Tenant)
	testkit.RequireEqual(t, "app of the reload", app, key.App)
	if !reloadIDPattern.MatchString(key.ID) {
		t.Fatalf("reload id %q does not match %s", key.ID, reloadIDPattern)
	}
	if r.GetEtag() == "" {
		t.Fatalf("CreateReload left the etag empty")
	}
	want := &contentv1.Reload{
		Name:        store.ReloadName(tenant, app, key.ID),
		Variables:   vars,
		State:       contentv1.Reload_STATE_QUEUED,
		AppRevision: "2",
		Creator:     "tenants/" + tenant + "/users/ann",
		CreateTime:  ts(at(time.Hour)),
		Etag:        r.GetEtag(),
	}
	testkit.RequireProto(t, "the created reload", want, r)
	testkit.RequireProto(t, "GetReload", want, mustGetReload(t, s, key))

	// Without variables, the map reads as unset.
	bare := mustCreateReload(t, s, tenant, app, at(2*time.Hour))
	testkit.RequireEqual(t, "variables of a reload without any", 0, len(bare.GetVariables()))
	if bare.GetName() == r.GetName() {
		t.Fatalf("two reloads share the name %s", r.GetName())
	}

	_, _, err = s.CreateReload(t.Context(), tenant, "missing", store.NewReload{}, epoch)
	testkit.RequireErrorIs(t, "CreateReload of a missing app", err, store.ErrNotFound)
	_, err = s.GetReload(t.Context(), store.ReloadKey{Tenant: tenant, App: app, ID: "0000000000000000000"})
	testkit.RequireErrorIs(t, "GetReload of a missing reload", err, store.ErrNotFound)
	_, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel before any reload succeeded", err, store.ErrNotFound)
}

func reloadRequestIDIsIdempotent(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	mustCreateApp(t, s, tenant, "finance", "other")
	first, created, err := s.CreateReload(t.Context(), tenant, app, store.NewReload{
		Variables: map[string]string{"v": "1"}, Creator: "alice", RequestID: "req-1",
	}, at(time.Minute))
	testkit.RequireNoError(t, "CreateReload with a request id", err)
	testkit.RequireEqual(t, "created", true, created)

	again, created, err := s.CreateReload(t.Context(), tenant, app, store.NewReload{
		Variables: map[string]string{"v": "2"}, Creator: "bob", RequestID: "req-1",
	}, at(time.Hour))
	testkit.RequireNoError(t, "CreateReload with a used request id", err)
	testkit.RequireEqual(t, "created with a used request id", false, created)
	testkit.RequireProto(t, "the reload of a used request id", first, again)

	// The request id is the app's: another app, or another request id, queues another.
	for _, c := range []struct{ app, requestID string }{{"other", "req-1"}, {app, "req-2"}, {app, ""}, {app, ""}} {
		r, created, err := s.CreateReload(t.Context(), tenant, c.app, store.NewReload{RequestID: c.requestID}, at(time.Hour))
		testkit.RequireNoError(t, "CreateReload", err)
		testkit.RequireEqual(t, fmt.Sprintf("created on %s with request id %q", c.app, c.requestID), true, created)
		if r.GetName() == first.GetName() {
			t.Fatalf("CreateReload on %s with request id %q returned the first reload", c.app, c.requestID)
		}
	}
	reloads, err := s.ListReloads(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListReloads", err)
	testkit.RequireEqual(t, "reloads of the app", 4, len(reloads))
}

func concurrentCreatesOneReload(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	for round := range rounds {
		requestID := fmt.Sprintf("req-%d", round)
		reloads := make([]*contentv1.Reload, concurrency)
		created := make([]bool, concurrency)
		errs := make([]error, concurrency)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range concurrency {
			wg.Go(func() {
				<-start
				reloads[i], created[i], errs[i] = s.CreateReload(t.Context(), tenant, app,
					store.NewReload{Creator: fmt.Sprintf("caller-%d", i), RequestID: requestID}, at(time.Minute))
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			testkit.RequireNoError(t, fmt.Sprintf("round %d: create %d", round, i), err)
			if created[i] {
				if won >= 0 {
					t.Fatalf("round %d: creates %d and %d both queued a reload", round, won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no create queued a reload", round)
		}
		for i, r := range reloads {
			testkit.RequireProto(t, fmt.Sprintf("round %d: reload of create %d", round, i), reloads[won], r)
		}
	}
	reloads, err := s.ListReloads(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListReloads", err)
	testkit.RequireEqual(t, "reloads queued", rounds, len(reloads))
}

func reloadsNewestFirst(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	// Some share a create time: the order among those is the ids', still one order.
	times := []time.Duration{time.Second, 2 * time.Second, 2 * time.Second, time.Hour, time.Hour + time.Microsecond, 25 * time.Hour}
	ids := make([]string, len(times))
	for i, d := range times {
		ids[i] = testkit.ResourceID(mustCreateReload(t, s, tenant, app, at(d)).GetName())
	}
	for i := range ids {
		for j := range ids {
			if times[i] > times[j] && ids[i] <= ids[j] {
				t.Fatalf("reload %s was created after %s, but its id does not sort after", ids[i], ids[j])
			}
		}
	}
	want := slices.Sorted(slices.Values(ids))
	slices.Reverse(want)
	requireOrderedPaging(t, want, func(p store.Page) ([]*contentv1.Reload, error) {
		return s.ListReloads(t.Context(), tenant, app, p)
	}, func(r *contentv1.Reload) string { return testkit.ResourceID(r.GetName()) })

	listed, err := s.ListReloads(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListReloads", err)
	for _, r := range listed {
		testkit.RequireProto(t, "listed reload", mustGetReload(t, s, reloadKey(t, r.GetName())), r)
	}

	mustCreateApp(t, s, tenant, "finance", "empty")
	empty, err := s.ListReloads(t.Context(), tenant, "empty", everything)
	testkit.RequireNoError(t, "ListReloads of an app without reloads", err)
	testkit.RequireEqual(t, "reloads of an app without any", 0, len(empty))
	_, err = s.ListReloads(t.Context(), tenant, "missing", everything)
	testkit.RequireErrorIs(t, "ListReloads of a missing app", err, store.ErrNotFound)
	_, err = s.ListReloads(t.Context(), tenant, app, store.Page{})
	if err == nil {
		t.Fatalf("ListReloads with a zero page succeeded")
	}
}

func cancelQueuedReload(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	r := mustCreateReload(t, s, tenant, app, epoch)
	key := reloadKey(t, r.GetName())
	canceled, err := s.CancelReload(t.Context(), key, at(time.Minute))
	testkit.RequireNoError(t, "CancelReload of a queued reload", err)
	want := proto.Clone(r).(*contentv1.Reload)
	want.State, want.EndTime, want.Etag = contentv1.Reload_STATE_CANCELED, ts(at(time.Minute)), canceled.GetEtag()
	testkit.RequireProto(t, "the canceled reload", want, canceled)
	testkit.RequireProto(t, "GetReload of the canceled reload", want, mustGetReload(t, s, key))
	if canceled.GetEtag() == r.GetEtag() {
		t.Fatalf("the etag did not change when the reload was canceled")
	}

	_, err = s.CancelReload(t.Context(), key, at(time.Hour))
	testkit.RequireErrorIs(t, "CancelReload of a canceled reload", err, store.ErrStateConflict)
	testkit.RequireProto(t, "the reload after a refused cancel", want, mustGetReload(t, s, key))
	_, err = s.CancelReload(t.Context(), store.ReloadKey{Tenant: tenant, App: app, ID: "0000000000000000000"}, epoch)
	testkit.RequireErrorIs(t, "CancelReload of a missing reload", err, store.ErrNotFound)
}

func reloadIsolation(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	other, _ := newReloadApp(t, s)
	mustCreateApp(t, s, tenant, "finance", "other")
	r := mustCreateReload(t, s, tenant, app, epoch)
	key := reloadKey(t, r.GetName())
	for what, k := range map[string]store.ReloadKey{
		"another tenant": {Tenant: other, App: app, ID: key.ID},
		"another app":    {Tenant: tenant, App: "other", ID: key.ID},
	} {
		_, err := s.GetReload(t.Context(), k)
		testkit.RequireErrorIs(t, "GetReload in "+what, err, store.ErrNotFound)
		_, err = s.CancelReload(t.Context(), k, epoch)
		testkit.RequireErrorIs(t, "CancelReload in "+what, err, store.ErrNotFound)
	}
	listed, err := s.ListReloads(t.Context(), other, app, everything)
	testkit.RequireNoError(t, "ListReloads of another tenant's app", err)
	testkit.RequireEqual(t, "reloads of another tenant's app", 0, len(listed))
	testkit.RequireEqual(t, "state after cancels elsewhere", contentv1.Reload_STATE_QUEUED, mustGetReload(t, s, key).GetState())
}

func claimReloadTakesOldest(t *testing.T, s store.Store) {
	// Tenant a has three apps, tenant b one; the limit is two per tenant.
	a, b := newTenant(), newTenant()
	mustCreateSpace(t, s, a, "finance")
	mustCreateSpace(t, s, b, "finance")
	for _, app := range []string{"a1", "a2", "a3"} {
		mustCreateApp(t, s, a, "finance", app)
	}
	mustCreateApp(t, s, b, "finance", "b1")
	requireNoClaim(t, s, "an empty queue", epoch)
	r1 := mustCreateReload(t, s, a, "a1", at(1*time.Second))
	r2 := mustCreateReload(t, s, a, "a1", at(2*time.Second))
	r3 := mustCreateReload(t, s, a, "a2", at(3*time.Second))
	r4 := mustCreateReload(t, s, a, "a3", at(4*time.Second))
	r5 := mustCreateReload(t, s, b, "b1", at(5*time.Second))

	now := at(time.Minute)
	l1 := mustClaim(t, s, "w1", now, r1)
	testkit.RequireEqual(t, "lease owner", "w1", l1.Owner)
	testkit.RequireEqual(t, "lease until", now.Add(reloadLease), l1.Until)
	testkit.RequireEqual(t, "attempt", 1, l1.Attempt)
	testkit.RequireEqual(t, "lease key", reloadKey(t, r1.GetName()), l1.Key)
	testkit.RequireEqual(t, "app revision of the lease", int64(1), l1.AppRevision)
	want := proto.Clone(r1).(*contentv1.Reload)
	want.State, want.StartTime, want.Etag = contentv1.Reload_STATE_RUNNING, ts(now), l1.Reload.GetEtag()
	testkit.RequireProto(t, "the claimed reload", want, l1.Reload)
	testkit.RequireProto(t, "GetReload of the claimed reload", want, mustGetReload(t, s, l1.Key))
	if l1.Reload.GetEtag() == r1.GetEtag() {
		t.Fatalf("the etag did not change when the reload was claimed")
	}

	// r2 waits for r1 (same app); r4 for a slot of tenant a.
	l3 := mustClaim(t, s, "w2", now, r3)
	mustClaim(t, s, "w3", now, r5)
	requireNoClaim(t, s, "tenant a at its limit, b's app running", now)

	succeed(t, s, l1, "snap-1", 10, at(90*time.Second))
	mustClaim(t, s, "w4", at(90*time.Second), r2)
	requireNoClaim(t, s, "tenant a at its limit again", at(90*time.Second))
	_, err := s.FinishReload(t.Context(), l3.Key, l3.Owner, store.ReloadResult{State: contentv1.Reload_STATE_FAILED, Error: "boom"}, at(100*time.Second))
	testkit.RequireNoError(t, "FinishReload as FAILED", err)
	mustClaim(t, s, "w5", at(100*time.Second), r4)
	requireNoClaim(t, s, "nothing queued", at(100*time.Second))

	// The limit is the caller's. (Every lease still holds: they last a minute from 60s on.)
	r6 := mustCreateReload(t, s, a, "a2", at(110*time.Second))
	_, err = s.ClaimReload(t.Context(), "w6", reloadLease, 0, 3, at(110*time.Second))
	if err == nil {
		t.Fatalf("ClaimReload with a limit of 0 succeeded")
	}
	l, err := s.ClaimReload(t.Context(), "w6", reloadLease, 3, 3, at(110*time.Second))
	testkit.RequireNoError(t, "ClaimReload with a limit of 3", err)
	if l == nil || l.Reload.GetName() != r6.GetName() {
		t.Fatalf("ClaimReload with a limit of 3 claimed %v, want %s", l, r6.GetName())
	}
}

func renewReloadRecordsProgress(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	r := mustCreateReload(t, s, tenant, app, epoch)
	l := mustClaim(t, s, "alice", at(time.Second), r)
	key := l.Key

	tables := []*contentv1.ReloadTable{{Name: "orders", Rows: 1200, Fields: []string{"id", "customer", "amount"}}}
	cancel, err := s.RenewReload(t.Context(), key, "alice", reloadLease, store.ReloadProgress{
		Log: logLines(0, 2, at(time.Second)), Tables: tables, PeakMemoryBytes: 4096,
	}, at(30*time.Second))
	testkit.RequireNoError(t, "RenewReload by the owner", err)
	testkit.RequireEqual(t, "cancel requested", false, cancel)
	got := mustGetReload(t, s, key)
	testkit.RequireStrings(t, "log after a renewal", []string{"line 0", "line 1"}, messages(got.GetLog()))
	testkit.RequireProto(t, "first log line", logLines(0, 1, at(time.Second))[0], got.GetLog()[0])
	testkit.RequireEqual(t, "tables after a renewal", 1, len(got.GetTables()))
	testkit.RequireProto(t, "table", tables[0], got.GetTables()[0])
	testkit.RequireEqual(t, "peak memory", int64(4096), got.GetPeakMemoryBytes())
	if got.GetEtag() == l.Reload.GetEtag() {
		t.Fatalf("the etag did not change with progress")
	}

	// A renewal with nothing new changes nothing a reader sees; a lower peak leaves it,
	// and tables left nil stay.
	_, err = s.RenewReload(t.Context(), key, "alice", reloadLease, store.ReloadProgress{PeakMemoryBytes: 10}, at(80*time.Second))
	testkit.RequireNoError(t, "RenewReload without progress", err)
	testkit.RequireProto(t, "the reload after a bare renewal", got, mustGetReload(t, s, key))
	// The lease now runs to 80s + 1m, so a claim just before then takes nothing over.
	requireNoClaim(t, s, "a renewed lease", at(140*time.Second-time.Microsecond))

	// Logs append; tables replace.
	tables = append(tables, &contentv1.ReloadTable{Name: "customers", Rows: 3, Fields: []string{"customer"}})
	_, err = s.RenewReload(t.Context(), key, "alice", reloadLease, store.ReloadProgress{
		Log: logLines(2, 1, at(time.Second)), Tables: tables, PeakMemoryBytes: 8192,
	}, at(90*time.Second))
	testkit.RequireNoError(t, "RenewReload", err)
	got = mustGetReload(t, s, key)
	testkit.RequireStrings(t, "log after two renewals", []string{"line 0", "line 1", "line 2"}, messages(got.GetLog()))
	testkit.RequireEqual(t, "tables", 2, len(got.GetTables()))
	testkit.RequireEqual(t, "peak memory", int64(8192), got.GetPeakMemoryBytes())

	_, err = s.RenewReload(t.Context(), key, "bob", reloadLease, store.ReloadProgress{Log: logLines(9, 1, epoch)}, at(90*time.Second))
	testkit.RequireErrorIs(t, "RenewReload by another worker", err, store.ErrLeaseLost)
	_, err = s.RenewReload(t.Context(), store.ReloadKey{Tenant: tenant, App: app, ID: "0000000000000000000"}, "alice", reloadLease, store.ReloadProgress{}, at(90*time.Second))
	testkit.RequireErrorIs(t, "RenewReload of a missing reload", err, store.ErrLeaseLost)
	testkit.RequireEqual(t, "log lines after refused renewals", 3, len(mustGetReload(t, s, key).GetLog()))

	// Listings carry no log.
	listed, err := s.ListReloads(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListReloads", err)
	want := proto.Clone(got).(*contentv1.Reload)
	want.Log = nil
	testkit.RequireProto(t, "the listed reload", want, listed[0])

	done, err := s.FinishReload(t.Context(), key, "alice", store.ReloadResult{
		State: contentv1.Reload_STATE_FAILED, Error: "syntax error", ErrorPosition: &contentv1.ScriptPosition{Line: 3, Column: 7},
		Duration: 95*time.Second + time.Nanosecond, PeakMemoryBytes: 100, Log: logLines(3, 1, at(time.Second)),
	}, at(96*time.Second))
	testkit.RequireNoError(t, "FinishReload", err)
	want = proto.Clone(got).(*contentv1.Reload)
	want.State, want.Error = contentv1.Reload_STATE_FAILED, "syntax error"
	want.ErrorPosition = &contentv1.ScriptPosition{Line: 3, Column: 7}
	want.Duration = durationpb.New(95*time.Second + time.Nanosecond)
	want.Log = append(want.Log, logLines(3, 1, at(time.Second))...)
	want.EndTime, want.Etag = ts(at(96*time.Second)), done.GetEtag()
	testkit.RequireProto(t, "the failed reload", want, done)
	testkit.RequireProto(t, "GetReload of the failed reload", want, mustGetReload(t, s, key))
	_, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel after a failed reload", err, store.ErrNotFound)

	_, err = s.RenewReload(t.Context(), key, "alice", reloadLease, store.ReloadProgress{}, at(97*time.Second))
	testkit.RequireErrorIs(t, "RenewReload of a finished reload", err, store.ErrLeaseLost)
	_, err = s.FinishReload(t.Context(), key, "alice", store.ReloadResult{State: contentv1.Reload_STATE_FAILED}, at(97*time.Second))
	testkit.RequireErrorIs(t, "FinishReload of a finished reload", err, store.ErrLeaseLost)
}

func reloadLogIsCapped(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	l := mustClaim(t, s, "alice", at(time.Second), mustCreateReload(t, s, tenant, app, epoch))
	// 1500 lines in renewals of 300, then 7 more when it finishes.
	for i := range 5 {
		_, err := s.RenewReload(t.Context(), l.Key, "alice", reloadLease,
			store.ReloadProgress{Log: logLines(i*300, 300, epoch)}, at(time.Duration(i+2)*time.Second))
		testkit.RequireNoError(t, "RenewReload", err)
		log := mustGetReload(t, s, l.Key).GetLog()
		if total := (i + 1) * 300; total <= 1000 {
			testkit.RequireEqual(t, fmt.Sprintf("log lines after %d", total), total, len(log))
		}
	}
	requireCapped := func(what string, total int) {
		t.Helper()
		log := mustGetReload(t, s, l.Key).GetLog()
		testkit.RequireEqual(t, what+": lines", 1001, len(log))
		var want []string
		for i := range 500 {
			want = append(want, fmt.Sprintf("line %d", i))
		}
		testkit.RequireStrings(t, what+": first 500", want, messages(log[:500]))
		want = want[:0]
		for i := total - 500; i < total; i++ {
			want = append(want, fmt.Sprintf("line %d", i))
		}
		testkit.RequireStrings(t, what+": last 500", want, messages(log[501:]))
		if gap := log[500].GetMessage(); !strings.Contains(gap, fmt.Sprintf("%d lines dropped", total-1000)) {
			t.Fatalf("%s: the line between says %q, want it to say %d lines were dropped", what, gap, total-1000)
		}
	}
	requireCapped("after 1500 lines", 1500)
	_, err := s.FinishReload(t.Context(), l.Key, "alice", store.ReloadResult{
		State: contentv1.Reload_STATE_SUCCEEDED, Log: logLines(1500, 7, epoch), Model: &store.AppModel{SnapshotKey: "k"},
	}, at(time.Minute))
	testkit.RequireNoError(t, "FinishReload", err)
	requireCapped("after 1507 lines", 1507)
}

func expiredRunsRequeueThenFail(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	r := mustCreateReload(t, s, tenant, app, epoch)
	key := reloadKey(t, r.GetName())
	now := at(time.Second)
	// maxAttempts 3: runs 1 and 2 are interrupted and queued again; run 3's interruption
	// fails the reload.
	for attempt := 1; attempt <= 3; attempt++ {
		owner := fmt.Sprintf("worker-%d", attempt)
		l, err := s.ClaimReload(t.Context(), owner, reloadLease, 2, 3, now)
		testkit.RequireNoError(t, "ClaimReload by "+owner, err)
		if l == nil {
			t.Fatalf("attempt %d: nothing claimed", attempt)
		}
		testkit.RequireEqual(t, "reload claimed", r.GetName(), l.Reload.GetName())
		testkit.RequireEqual(t, "attempt", attempt, l.Attempt)
		testkit.RequireEqual(t, "start time", now, l.Reload.GetStartTime().AsTime())
		_, err = s.RenewReload(t.Context(), key, owner, reloadLease, store.ReloadProgress{Log: logLines(attempt, 1, now)}, now)
		testkit.RequireNoError(t, "RenewReload", err)
		if attempt > 1 {
			prev := fmt.Sprintf("worker-%d", attempt-1)
			_, err = s.RenewReload(t.Context(), key, prev, reloadLease, store.ReloadProgress{}, now)
			testkit.RequireErrorIs(t, "RenewReload by the interrupted worker", err, store.ErrLeaseLost)
			_, err = s.FinishReload(t.Context(), key, prev, store.ReloadResult{State: contentv1.Reload_STATE_SUCCEEDED, Model: &store.AppModel{SnapshotKey: "stale"}}, now)
			testkit.RequireErrorIs(t, "FinishReload by the interrupted worker", err, store.ErrLeaseLost)
		}
		// Not expired a microsecond before the lease ends.
		requireNoClaim(t, s, "a lease not yet expired", now.Add(reloadLease-time.Microsecond))
		now = now.Add(reloadLease)
		if attempt < 3 {
			continue
		}
		// The third interruption fails it, and nothing is left to claim.
		requireNoClaim(t, s, "a reload that failed after three runs", now)
	}
	got := mustGetReload(t, s, key)
	testkit.RequireEqual(t, "state", contentv1.Reload_STATE_FAILED, got.GetState())
	testkit.RequireEqual(t, "error", "the reload was interrupted 3 times", got.GetError())
	testkit.RequireEqual(t, "end time", now, got.GetEndTime().AsTime())
	log := messages(got.GetLog())
	testkit.RequireEqual(t, "log lines (three runs and three interruptions)", 6, len(log))
	for i, prefix := range []string{"line 1", "Interrupted", "line 2", "Interrupted", "line 3", "Failed"} {
		if !strings.HasPrefix(log[i], prefix) {
			t.Fatalf("log line %d = %q, want it to begin with %q", i, log[i], prefix)
		}
	}
	_, err := s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel after stale finishes", err, store.ErrNotFound)

	// A queued reload behind the failed one was never blocked by it.
	next := mustCreateReload(t, s, tenant, app, now)
	mustClaim(t, s, "worker-next", now, next)
}

func cancelRunningReload(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	l := mustClaim(t, s, "alice", at(time.Second), mustCreateReload(t, s, tenant, app, epoch))
	canceled, err := s.CancelReload(t.Context(), l.Key, at(2*time.Second))
	testkit.RequireNoError(t, "CancelReload of a running reload", err)
	testkit.RequireEqual(t, "state right after the cancel", contentv1.Reload_STATE_RUNNING, canceled.GetState())
	if canceled.GetEtag() == l.Reload.GetEtag() {
		t.Fatalf("the etag did not change when a cancel was asked for")
	}
	again, err := s.CancelReload(t.Context(), l.Key, at(3*time.Second))
	testkit.RequireNoError(t, "CancelReload of a reload already asked to cancel", err)
	testkit.RequireProto(t, "the reload after a second cancel", canceled, again)
	cancel, err := s.RenewReload(t.Context(), l.Key, "alice", reloadLease, store.ReloadProgress{}, at(4*time.Second))
	testkit.RequireNoError(t, "RenewReload", err)
	testkit.RequireEqual(t, "cancel requested", true, cancel)
	done, err := s.FinishReload(t.Context(), l.Key, "alice", store.ReloadResult{State: contentv1.Reload_STATE_CANCELED, Duration: 4 * time.Second}, at(5*time.Second))
	testkit.RequireNoError(t, "FinishReload as CANCELED", err)
	testkit.RequireEqual(t, "state", contentv1.Reload_STATE_CANCELED, done.GetState())
	testkit.RequireEqual(t, "end time", at(5*time.Second), done.GetEndTime().AsTime())

	// An ended reload cannot be canceled, whatever its end.
	ok := mustClaim(t, s, "bob", at(time.Minute), mustCreateReload(t, s, tenant, app, at(time.Minute)))
	succeed(t, s, ok, "snap", 1, at(2*time.Minute))
	failed := mustClaim(t, s, "bob", at(3*time.Minute), mustCreateReload(t, s, tenant, app, at(3*time.Minute)))
	_, err = s.FinishReload(t.Context(), failed.Key, "bob", store.ReloadResult{State: contentv1.Reload_STATE_FAILED, Error: "x"}, at(4*time.Minute))
	testkit.RequireNoError(t, "FinishReload as FAILED", err)
	for what, key := range map[string]store.ReloadKey{"CANCELED": l.Key, "SUCCEEDED": ok.Key, "FAILED": failed.Key} {
		before := mustGetReload(t, s, key)
		_, err := s.CancelReload(t.Context(), key, at(time.Hour))
		testkit.RequireErrorIs(t, "CancelReload of a "+what+" reload", err, store.ErrStateConflict)
		testkit.RequireProto(t, "the "+what+" reload after a refused cancel", before, mustGetReload(t, s, key))
	}

	// A cancel waiting for a worker that vanished ends the reload as CANCELED, not queued.
	vanished := mustClaim(t, s, "carol", at(5*time.Minute), mustCreateReload(t, s, tenant, app, at(5*time.Minute)))
	_, err = s.CancelReload(t.Context(), vanished.Key, at(5*time.Minute))
	testkit.RequireNoError(t, "CancelReload", err)
	requireNoClaim(t, s, "a canceled reload whose worker vanished", at(10*time.Minute))
	got := mustGetReload(t, s, vanished.Key)
	testkit.RequireEqual(t, "state of a canceled reload whose worker vanished", contentv1.Reload_STATE_CANCELED, got.GetState())
	testkit.RequireEqual(t, "end time", at(10*time.Minute), got.GetEndTime().AsTime())
	// The model of the one success still serves.
	m, err := s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireNoError(t, "GetAppModel", err)
	testkit.RequireEqual(t, "serving snapshot", "snap", m.SnapshotKey)
}

func finishSetsAppModel(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	l := mustClaim(t, s, "alice", at(time.Second), mustCreateReload(t, s, tenant, app, epoch))

	// Results that make no sense write nothing.
	for what, res := range map[string]store.ReloadResult{
		"SUCCEEDED without a model": {State: contentv1.Reload_STATE_SUCCEEDED},
		"FAILED with a model":       {State: contentv1.Reload_STATE_FAILED, Model: &store.AppModel{SnapshotKey: "x"}},
		"RUNNING":                   {State: contentv1.Reload_STATE_RUNNING},
	} {
		if _, err := s.FinishReload(t.Context(), l.Key, "alice", res, at(time.Minute)); err == nil {
			t.Fatalf("FinishReload as %s succeeded", what)
		}
	}
	testkit.RequireEqual(t, "state after refused finishes", contentv1.Reload_STATE_RUNNING, mustGetReload(t, s, l.Key).GetState())
	_, err := s.FinishReload(t.Context(), l.Key, "bob", store.ReloadResult{
		State: contentv1.Reload_STATE_SUCCEEDED, Model: &store.AppModel{SnapshotKey: "bob's"},
	}, at(time.Minute))
	testkit.RequireErrorIs(t, "FinishReload by another worker", err, store.ErrLeaseLost)
	_, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel after refused finishes", err, store.ErrNotFound)

	tables := []*contentv1.ReloadTable{{Name: "orders", Rows: 5, Fields: []string{"id"}}}
	model := &store.AppModel{SnapshotKey: "snapshots/" + tenant + "/sales/1", MemoryBytes: 1 << 20}
	done, err := s.FinishReload(t.Context(), l.Key, "alice", store.ReloadResult{
		State: contentv1.Reload_STATE_SUCCEEDED, Duration: time.Minute, PeakMemoryBytes: 3 << 20, Tables: tables, Model: model,
	}, at(time.Minute+time.Microsecond))
	testkit.RequireNoError(t, "FinishReload as SUCCEEDED", err)
	testkit.RequireEqual(t, "state", contentv1.Reload_STATE_SUCCEEDED, done.GetState())
	testkit.RequireEqual(t, "model memory", int64(1<<20), done.GetModelMemoryBytes())
	testkit.RequireEqual(t, "peak memory", int64(3<<20), done.GetPeakMemoryBytes())
	testkit.RequireProto(t, "duration", durationpb.New(time.Minute), done.GetDuration())
	testkit.RequireEqual(t, "tables", 1, len(done.GetTables()))
	testkit.RequireProto(t, "GetReload of the succeeded reload", done, mustGetReload(t, s, l.Key))
	want := store.AppModel{
		Tenant: tenant, App: app, Reload: l.Key.ID, SnapshotKey: model.SnapshotKey, MemoryBytes: 1 << 20,
		LoadTime: at(time.Minute + time.Microsecond),
	}
	testkit.RequireEqual(t, "the model FinishReload was given", want, *model)
	m, err := s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireNoError(t, "GetAppModel", err)
	testkit.RequireEqual(t, "the app's model", want, *m)

	// A failed reload leaves the model; the next success replaces it.
	failed := mustClaim(t, s, "alice", at(time.Hour), mustCreateReload(t, s, tenant, app, at(time.Hour)))
	_, err = s.FinishReload(t.Context(), failed.Key, "alice", store.ReloadResult{State: contentv1.Reload_STATE_FAILED, Error: "source down"}, at(2*time.Hour))
	testkit.RequireNoError(t, "FinishReload as FAILED", err)
	m, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireNoError(t, "GetAppModel after a failure", err)
	testkit.RequireEqual(t, "the app's model after a failure", want, *m)

	// The next reload runs the revision that was latest when it was queued.
	a := mustGetApp(t, s, tenant, app)
	mustSave(t, s, tenant, app, a.GetEtag(), a, saveRevision(at(3*time.Hour)))
	next := mustClaim(t, s, "alice", at(3*time.Hour), mustCreateReload(t, s, tenant, app, at(3*time.Hour)))
	testkit.RequireEqual(t, "app revision of the lease", int64(2), next.AppRevision)
	testkit.RequireEqual(t, "app revision of the reload", "2", next.Reload.GetAppRevision())
	succeed(t, s, next, "snapshots/2", 7, at(4*time.Hour))
	m, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireNoError(t, "GetAppModel after a second success", err)
	testkit.RequireEqual(t, "the app's model after a second success", store.AppModel{
		Tenant: tenant, App: app, Reload: next.Key.ID, SnapshotKey: "snapshots/2", MemoryBytes: 7, LoadTime: at(4 * time.Hour),
	}, *m)
	// The snapshots in use: the second, no longer the first.
	keys, err := s.SnapshotKeys(t.Context())
	testkit.RequireNoError(t, "SnapshotKeys", err)
	testkit.RequireEqual(t, "the second snapshot is in use", true, keys["snapshots/2"])
	testkit.RequireEqual(t, "the first snapshot is in use", false, keys["snapshots/"+tenant+"/sales/1"])

	// Models are per app.
	mustCreateApp(t, s, tenant, "finance", "other")
	_, err = s.GetAppModel(t.Context(), tenant, "other")
	testkit.RequireErrorIs(t, "GetAppModel of another app", err, store.ErrNotFound)
	_, err = s.GetAppModel(t.Context(), newTenant(), app)
	testkit.RequireErrorIs(t, "GetAppModel in another tenant", err, store.ErrNotFound)
}

func reloadsDieWithTheirApp(t *testing.T, s store.Store) {
	tenant, app := newReloadApp(t, s)
	other, _ := newReloadApp(t, s)
	done := mustClaim(t, s, "alice", at(time.Second), mustCreateReload(t, s, tenant, app, epoch))
	succeed(t, s, done, "snap", 1, at(time.Minute))
	running := mustClaim(t, s, "alice", at(time.Hour), mustCreateReload(t, s, tenant, app, at(time.Hour)))
	queued := mustCreateReload(t, s, tenant, app, at(time.Hour))
	kept := mustClaim(t, s, "bob", at(time.Hour), mustCreateReload(t, s, other, app, at(time.Hour)))
	succeed(t, s, kept, "other-snap", 1, at(time.Hour))

	testkit.RequireNoError(t, "PurgeTenant", s.PurgeTenant(t.Context(), tenant))
	for _, key := range []store.ReloadKey{done.Key, running.Key, reloadKey(t, queued.GetName())} {
		_, err := s.GetReload(t.Context(), key)
		testkit.RequireErrorIs(t, "GetReload of a purged app's reload", err, store.ErrNotFound)
	}
	_, err := s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel of a purged app", err, store.ErrNotFound)
	_, err = s.RenewReload(t.Context(), running.Key, "alice", reloadLease, store.ReloadProgress{}, at(time.Hour))
	testkit.RequireErrorIs(t, "RenewReload of a purged app's reload", err, store.ErrLeaseLost)
	_, err = s.FinishReload(t.Context(), running.Key, "alice", store.ReloadResult{State: contentv1.Reload_STATE_SUCCEEDED, Model: &store.AppModel{SnapshotKey: "late"}}, at(time.Hour))
	testkit.RequireErrorIs(t, "FinishReload of a purged app's reload", err, store.ErrLeaseLost)
	_, err = s.GetAppModel(t.Context(), tenant, app)
	testkit.RequireErrorIs(t, "GetAppModel after a late finish", err, store.ErrNotFound)

	testkit.RequireEqual(t, "the other tenant's reload", contentv1.Reload_STATE_SUCCEEDED, mustGetReload(t, s, kept.Key).GetState())
	m, err := s.GetAppModel(t.Context(), other, app)
	testkit.RequireNoError(t, "GetAppModel of the other tenant", err)
	testkit.RequireEqual(t, "the other tenant's snapshot", "other-snap", m.SnapshotKey)

	// The ids are free again: nothing of the old app is left behind.
	mustCreateSpace(t, s, tenant, "finance")
	mustCreateApp(t, s, tenant, "finance", app)
	reloads, err := s.ListReloads(t.Context(), tenant, app, everything)
	testkit.RequireNoError(t, "ListReloads of the new app", err)
	testkit.RequireEqual(t, "reloads of the new app", 0, len(reloads))
}

func concurrentReloadClaims(t *testing.T, s store.Store) {
	const (
		tenants, apps, perApp = 3, 3, 3
		limit                 = 2
	)
	// Each worker claims, checks the limits against what every worker holds, and finishes,
	// until nothing is left. held counts a reload from after its claim returns to before
	// its finish starts, so it never counts more than the store does: exceeding the limit
	// here means the store exceeded it.
	var (
		mu       sync.Mutex
		byTenant = map[string]int{}
		byApp    = map[string]int{}
		claimed  = map[string]int{}
		breaches []string
	)
	var all []string
	for i := range tenants {
		tenant := newTenant()
		mustCreateSpace(t, s, tenant, "finance")
		for j := range apps {
			app := fmt.Sprintf("app-%d", j)
			mustCreateApp(t, s, tenant, "finance", app)
			for k := range perApp {
				all = append(all, mustCreateReload(t, s, tenant, app, at(time.Duration(i*100+j*10+k)*time.Microsecond)).GetName())
			}
		}
	}
	errs := make([]error, concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("worker-%d", w)
			for {
				l, err := s.ClaimReload(t.Context(), owner, time.Hour, limit, 3, at(time.Minute))
				if err != nil || l == nil {
					errs[w] = err
					return
				}
				app := l.Key.Tenant + "/" + l.Key.App
				mu.Lock()
				claimed[l.Reload.GetName()]++
				byTenant[l.Key.Tenant]++
				byApp[app]++
				if byTenant[l.Key.Tenant] > limit || byApp[app] > 1 {
					breaches = append(breaches, fmt.Sprintf("%s claimed %s with %d running in its tenant and %d in its app",
						owner, l.Reload.GetName(), byTenant[l.Key.Tenant], byApp[app]))
				}
				mu.Unlock()
				// Holding the reload a moment lets the other workers claim meanwhile.
				time.Sleep(time.Millisecond)
				mu.Lock()
				byTenant[l.Key.Tenant]--
				byApp[app]--
				mu.Unlock()
				if _, err := s.FinishReload(t.Context(), l.Key, owner, store.ReloadResult{
					State: contentv1.Reload_STATE_SUCCEEDED, Model: &store.AppModel{SnapshotKey: l.Reload.GetName()},
				}, at(2*time.Minute)); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		testkit.RequireNoError(t, fmt.Sprintf("worker %d", w), err)
	}
	for _, b := range breaches {
		t.Error(b)
	}
	for _, name := range all {
		if claimed[name] != 1 {
			t.Fatalf("reload %s was claimed %d times, want exactly once", name, claimed[name])
		}
		testkit.RequireEqual(t, "state of "+name, contentv1.Reload_STATE_SUCCEEDED, mustGetReload(t, s, reloadKey(t, name)).GetState())
	}
	// Reloads of one app ran in creation order, so the newest one's model serves.
	for i := perApp - 1; i < len(all); i += perApp {
		key := reloadKey(t, all[i])
		m, err := s.GetAppModel(t.Context(), key.Tenant, key.App)
		testkit.RequireNoError(t, "GetAppModel", err)
		testkit.RequireEqual(t, "model of "+key.Tenant+"/"+key.App, all[i], m.SnapshotKey)
	}
}
