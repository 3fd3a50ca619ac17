package content_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// ordersScript loads orders and the products they name: the two tables associate through
// `product`. Order 4 has no amount; product D has no order.
const ordersScript = `// Orders, and the products they name.
Orders:
LOAD * INLINE [
order_id, region, product, amount
1, EU, A, 10
2, EU, B, 20
3, US, A, 5
4, US, C,
5, APAC, B, 7
];

Products:
LOAD * INLINE [
product, category
A, Tools
B, Toys
C, Tools
D, Food
];`

// loadApp creates an app of tenant with script and reductions, reloads it and returns its
// name.
func (s *service) loadApp(t testing.TB, tenant, script string, reductions ...*contentv1.Reduction) string {
	t.Helper()
	space := s.createSpace(t, tenant, testkit.UniqueID("sp"), contentv1.Space_TYPE_SHARED)
	def := definition(script)
	def.Reductions = reductions
	app := must[*contentv1.CreateAppResponse](t)(s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
		Parent: store.TenantName(tenant), App: &contentv1.App{Title: "Sales", Space: space, Definition: def},
	})).GetApp().GetName()
	s.reloadAndWait(t, app)
	return app
}

// rows renders chart rows as "cell|cell" lines, nulls as ∅.
func rows(r []*contentv1.ChartRow) []string {
	var out []string
	for _, row := range r {
		var cells []string
		for _, c := range row.GetCells() {
			if c.GetNull() {
				cells = append(cells, "∅")
			} else {
				cells = append(cells, c.GetText())
			}
		}
		out = append(out, strings.Join(cells, "|"))
	}
	return out
}

// states renders field values as "value:STATE:count".
func states(vs []*contentv1.FieldValue) []string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s:%s:%d", v.GetValue().GetText(),
			strings.TrimPrefix(v.GetState().String(), "STATE_"), v.GetCount()))
	}
	return out
}

func sumBy(dims ...string) *contentv1.Hypercube {
	return &contentv1.Hypercube{Dimensions: dims, Measures: []*contentv1.Measure{
		{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: "amount"},
		{Aggregation: contentv1.Measure_AGGREGATION_COUNT, Field: "amount"},
	}}
}

func chartData(t testing.TB, s *service, ctx context.Context, req *contentv1.GetChartDataRequest) *contentv1.GetChartDataResponse {
	t.Helper()
	return must[*contentv1.GetChartDataResponse](t)(s.data.GetChartData(ctx, req))
}

func values(t testing.TB, s *service, ctx context.Context, app, field string) []string {
	t.Helper()
	return states(must[*contentv1.GetFieldValuesResponse](t)(s.data.GetFieldValues(ctx,
		&contentv1.GetFieldValuesRequest{App: app, Field: field})).GetValues())
}

// TestChartData: measures by dimensions, sorting, paging, totals and nulls, across two
// associated tables.
func TestChartData(t *testing.T) {
	t.Parallel()
	s := startService(t)
	app := s.loadApp(t, testkit.UniqueID("t"), ordersScript)

	got := chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "sum and count of amount by region", []string{"APAC|7|1", "EU|30|2", "US|5|1"}, rows(got.GetRows()))
	testkit.RequireStrings(t, "totals", []string{"∅|42|4"}, rows([]*contentv1.ChartRow{got.GetTotals()}))
	testkit.RequireEqual(t, "total rows", 3, got.GetTotalRows())
	testkit.RequireStrings(t, "columns", []string{"region", "sum(amount)", "count(amount)"},
		[]string{got.GetColumns()[0].GetLabel(), got.GetColumns()[1].GetLabel(), got.GetColumns()[2].GetLabel()})

	got = chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region"),
		Sort: []*contentv1.SortKey{{Column: 1, Descending: true}}, Offset: 1, Limit: 1})
	testkit.RequireStrings(t, "second row by sum, descending", []string{"APAC|7|1"}, rows(got.GetRows()))
	testkit.RequireEqual(t, "total rows of a page", 3, got.GetTotalRows())

	// Through the association: products with no order make no group; C's order has no
	// amount, so Tools sums A's orders only.
	got = chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("category")})
	testkit.RequireStrings(t, "by category", []string{"Tools|15|2", "Toys|27|2"}, rows(got.GetRows()))

	// A chart of the definition: count(order_id) by region.
	got = chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Chart: &contentv1.ChartRef{Sheet: "overview", Chart: "by-region"}})
	testkit.RequireStrings(t, "the by-region chart", []string{"APAC|1", "EU|2", "US|2"}, rows(got.GetRows()))
	testkit.RequireEqual(t, "its measure's label", "Orders", got.GetColumns()[1].GetLabel())
}

// TestSelectionsAndStates: a selection propagates through the association to every field;
// each value is selected, possible, alternative or excluded; back, forward and clear.
func TestSelectionsAndStates(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	app := s.loadApp(t, tenant, ordersScript)
	ctx := s.as(embedUser(tenant, "ann", []string{"admin"}, nil, nil))

	sel := must[*contentv1.SelectResponse](t)(s.data.Select(ctx, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"EU"}}))
	testkit.RequireEqual(t, "can go back", true, sel.GetSelections().GetCanBack())
	testkit.RequireStrings(t, "region", []string{"EU:SELECTED:2", "APAC:ALTERNATIVE:0", "US:ALTERNATIVE:0"}, values(t, s, ctx, app, "region"))
	testkit.RequireStrings(t, "product", []string{"A:POSSIBLE:1", "B:POSSIBLE:1", "C:EXCLUDED:0", "D:EXCLUDED:0"}, values(t, s, ctx, app, "product"))
	testkit.RequireStrings(t, "category", []string{"Tools:POSSIBLE:1", "Toys:POSSIBLE:1", "Food:EXCLUDED:0"}, values(t, s, ctx, app, "category"))
	got := chartData(t, s, ctx, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("category")})
	testkit.RequireStrings(t, "by category under EU", []string{"Tools|10|1", "Toys|20|1"}, rows(got.GetRows()))

	// A second field: Toys among EU's orders leaves order 2.
	must[*contentv1.SelectResponse](t)(s.data.Select(ctx, &contentv1.SelectRequest{App: app, Field: "category", Values: []string{"Toys"}}))
	testkit.RequireStrings(t, "order ids", []string{"2:POSSIBLE:1", "1:EXCLUDED:0", "3:EXCLUDED:0", "4:EXCLUDED:0", "5:EXCLUDED:0"}, values(t, s, ctx, app, "order_id"))
	// Toggling US in: its orders are A and C, neither a toy.
	must[*contentv1.SelectResponse](t)(s.data.Select(ctx, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"US"}, Toggle: true}))
	testkit.RequireStrings(t, "region after the toggle", []string{"EU:SELECTED:1", "US:SELECTED:0", "APAC:ALTERNATIVE:0"}, values(t, s, ctx, app, "region"))

	back := must[*contentv1.BackSelectionsResponse](t)(s.data.BackSelections(ctx, &contentv1.BackSelectionsRequest{App: app}))
	testkit.RequireEqual(t, "fields after back", 2, len(back.GetSelections().GetFields()))
	testkit.RequireStrings(t, "region after back", []string{"EU"}, back.GetSelections().GetFields()[0].GetValues())
	fwd := must[*contentv1.ForwardSelectionsResponse](t)(s.data.ForwardSelections(ctx, &contentv1.ForwardSelectionsRequest{App: app}))
	testkit.RequireStrings(t, "region after forward", []string{"EU", "US"}, fwd.GetSelections().GetFields()[0].GetValues())
	testkit.RequireEqual(t, "nothing ahead", false, fwd.GetSelections().GetCanForward())

	cleared := must[*contentv1.ClearSelectionsResponse](t)(s.data.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: app, Field: "region"}))
	testkit.RequireEqual(t, "fields after clearing region", 1, len(cleared.GetSelections().GetFields()))
	cleared = must[*contentv1.ClearSelectionsResponse](t)(s.data.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: app}))
	testkit.RequireEqual(t, "fields after clearing all", 0, len(cleared.GetSelections().GetFields()))
	testkit.RequireStrings(t, "product with nothing selected", []string{"A:POSSIBLE:2", "B:POSSIBLE:2", "C:POSSIBLE:1", "D:POSSIBLE:0"}, values(t, s, ctx, app, "product"))

	// Search, and the per-call selections that leave the session's alone.
	fv := must[*contentv1.GetFieldValuesResponse](t)(s.data.GetFieldValues(ctx, &contentv1.GetFieldValuesRequest{App: app, Field: "category", Search: "TO",
		Selections: &contentv1.SelectionSet{Fields: []*contentv1.FieldSelection{{Field: "region", Values: []string{"US"}}}}}))
	testkit.RequireStrings(t, "categories like 'to' under US", []string{"Tools:POSSIBLE:2", "Toys:EXCLUDED:0"}, states(fv.GetValues()))
	cur := must[*contentv1.GetSelectionsResponse](t)(s.data.GetSelections(ctx, &contentv1.GetSelectionsRequest{App: app}))
	testkit.RequireEqual(t, "the session's selections are untouched", 0, len(cur.GetSelections().GetFields()))
}

// TestSelectionsBelongToSessions: two users of one app never see each other's selections,
// and a refreshed token (same session) keeps its own.
func TestSelectionsBelongToSessions(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	app := s.loadApp(t, tenant, ordersScript)
	ann := embedUser(tenant, "ann", []string{"viewer"}, nil, nil)
	bob := embedUser(tenant, "bob", []string{"admin"}, nil, nil)
	// ann is a viewer: she sees the app through a space role.
	s.grant(t, must[*contentv1.GetAppResponse](t)(s.apps.GetApp(s.isv, &contentv1.GetAppRequest{Name: app})).GetApp().GetSpace(),
		ann.ID, contentv1.SpaceRole_SPACE_ROLE_CONSUMER)

	must[*contentv1.SelectResponse](t)(s.data.Select(s.as(ann), &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"EU"}}))
	must[*contentv1.SelectResponse](t)(s.data.Select(s.as(bob), &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"US"}}))
	// A new credential of ann's session (a refreshed token) sees ann's selection.
	annAgain := s.as(ann)
	got := chartData(t, s, annAgain, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "ann's chart", []string{"EU|30|2"}, rows(got.GetRows()))
	got = chartData(t, s, s.as(bob), &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "bob's chart", []string{"US|5|1"}, rows(got.GetRows()))
}

// TestRowLevelSecurity: an app's reduction keeps only the rows of the session's attribute
// values, before any selection, in every call; no call can see the others, not even that
// they exist; a session without the attribute sees nothing; service accounts see all.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	app := s.loadApp(t, tenant, ordersScript, &contentv1.Reduction{Field: "region", Attribute: "region"})
	session := func(id string, attrs map[string]string) context.Context {
		p := embedUser(tenant, id, []string{"admin"}, nil, nil)
		p.EmbedSession.Attributes = attrs
		return s.as(p)
	}
	eu := session("eu", map[string]string{"region": "EU"})

	got := chartData(t, s, eu, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "EU's chart", []string{"EU|30|2"}, rows(got.GetRows()))
	testkit.RequireStrings(t, "EU's totals", []string{"∅|30|2"}, rows([]*contentv1.ChartRow{got.GetTotals()}))
	got = chartData(t, s, eu, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("category")})
	testkit.RequireStrings(t, "EU's categories", []string{"Tools|10|1", "Toys|20|1"}, rows(got.GetRows()))
	testkit.RequireStrings(t, "EU's regions", []string{"EU:POSSIBLE:2"}, values(t, s, eu, app, "region"))
	testkit.RequireStrings(t, "EU's products", []string{"A:POSSIBLE:1", "B:POSSIBLE:1"}, values(t, s, eu, app, "product"))
	model := must[*contentv1.GetDataModelResponse](t)(s.data.GetDataModel(eu, &contentv1.GetDataModelRequest{App: app}))
	testkit.RequireEqual(t, "EU's orders", int64(2), model.GetTables()[0].GetRows())
	testkit.RequireEqual(t, "EU's products", int64(2), model.GetTables()[1].GetRows())
	for _, f := range model.GetFields() {
		if f.GetName() == "region" && f.GetDistinctValues() != 1 {
			t.Errorf("EU sees %d distinct regions", f.GetDistinctValues())
		}
	}

	// Selecting another region's value is refused exactly as a value that never existed:
	// the refusal tells nothing.
	_, errUS := s.data.Select(eu, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"US"}})
	_, errMars := s.data.Select(eu, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"Mars"}})
	wantCode(t, errUS, codes.InvalidArgument, "INVALID_REQUEST")
	if strings.ReplaceAll(status.Convert(errUS).Message(), "US", "X") != strings.ReplaceAll(status.Convert(errMars).Message(), "Mars", "X") {
		t.Errorf("a reduced value is refused differently from a missing one:\n%v\n%v", errUS, errMars)
	}
	// Nor through per-call selections, nor searches.
	_, err := s.data.GetChartData(eu, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region"),
		Selections: &contentv1.SelectionSet{Fields: []*contentv1.FieldSelection{{Field: "region", Values: []string{"US"}}}}})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	fv := must[*contentv1.GetFieldValuesResponse](t)(s.data.GetFieldValues(eu, &contentv1.GetFieldValuesRequest{App: app, Field: "product", Search: "C"}))
	testkit.RequireEqual(t, "products like C for EU", 0, len(fv.GetValues()))

	// No attribute: no rows at all, not all of them.
	none := session("none", nil)
	got = chartData(t, s, none, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireEqual(t, "rows without the attribute", 0, len(got.GetRows()))
	testkit.RequireStrings(t, "totals without the attribute", []string{"∅|∅|0"}, rows([]*contentv1.ChartRow{got.GetTotals()}))
	testkit.RequireEqual(t, "regions without the attribute", 0, len(values(t, s, none, app, "region")))

	// A list attribute (identity joins list claims with commas) keeps every value of it.
	both := session("both", map[string]string{"region": "EU,APAC"})
	got = chartData(t, s, both, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "EU and APAC", []string{"APAC|7|1", "EU|30|2"}, rows(got.GetRows()))

	// The ISV's backend is not reduced.
	got = chartData(t, s, s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireEqual(t, "regions the ISV sees", 3, len(got.GetRows()))

	// A reduction on a field the model lacks fails closed.
	broken := s.loadApp(t, tenant, ordersScript, &contentv1.Reduction{Field: "country", Attribute: "region"})
	_, err = s.data.GetChartData(eu, &contentv1.GetChartDataRequest{App: broken, Hypercube: sumBy("region")})
	wantCode(t, err, codes.FailedPrecondition, "FIELD_NOT_FOUND")
}

// TestDataBadInput: every bad request is a precise error, never data and never a 500.
func TestDataBadInput(t *testing.T) {
	t.Parallel()
	s := startService(t)
	tenant := testkit.UniqueID("t")
	app := s.loadApp(t, tenant, ordersScript)

	_, err := s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("nosuch")})
	wantCode(t, err, codes.InvalidArgument, "FIELD_NOT_FOUND")
	if v := apierr.Violations(err); len(v) != 1 || v[0].Field != "hypercube.dimensions[0]" {
		t.Errorf("field violations %v, want hypercube.dimensions[0]", v)
	}
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region"),
		Sort: []*contentv1.SortKey{{Column: 3}}})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app, Chart: &contentv1.ChartRef{Sheet: "overview", Chart: "nosuch"}})
	wantCode(t, err, codes.InvalidArgument, "INVALID_REQUEST")
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app})
	wantCode(t, err, codes.InvalidArgument, "")
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region"), Limit: 10001})
	wantCode(t, err, codes.InvalidArgument, "")
	_, err = s.data.GetFieldValues(s.isv, &contentv1.GetFieldValuesRequest{App: app, Field: "nosuch"})
	wantCode(t, err, codes.InvalidArgument, "FIELD_NOT_FOUND")
	_, err = s.data.Select(s.isv, &contentv1.SelectRequest{App: app, Field: "nosuch", Values: []string{"x"}})
	wantCode(t, err, codes.InvalidArgument, "FIELD_NOT_FOUND")
	_, err = s.data.Select(s.isv, &contentv1.SelectRequest{App: app, Field: "region"})
	wantCode(t, err, codes.InvalidArgument, "")
	_, err = s.data.GetFieldValues(s.isv, &contentv1.GetFieldValuesRequest{App: app, Field: "region",
		Selections: &contentv1.SelectionSet{Fields: []*contentv1.FieldSelection{{Field: "region", Values: []string{"EU"}}, {Field: "region", Values: []string{"US"}}}}})
	wantCode(t, err, codes.InvalidArgument, "")

	// An app never reloaded has no data yet.
	space := s.createSpace(t, tenant, "empty", contentv1.Space_TYPE_SHARED)
	fresh := must[*contentv1.CreateAppResponse](t)(s.apps.CreateApp(s.isv, &contentv1.CreateAppRequest{
		Parent: store.TenantName(tenant), App: &contentv1.App{Title: "Fresh", Space: space, Definition: definition(ordersScript)},
	})).GetApp().GetName()
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: fresh, Hypercube: sumBy("region")})
	wantCode(t, err, codes.FailedPrecondition, "APP_NOT_LOADED")
	// A deleted app is refused.
	must[*contentv1.DeleteAppResponse](t)(s.apps.DeleteApp(s.isv, &contentv1.DeleteAppRequest{Name: app}))
	_, err = s.data.GetChartData(s.isv, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	wantCode(t, err, codes.FailedPrecondition, "APP_DELETED")
}

// TestReplicasShareModelsAndSelections: a second replica (or this one restarted) that
// never loaded an app opens it from the snapshot its reload saved, follows later reloads,
// and finds each session's selections where the first left them (in Redis).
func TestReplicasShareModelsAndSelections(t *testing.T) {
	t.Parallel()
	authn := &testkit.Principals{}
	a := startServiceWith(t, serviceOptions{authn: authn})
	b := startServiceWith(t, serviceOptions{authn: authn, dbURL: a.dbURL, snapshotDir: a.snapshotDir})
	tenant := testkit.UniqueID("t")
	app := a.loadApp(t, tenant, ordersScript)
	ann := a.as(embedUser(tenant, "ann", []string{"admin"}, nil, nil))
	must[*contentv1.SelectResponse](t)(a.data.Select(ann, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"US"}}))

	got := chartData(t, b, ann, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "the other replica, with ann's selection", []string{"US|5|1"}, rows(got.GetRows()))

	// A reload through the first replica: the second serves its data at the next call.
	def := definition("Orders:\nLOAD * INLINE [\nregion, amount\nUS, 99\n];")
	must[*contentv1.UpdateAppResponse](t)(a.apps.UpdateApp(a.isv, &contentv1.UpdateAppRequest{App: &contentv1.App{Name: app, Definition: def}}))
	a.reloadAndWait(t, app)
	got = chartData(t, b, ann, &contentv1.GetChartDataRequest{App: app, Hypercube: sumBy("region")})
	testkit.RequireStrings(t, "after a reload elsewhere", []string{"US|99|1"}, rows(got.GetRows()))
	model := must[*contentv1.GetDataModelResponse](t)(b.data.GetDataModel(a.isv, &contentv1.GetDataModelRequest{App: app}))
	if model.GetMemoryBytes() <= 0 || len(model.GetTables()) != 1 || model.GetReload() == "" {
		t.Errorf("data model: %v", model)
	}
}
