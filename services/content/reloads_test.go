package content_test

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// fakeDatagateway answers Query as a datagateway would for a few statements, so reloads'
// SQL loads can be tested without a database (the devstack tests run them for real).
type fakeDatagateway struct {
	datagatewayv1.UnimplementedConnectionServiceServer
	mu       sync.Mutex
	keys     []string // the credentials calls carried
	started  chan string
	released chan struct{}
}

func startFakeDatagateway(t testing.TB) (*fakeDatagateway, string) {
	t.Helper()
	f := &fakeDatagateway{started: make(chan string, 100), released: make(chan struct{})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	datagatewayv1.RegisterConnectionServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

func (f *fakeDatagateway) Query(req *datagatewayv1.QueryRequest, stream grpc.ServerStreamingServer[datagatewayv1.QueryResponse]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	f.mu.Lock()
	f.keys = append(f.keys, strings.Join(md.Get("authorization"), ","))
	f.mu.Unlock()
	f.started <- req.GetStatement()
	switch {
	case strings.Contains(req.GetStatement(), "slow"):
		// Runs until released or the caller goes away.
		select {
		case <-f.released:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	case strings.Contains(req.GetStatement(), "missing"):
		return status.Error(codes.InvalidArgument, `relation "missing" does not exist`)
	}
	send := func(m *datagatewayv1.QueryResponse) error { return stream.Send(m) }
	if err := send(&datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Header{Header: &datagatewayv1.ResultHeader{
		Columns: []*datagatewayv1.Column{
			{Name: "region", Type: datagatewayv1.Column_TYPE_STRING},
			{Name: "target", Type: datagatewayv1.Column_TYPE_INT64},
		}}}}); err != nil {
		return err
	}
	if err := send(&datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: &datagatewayv1.RowBatch{
		RowCount: 2, Columns: []*datagatewayv1.ColumnValues{
			{StringValues: []string{"EU", "US"}},
			{Int64Values: []int64{100, 0}, Nulls: []bool{false, true}},
		}}}}); err != nil {
		return err
	}
	return send(&datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Stats{Stats: &datagatewayv1.QueryStats{Rows: 2}}})
}

// TestReloadRunsTheScript: a reload runs inline and SQL loads with the app's variables,
// records tables, rows, log, duration and memory, and serves the new model.
func TestReloadRunsTheScript(t *testing.T) {
	t.Parallel()
	dg, addr := startFakeDatagateway(t)
	s := startServiceWith(t, serviceOptions{datagatewayAddr: addr, serviceKey: "oriel_sk_content"})
	tenant := testkit.UniqueID("t")
	script := ordersScript + `
SET table = targets;
CONNECT TO 'warehouse';
Targets: SQL SELECT region, target FROM $(table);
TRACE loaded $(table);`
	app := s.loadApp(t, tenant, script)
	list := must[*contentv1.ListReloadsResponse](t)(s.reloads.ListReloads(s.isv, &contentv1.ListReloadsRequest{Parent: app}))
	testkit.RequireEqual(t, "reloads", 1, len(list.GetReloads()))
	r := must[*contentv1.GetReloadResponse](t)(s.reloads.GetReload(s.isv, &contentv1.GetReloadRequest{Name: list.GetReloads()[0].GetName()})).GetReload()

	testkit.RequireEqual(t, "state", contentv1.Reload_STATE_SUCCEEDED, r.GetState())
	var tables []string
	for _, tb := range r.GetTables() {
		tables = append(tables, tb.GetName()+":"+strings.Join(tb.GetFields(), ",")+":"+strconv.FormatInt(tb.GetRows(), 10))
	}
	testkit.RequireStrings(t, "tables", []string{
		"Orders:order_id,region,product,amount:5", "Products:product,category:4", "Targets:region,target:2",
	}, tables)
	log := logText(r)
	for _, want := range []string{"Orders: 5 rows inline", "Targets: 2 rows", "loaded targets", "reload succeeded"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if r.GetDuration().AsDuration() <= 0 || r.GetModelMemoryBytes() <= 0 || r.GetPeakMemoryBytes() <= 0 || r.GetStartTime() == nil || r.GetEndTime() == nil {
		t.Errorf("duration, memory or times missing: %v", r)
	}
	select {
	case got := <-dg.started:
		testkit.RequireEqual(t, "statement sent", "SELECT region, target FROM targets", got)
	default:
		t.Fatal("the reload never queried the datagateway")
	}
	testkit.RequireStrings(t, "credential sent", []string{"Bearer oriel_sk_content"}, dg.keys)

	// The SQL table associates with the orders through region.
	got := chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: &contentv1.Hypercube{
		Dimensions: []string{"region"}, Measures: []*contentv1.Measure{{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "target"}}}})
	testkit.RequireStrings(t, "targets by region", []string{"EU|100", "US|∅"}, rows(got.GetRows()))
}

func logText(r *contentv1.Reload) string {
	var b strings.Builder
	for _, l := range r.GetLog() {
		b.WriteString(l.GetMessage() + "\n")
	}
	return b.String()
}

// TestFailedReloadKeepsServingThePreviousData: a script error fails the reload with its
// line and column, a source error with the source's message; the app keeps its data.
func TestFailedReloadKeepsServingThePreviousData(t *testing.T) {
	t.Parallel()
	_, addr := startFakeDatagateway(t)
	s := startServiceWith(t, serviceOptions{datagatewayAddr: addr, serviceKey: "oriel_sk_content"})
	app := s.loadApp(t, testkit.UniqueID("t"), ordersScript)

	for _, tc := range []struct {
		name, script, wantError string
		line                    int32
	}{
		{"script error", "Orders:\nLOAD * INLINE [\na, b\n1, 2\n];\nFROB;", "FROB", 6},
		{"undefined variable", "CONNECT TO 'warehouse';\nT: SQL SELECT * FROM $(nosuch);", "nosuch", 2},
		{"source error", "CONNECT TO 'warehouse';\nT: SQL SELECT * FROM missing;", `relation "missing" does not exist`, 2},
		{"no connection", "T: SQL SELECT 1;", "CONNECT", 1},
	} {
		def := definition(tc.script)
		must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(s.isv, &contentv1.UpdateAppRequest{App: &contentv1.App{Name: app, Definition: def}}))
		created := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app}))
		r := s.waitReload(t, created.GetReload().GetName())
		if r.GetState() != contentv1.Reload_STATE_FAILED || !strings.Contains(r.GetError(), tc.wantError) || r.GetErrorPosition().GetLine() != tc.line {
			t.Errorf("%s: got %s %q at %v, want FAILED with %q at line %d", tc.name, r.GetState(), r.GetError(), r.GetErrorPosition(), tc.wantError, tc.line)
		}
		got := chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
		testkit.RequireStrings(t, tc.name+": the previous data", []string{"APAC|7|1", "EU|30|2", "US|5|1"}, rows(got.GetRows()))
	}
}

// TestCancelReload: a queued reload is canceled at once, a running one within moments;
// the data keeps serving; a finished reload cannot be canceled.
func TestCancelReload(t *testing.T) {
	t.Parallel()
	dg, addr := startFakeDatagateway(t)
	s := startServiceWith(t, serviceOptions{datagatewayAddr: addr, serviceKey: "oriel_sk_content"})
	tenant := testkit.UniqueID("t")
	app := s.loadApp(t, tenant, ordersScript)
	slow := definition("CONNECT TO 'warehouse';\nT: SQL SELECT slow;")
	must[*contentv1.UpdateAppResponse](t)(s.apps.UpdateApp(s.isv, &contentv1.UpdateAppRequest{App: &contentv1.App{Name: app, Definition: slow}}))

	running := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app})).GetReload()
	select { // it runs
	case <-dg.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the reload never queried the datagateway: %v", s.waitReload(t, running.GetName()))
	}
	// The tenant may run one reload at a time: the second waits.
	queued := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app})).GetReload()
	testkit.RequireEqual(t, "second reload", contentv1.Reload_STATE_QUEUED, queued.GetState())
	c := must[*contentv1.CancelReloadResponse](t)(s.reloads.CancelReload(s.isv, &contentv1.CancelReloadRequest{Name: queued.GetName()}))
	testkit.RequireEqual(t, "a queued reload, canceled", contentv1.Reload_STATE_CANCELED, c.GetReload().GetState())

	must[*contentv1.CancelReloadResponse](t)(s.reloads.CancelReload(s.isv, &contentv1.CancelReloadRequest{Name: running.GetName()}))
	start := time.Now()
	r := s.waitReload(t, running.GetName())
	testkit.RequireEqual(t, "a running reload, canceled", contentv1.Reload_STATE_CANCELED, r.GetState())
	t.Logf("the running reload stopped %s after the cancel", time.Since(start))
	got := chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireEqual(t, "regions still served", 3, len(got.GetRows()))

	_, err := s.reloads.CancelReload(s.isv, &contentv1.CancelReloadRequest{Name: running.GetName()})
	wantCode(t, err, codes.FailedPrecondition, "RELOAD_STATE")
	_, err = s.reloads.GetReload(s.isv, &contentv1.GetReloadRequest{Name: app + "/reloads/nosuch"})
	wantCode(t, err, codes.NotFound, "RESOURCE_NOT_FOUND")
}

// TestReloadVariables: the reload's values over the app's own.
func TestReloadVariables(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	space := s.createSpace(t, tenant, "sales", contentv1.Space_TYPE_SHARED)
	def := definition("T:\nLOAD * INLINE [\nregion, amount\n$(region), 1\n];")
	def.Variables = map[string]string{"region": "EU"}
	app := must[*contentv1.CreateAppResponse](t)(s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
		Parent: store.TenantName(tenant), App: &contentv1.App{Title: "Vars", Space: space, Definition: def},
	})).GetApp().GetName()
	s.reloadAndWait(t, app)
	testkit.RequireStrings(t, "the app's default", []string{"EU:POSSIBLE:1"}, values(t, s, s.isv, app, "region"))
	created := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{
		Parent: app, Reload: &contentv1.Reload{Variables: map[string]string{"region": "US"}}}))
	testkit.RequireEqual(t, "reload state", contentv1.Reload_STATE_SUCCEEDED, s.waitReload(t, created.GetReload().GetName()).GetState())
	testkit.RequireStrings(t, "the reload's value", []string{"US:POSSIBLE:1"}, values(t, s, s.isv, app, "region"))

	// The same request id twice queues one reload.
	a := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app, RequestId: "once"}))
	b := must[*contentv1.CreateReloadResponse](t)(s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app, RequestId: "once"}))
	testkit.RequireEqual(t, "idempotent create", a.GetReload().GetName(), b.GetReload().GetName())
	_, err := s.reloads.CreateReload(s.isv, &contentv1.CreateReloadRequest{Parent: app,
		Reload: &contentv1.Reload{Variables: map[string]string{"not a name": "x"}}})
	wantCode(t, err, codes.InvalidArgument, "")
}
