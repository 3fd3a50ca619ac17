package commands_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

func TestAppDataUsageErrorsExitTwoWithoutCallingTheEdge(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a usage error must be caught before any request.
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	const app = "tenants/acme/apps/sales"
	cube := []string{"apps", "data", app, "--dimension", "region", "--measure", "sum:amount"}
	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"data without a chart or a hypercube", []string{"apps", "data", app}, "missing flags: --chart=SHEET/CHART, or --dimension=FIELD and --measure=AGG:FIELD"},
		{"a chart and a hypercube at once", []string{"apps", "data", app, "--chart", "overview/by-region", "--dimension", "region"}, "--chart cannot be combined"},
		{"a chart said live", []string{"apps", "data", app, "--chart", "overview/by-region", "--live"}, "--chart cannot be combined"},
		{"a chart without its sheet", []string{"apps", "data", app, "--chart", "by-region"}, `--chart "by-region": want SHEET/CHART`},
		{"a chart path too deep", []string{"apps", "data", app, "--chart", "a/b/c"}, `--chart "a/b/c": want SHEET/CHART`},
		{"a measure without a field", []string{"apps", "data", app, "--measure", "sum"}, `--measure "sum": want AGG:FIELD or AGG:FIELD:LABEL`},
		{"a measure without an aggregation", []string{"apps", "data", app, "--measure", ":amount"}, `--measure ":amount": want AGG:FIELD`},
		{"an unknown aggregation", []string{"apps", "data", app, "--measure", "median:amount"},
			`unknown aggregation "median"; want one of sum, count, avg, min, max, count-distinct`},
		{"an empty dimension", []string{"apps", "data", app, "--dimension", ""}, "--dimension: a field name must not be empty"},
		{"a selection without values", append(cube, "--select", "region"), `--select "region": want FIELD=V1,V2`},
		{"a selection of nothing", append(cube, "--select", "region="), `--select "region=": want FIELD=V1,V2 with no empty value`},
		{"a selection with an empty value", append(cube, "--select", "region=EU,,US"), `--select "region=EU,,US"`},
		{"a selection without a field", append(cube, "--select", "=EU"), `--select "=EU": want FIELD=V1,V2`},
		{"a field selected twice", append(cube, "--select", "region=EU", "--select", "region=US"), `field "region" is given twice`},
		{"a sort by an unknown column", append(cube, "--sort", "amount"), `--sort "amount": no column "amount"; want its number (from 0) or one of region, sum:amount`},
		{"a sort by a column out of range", append(cube, "--sort", "2:desc"), `--sort "2:desc": column 2 does not exist; the columns are numbered 0 to 1`},
		{"a sort by a negative column", append(cube, "--sort=-1"), `--sort "-1": column -1 does not exist`},
		{"a sort by nothing", append(cube, "--sort", ":desc"), `--sort ":desc": want COL or COL:desc`},
		{"a chart sorted by name", []string{"apps", "data", app, "--chart", "overview/by-region", "--sort", "region"}, "with --chart, name the column by its number"},
		{"a chart sorted past 30 columns", []string{"apps", "data", app, "--chart", "overview/by-region", "--sort", "30"}, "numbered 0 to 29"},
		{"a negative offset", append(cube, "--offset=-1"), "--offset must not be negative, got -1"},
		{"a limit too large", append(cube, "--limit", "10001"), "--limit must be 0 to 10000, got 10001"},
		{"values with a bad selection", []string{"apps", "values", app, "region", "--select", "product"}, `--select "product": want FIELD=V1,V2`},
		{"values with a negative limit", []string{"apps", "values", app, "region", "--limit=-5"}, "--limit must be 0 to 10000, got -5"},
		{"values without a field", []string{"apps", "values", app}, `expected "<field>"`},
		{"select without values", []string{"apps", "select", app, "region"}, `expected "<values> ..."`},
		{"reload with a bad variable", []string{"apps", "reload", app, "--variable", "schema"}, `--variable "schema": want KEY=VALUE`},
		{"reload with a variable twice", []string{"apps", "reload", app, "--variable", "a=1", "--variable", "a=2"}, "given twice"},
		{"reload with a negative wait timeout", []string{"apps", "reload", app, "--wait", "--wait-timeout=-1s"}, "--wait-timeout must not be negative"},
		{"reloads get without a name", []string{"reloads", "get"}, `expected "<name>"`},
		{"reloads list without an app", []string{"reloads", "list"}, `expected "<name>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(append(tc.args, conn...)...)
			if r.code != 2 || !strings.Contains(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("exit %d, stderr %q; want 2 and an error mentioning %q", r.code, r.stderr, tc.wantStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestBadReloadNamesFailBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	conn := []string{"--addr", "http://127.0.0.1:1", "--api-key", "k"}
	for _, args := range [][]string{
		{"reloads", "get", "r1"},
		{"reloads", "cancel", "tenants/acme/apps/sales"},
		{"reloads", "watch", "tenants/acme/apps/sales/reloads/.."},
		{"reloads", "list", "tenants/acme"},
		{"apps", "reload", "sales"},
		{"apps", "model", "tenants/acme/spaces/sales"},
	} {
		r := run(append(args, conn...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "error: invalid ") || strings.Contains(r.stderr, "is the REST edge running") {
			t.Errorf("oriel %s: exit %d, stderr %q; want 1 and the name refused before dialing", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// fakeEdge answers each "METHOD path" of routes with its body (a stream's body is its
// lines; an error document goes out as 400) and records the JSON body each route was sent
// last.
type fakeEdge struct {
	edge
	mu     sync.Mutex
	bodies map[string]map[string]any
}

func startFakeEdge(t *testing.T, routes map[string]string) *fakeEdge {
	t.Helper()
	f := &fakeEdge{bodies: map[string]map[string]any{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := r.Method + " " + r.URL.EscapedPath()
		reply, ok := routes[route]
		if !ok {
			t.Errorf("unexpected request %s", route)
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				t.Errorf("%s: body is not a JSON object: %s", route, b)
			}
		}
		f.mu.Lock()
		f.bodies[route] = body
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(reply, `{"error"`) {
			w.WriteHeader(http.StatusBadRequest) // the edge's status of FAILED_PRECONDITION
		}
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	f.edge = edge{url: srv.URL, key: "k"}
	return f
}

// body is what route was sent last.
func (f *fakeEdge) body(route string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[route]
}

// salesByRegion is chart data as the edge answers it: sum(amount) by region.
const salesByRegion = `{"columns": [{"label": "region"}, {"label": "Revenue", "measure": true}],
	"rows": [{"cells": [{"text": "EU", "number": 30}, {"text": "30", "number": 30}]},
	         {"cells": [{"text": "US"}, {"text": "5", "number": 5}]}],
	"totals": {"cells": [{"null": true}, {"text": "35", "number": 35}]}, "totalRows": "12"}`

func TestAppsDataSendsTheHypercubeTheFlagsDescribeAndPrintsRowsTotalsAndCount(t *testing.T) {
	t.Parallel()
	const route = "POST /v1/tenants/acme/apps/sales:chartData"
	f := startFakeEdge(t, map[string]string{route: salesByRegion})
	out := f.ok(t, "table", "apps", "data", "tenants/acme/apps/sales", "--dimension", "region",
		"--measure", "sum:amount:Revenue", "--measure", "count-distinct:product", "--select", "product=A,B", "--select", "year=2026",
		"--sort", "Revenue:desc", "--sort", "count-distinct:product", "--sort", "0:asc", "--live", "--offset", "10", "--limit", "2")
	var want map[string]any
	if err := json.Unmarshal([]byte(`{
		"hypercube": {"dimensions": ["region"], "live": true, "measures": [
			{"aggregation": "AGGREGATION_SUM", "field": "amount", "label": "Revenue"},
			{"aggregation": "AGGREGATION_COUNT_DISTINCT", "field": "product"}]},
		"selections": {"fields": [{"field": "product", "values": ["A", "B"]}, {"field": "year", "values": ["2026"]}]},
		"sort": [{"column": 1, "descending": true}, {"column": 2}, {}],
		"offset": 10, "limit": 2}`), &want); err != nil {
		t.Fatal(err)
	}
	if got := f.body(route); !reflect.DeepEqual(got, want) {
		t.Errorf("request body = %v\nwant %v", got, want)
	}
	rows := tableRows(out)
	wantRows := [][]string{{"region", "Revenue"}, {"EU", "30"}, {"US", "5"}, {"Total", "35"}, {"2 of 12 rows, from 10"}}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("table = %q, want %q", rows, wantRows)
	}

	// A chart by reference, under the session's selections: no selections are sent.
	f.ok(t, "table", "apps", "data", "tenants/acme/apps/sales", "--chart", "overview/by-region", "--sort", "1:desc")
	want = map[string]any{"chart": map[string]any{"sheet": "overview", "chart": "by-region"},
		"sort": []any{map[string]any{"column": float64(1), "descending": true}}}
	if got := f.body(route); !reflect.DeepEqual(got, want) {
		t.Errorf("chart request body = %v, want %v", got, want)
	}
	resp := parseJSON(t, f.ok(t, "json", "apps", "data", "tenants/acme/apps/sales", "--chart", "overview/by-region"), &contentv1.GetChartDataResponse{})
	if resp.GetTotalRows() != 12 || resp.GetTotals().GetCells()[1].GetNumber() != 35 {
		t.Errorf("json = %v, want the response", resp)
	}
}

func TestAppsValuesModelAndSelectionsPrintWhatTheEdgeSays(t *testing.T) {
	t.Parallel()
	const app = "/v1/tenants/acme/apps/sales"
	selections := `{"selections": {"fields": [{"field": "region", "values": ["EU", "US"]}], "canBack": true}}`
	f := startFakeEdge(t, map[string]string{
		"POST " + app + ":fieldValues": `{"values": [{"value": {"text": "EU"}, "state": "STATE_SELECTED", "count": "2"},
			{"value": {"text": "US"}, "state": "STATE_ALTERNATIVE", "count": "1"}], "totalValues": "2"}`,
		"GET " + app + ":dataModel": `{"tables": [{"name": "Sales", "rows": "3", "fields": ["region", "product", "amount"]}],
			"fields": [{"name": "amount", "distinctValues": "3", "tables": ["Sales"]}], "memoryBytes": "2048",
			"reload": "tenants/acme/apps/sales/reloads/r1", "loadTime": "2026-01-02T03:04:05Z"}`,
		"POST " + app + ":select":            selections,
		"POST " + app + ":clearSelections":   `{"selections": {"canBack": true}}`,
		"POST " + app + ":backSelections":    selections,
		"POST " + app + ":forwardSelections": selections,
		"GET " + app + ":selections":         selections,
	})
	rows := tableRows(f.ok(t, "table", "apps", "values", "tenants/acme/apps/sales", "region", "--search", "u", "--select", "product=A"))
	if want := [][]string{{"VALUE", "STATE", "COUNT"}, {"EU", "SELECTED", "2"}, {"US", "ALTERNATIVE", "1"}, {"2 of 2 values"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("values = %q, want %q", rows, want)
	}
	wantBody := map[string]any{"field": "region", "search": "u",
		"selections": map[string]any{"fields": []any{map[string]any{"field": "product", "values": []any{"A"}}}}}
	if got := f.body("POST " + app + ":fieldValues"); !reflect.DeepEqual(got, wantBody) {
		t.Errorf("values request = %v, want %v", got, wantBody)
	}

	model := f.ok(t, "table", "apps", "model", "tenants/acme/apps/sales")
	for _, want := range []string{"Sales  3     region, product, amount", "amount  3                Sales", "Memory:  2.0 KiB",
		"Reload:  tenants/acme/apps/sales/reloads/r1", "Loaded:  2026-01-02T03:04:05Z"} {
		if !strings.Contains(model, want) {
			t.Errorf("model lacks %q:\n%s", want, model)
		}
	}

	out := f.ok(t, "table", "apps", "select", "tenants/acme/apps/sales", "region", "EU", "US", "--toggle")
	if want := "FIELD   VALUES\nregion  EU, US\nback: yes, forward: no\n"; out != want {
		t.Errorf("select printed %q, want %q", out, want)
	}
	if got, want := f.body("POST "+app+":select"), map[string]any{"field": "region", "values": []any{"EU", "US"}, "toggle": true}; !reflect.DeepEqual(got, want) {
		t.Errorf("select request = %v, want %v", got, want)
	}
	f.ok(t, "table", "apps", "clear", "tenants/acme/apps/sales", "region")
	if got, want := f.body("POST "+app+":clearSelections"), map[string]any{"field": "region"}; !reflect.DeepEqual(got, want) {
		t.Errorf("clear request = %v, want %v", got, want)
	}
	if out := f.ok(t, "table", "apps", "clear", "tenants/acme/apps/sales"); out != "FIELD  VALUES\nback: yes, forward: no\n" {
		t.Errorf("clear printed %q", out)
	}
	if got := f.body("POST " + app + ":clearSelections"); len(got) != 0 {
		t.Errorf("clear of every field sent %v, want {}", got)
	}
	for _, cmd := range []string{"back", "forward", "selections"} {
		st := parseJSON(t, f.ok(t, "json", "apps", cmd, "tenants/acme/apps/sales"), &contentv1.SelectionState{})
		if len(st.GetFields()) != 1 || !st.GetCanBack() {
			t.Errorf("%s in JSON = %v", cmd, st)
		}
	}
}

// reloadJSON is tenants/acme/apps/sales/reloads/r1 in the edge's JSON, with more fields.
func reloadJSON(state, more string) string {
	return `{"name": "tenants/acme/apps/sales/reloads/r1", "state": "` + state + `", "appRevision": "tenants/acme/apps/sales/revisions/2"` + more + `}`
}

// reloadWatchLine is one object of a reload's watch stream.
func reloadWatchLine(state, more string) string {
	return strings.Join(strings.Fields(`{"result": {"reload": `+reloadJSON(state, more)+`}}`), " ") + "\n"
}

func TestAppsReloadWaitShowsTheLogAndTablesAndFailsAtTheScriptsLine(t *testing.T) {
	t.Parallel()
	const reloads = "/v1/tenants/acme/apps/sales/reloads"
	log1 := `, "log": [{"time": "2026-01-02T03:04:05Z", "message": "Sales: loading inline table"}]`
	log2 := `, "log": [{"time": "2026-01-02T03:04:05Z", "message": "Sales: loading inline table"},
		{"time": "2026-01-02T03:04:06Z", "message": "Broken: syntax error"}]`
	tables := `, "tables": [{"name": "Sales", "rows": "3", "fields": ["region", "amount"]}]`
	f := startFakeEdge(t, map[string]string{
		"POST " + reloads: reloadJSON("STATE_QUEUED", ""),
		"GET " + reloads + "/r1:watch": reloadWatchLine("STATE_QUEUED", "") + reloadWatchLine("STATE_RUNNING", log1) +
			reloadWatchLine("STATE_RUNNING", log1+tables) +
			reloadWatchLine("STATE_FAILED", log2+tables+`, "error": "unexpected (", "errorPosition": {"line": 6, "column": 9}`),
	})
	r := f.run(t, "table", "apps", "reload", "tenants/acme/apps/sales", "--variable", "schema=eu", "--request-id", "req-1", "--wait")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 for a FAILED reload\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got, want := f.body("POST "+reloads), map[string]any{"variables": map[string]any{"schema": "eu"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("create body = %v, want %v", got, want)
	}
	const name = "tenants/acme/apps/sales/reloads/r1"
	wantStderr := name + ": QUEUED\n" +
		name + ": RUNNING\n" +
		"  03:04:05.000  Sales: loading inline table\n" +
		name + ": loaded Sales, 3 rows\n" +
		"  03:04:06.000  Broken: syntax error\n" +
		name + ": FAILED\n" +
		"error: " + name + " FAILED at line 6, column 9: unexpected (; the previous data keeps serving\n"
	if r.stderr != wantStderr {
		t.Errorf("stderr =\n%s\nwant\n%s", r.stderr, wantStderr)
	}
	got := block(r.stdout)
	for k, want := range map[string]string{"State": "FAILED", "Error": "unexpected (", "Error at": "line 6, column 9",
		"Tables": "Sales (3 rows)", "App revision": "tenants/acme/apps/sales/revisions/2"} {
		if got[k] != want {
			t.Errorf("%s: %q, want %q", k, got[k], want)
		}
	}
	if !strings.Contains(r.stdout, "TIME          LOG\n03:04:05.000  Sales: loading inline table\n") {
		t.Errorf("stdout lacks the log:\n%s", r.stdout)
	}
}

func TestAppsReloadWaitSucceedsWithTheFinalReloadOnStdout(t *testing.T) {
	t.Parallel()
	const reloads = "/v1/tenants/acme/apps/sales/reloads"
	f := startFakeEdge(t, map[string]string{
		"POST " + reloads:              reloadJSON("STATE_QUEUED", ""),
		"GET " + reloads + "/r1:watch": reloadWatchLine("STATE_RUNNING", "") + reloadWatchLine("STATE_SUCCEEDED", `, "modelMemoryBytes": "4096"`),
		"GET " + reloads + "/r1":       reloadJSON("STATE_SUCCEEDED", ""),
		"POST " + reloads + "/r1:cancel": `{"error": {"code": 9, "status": "FAILED_PRECONDITION",
			"message": "tenants/acme/apps/sales/reloads/r1 has ended; only a queued or running reload can be canceled",
			"details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RELOAD_STATE", "domain": "oriel.dev"}]}}`,
	})
	r := f.run(t, "json", "apps", "reload", "tenants/acme/apps/sales", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	rl := parseJSON(t, r.stdout, &contentv1.Reload{})
	if rl.GetState() != contentv1.Reload_STATE_SUCCEEDED || rl.GetModelMemoryBytes() != 4096 {
		t.Errorf("stdout = %v, want the final reload", rl)
	}
	if !strings.Contains(r.stderr, ": SUCCEEDED\n") {
		t.Errorf("stderr = %q, want the state", r.stderr)
	}
	if out := f.ok(t, "table", "reloads", "watch", "tenants/acme/apps/sales/reloads/r1"); block(out)["Model memory"] != "4.0 KiB" {
		t.Errorf("watch printed %q", out)
	}

	// Without --wait: the queued reload, and how to follow it.
	r = f.run(t, "table", "apps", "reload", "tenants/acme/apps/sales")
	if r.code != 0 || block(r.stdout)["State"] != "QUEUED" || r.stderr != "follow it: oriel reloads watch tenants/acme/apps/sales/reloads/r1\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// Cancelling a reload that has ended: the edge's error, and exit 1.
	if stderr := f.fail(t, "reloads", "cancel", "tenants/acme/apps/sales/reloads/r1"); !strings.Contains(stderr, "(FAILED_PRECONDITION, RELOAD_STATE)") {
		t.Errorf("cancel: %s", stderr)
	}
}

// inlineSales is a load script of inline tables only: no connection needed.
const inlineSales = `Sales:
LOAD * INLINE [
region, product, amount
EU, A, 10
EU, B, 20
US, A, 5
];
`

func TestReloadThenQueryAnAppEndToEnd(t *testing.T) {
	t.Parallel()
	e := startEdge(t)
	e.createTenant(t, "acme")
	dir := t.TempDir()
	def, script, broken := filepath.Join(dir, "dashboard.json"), filepath.Join(dir, "load.txt"), filepath.Join(dir, "broken.txt")
	for path, content := range map[string]string{
		def: definitionJSON, script: inlineSales,
		// Line 12, column 1: a row of three values under a header of two.
		broken: inlineSales + "\nBroken:\nLOAD * INLINE [\na, b\n1, 2, 3\n];\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.ok(t, "table", "spaces", "create", "acme", "team", "--display-name", "Team", "--type", "shared")
	const app = "tenants/acme/apps/sales"
	e.ok(t, "table", "apps", "create", "acme", "sales", "--space", "team", "--title", "Sales", "--definition-file", def, "--load-script-file", script)

	r := e.run(t, "json", "apps", "reload", app, "--wait", "--wait-timeout", "2m")
	if r.code != 0 {
		t.Fatalf("reload --wait: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	reload := parseJSON(t, r.stdout, &contentv1.Reload{})
	if reload.GetState() != contentv1.Reload_STATE_SUCCEEDED || len(reload.GetTables()) != 1 || reload.GetTables()[0].GetRows() != 3 {
		t.Fatalf("reload = %v, want SUCCEEDED with Sales of 3 rows", reload)
	}
	if !strings.Contains(r.stderr, ": loaded Sales, 3 rows\n") || !strings.Contains(r.stderr, ": SUCCEEDED\n") {
		t.Errorf("progress on stderr = %q, want the table loaded and the state", r.stderr)
	}

	t.Run("data is summed by region, with a total", func(t *testing.T) {
		rows := tableRows(e.ok(t, "table", "apps", "data", app, "--dimension", "region", "--measure", "sum:amount"))
		if len(rows) != 5 || rows[1][0] != "EU" || rows[1][1] != "30" || rows[2][0] != "US" || rows[2][1] != "5" ||
			rows[3][0] != "Total" || rows[3][1] != "35" || rows[4][0] != "2 of 2 rows" {
			t.Errorf("data = %q, want EU 30, US 5, Total 35, 2 of 2 rows", rows)
		}
		rows = tableRows(e.ok(t, "table", "apps", "data", app, "--dimension", "region", "--measure", "sum:amount", "--select", "product=A"))
		if len(rows) != 5 || rows[1][1] != "10" || rows[2][1] != "5" || rows[3][1] != "15" {
			t.Errorf("data under product=A = %q, want EU 10, US 5, Total 15", rows)
		}
		rows = tableRows(e.ok(t, "table", "apps", "data", app, "--dimension", "region", "--measure", "sum:amount:Revenue", "--sort", "Revenue:desc", "--limit", "1"))
		if len(rows) != 4 || rows[0][1] != "Revenue" || rows[1][0] != "EU" || rows[3][0] != "1 of 2 rows" {
			t.Errorf("first row by revenue = %q", rows)
		}
		chart := parseJSON(t, e.ok(t, "json", "apps", "data", app, "--chart", "overview/by-region"), &contentv1.GetChartDataResponse{})
		if chart.GetTotalRows() != 2 || chart.GetTotals().GetCells()[1].GetNumber() != 35 {
			t.Errorf("chart overview/by-region = %v, want 2 regions totalling 35", chart)
		}
	})

	t.Run("the model shows the table and its fields", func(t *testing.T) {
		m := parseJSON(t, e.ok(t, "json", "apps", "model", app), &contentv1.GetDataModelResponse{})
		if len(m.GetTables()) != 1 || m.GetTables()[0].GetName() != "Sales" || m.GetTables()[0].GetRows() != 3 ||
			len(m.GetFields()) != 3 || m.GetReload() != reload.GetName() {
			t.Errorf("model = %v", m)
		}
		if out := e.ok(t, "table", "apps", "model", app); !strings.Contains(out, "Sales  3") {
			t.Errorf("model table = %s", out)
		}
	})

	t.Run("selections round-trip: select, clear, back, forward", func(t *testing.T) {
		out := e.ok(t, "table", "apps", "select", app, "region", "EU")
		if !strings.Contains(out, "region  EU\n") || !strings.HasSuffix(out, "back: yes, forward: no\n") {
			t.Errorf("select printed %q", out)
		}
		rows := tableRows(e.ok(t, "table", "apps", "data", app, "--dimension", "region", "--measure", "sum:amount"))
		if len(rows) != 4 || rows[1][0] != "EU" || rows[2][1] != "30" {
			t.Errorf("data under the session's region=EU = %q, want EU 30 alone", rows)
		}
		rows = tableRows(e.ok(t, "table", "apps", "values", app, "region"))
		if len(rows) != 4 || rows[1][0] != "EU" || rows[1][1] != "SELECTED" || rows[2][0] != "US" || rows[2][1] != "ALTERNATIVE" || rows[3][0] != "2 of 2 values" {
			t.Errorf("region values = %q, want EU SELECTED, US ALTERNATIVE", rows)
		}
		rows = tableRows(e.ok(t, "table", "apps", "values", app, "product", "--select", "region=US"))
		if len(rows) != 4 || rows[1][0] != "A" || rows[1][1] != "POSSIBLE" || rows[2][0] != "B" || rows[2][1] != "EXCLUDED" {
			t.Errorf("product values under region=US = %q, want A POSSIBLE, B EXCLUDED", rows)
		}
		st := parseJSON(t, e.ok(t, "json", "apps", "clear", app), &contentv1.SelectionState{})
		if len(st.GetFields()) != 0 || !st.GetCanBack() {
			t.Errorf("clear = %v, want no selections and a way back", st)
		}
		st = parseJSON(t, e.ok(t, "json", "apps", "back", app), &contentv1.SelectionState{})
		if len(st.GetFields()) != 1 || st.GetFields()[0].GetField() != "region" || !st.GetCanForward() {
			t.Errorf("back = %v, want region=EU again and a way forward", st)
		}
		st = parseJSON(t, e.ok(t, "json", "apps", "forward", app), &contentv1.SelectionState{})
		if len(st.GetFields()) != 0 {
			t.Errorf("forward = %v, want cleared again", st)
		}
		if out := e.ok(t, "table", "apps", "selections", app); out != "FIELD  VALUES\nback: yes, forward: no\n" {
			t.Errorf("selections = %q", out)
		}
	})

	t.Run("a script error fails the reload at its line and column; the old data keeps serving", func(t *testing.T) {
		e.ok(t, "table", "apps", "update", app, "--load-script-file", broken)
		r := e.run(t, "table", "apps", "reload", app, "--wait", "--wait-timeout", "2m")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		got := block(r.stdout)
		if got["State"] != "FAILED" || got["Error at"] != "line 12, column 1" || got["Error"] == "-" {
			t.Errorf("failed reload = %v\n%s", got, r.stdout)
		}
		if !regexp.MustCompile(`error: tenants/acme/apps/sales/reloads/\S+ FAILED at line 12, column 1: row has 3 values, but the header has 2 fields; the previous data keeps serving\n`).MatchString(r.stderr) {
			t.Errorf("stderr = %s, want the error at its line and column", r.stderr)
		}
		rows := tableRows(e.ok(t, "table", "apps", "data", app, "--dimension", "region", "--measure", "sum:amount"))
		if len(rows) != 5 || rows[3][1] != "35" {
			t.Errorf("data after a failed reload = %q, want the previous model's", rows)
		}
	})

	t.Run("reloads are listed, shown with their log, and an ended one cannot be cancelled", func(t *testing.T) {
		rows := tableRows(e.ok(t, "table", "reloads", "list", app))
		if len(rows) != 3 || rows[1][1] != "FAILED" || rows[2][0] != reload.GetName() || rows[2][1] != "SUCCEEDED" {
			t.Errorf("list = %q, want the failed reload then the first, newest first", rows)
		}
		out := e.ok(t, "table", "reloads", "get", reload.GetName())
		if block(out)["State"] != "SUCCEEDED" || !strings.Contains(out, "TIME") || !strings.Contains(out, "LOG") {
			t.Errorf("get = %s, want the reload and its log", out)
		}
		if stderr := e.fail(t, "reloads", "cancel", reload.GetName()); !strings.Contains(stderr, "(FAILED_PRECONDITION, RELOAD_STATE)") {
			t.Errorf("cancel of a finished reload: %s", stderr)
		}
	})
}
