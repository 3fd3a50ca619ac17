package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/client"
	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// recordedCall is what one request put on the wire.
type recordedCall struct {
	method, path, query string
	body                map[string]any
}

// recordingEdge answers every request with reply and records it.
func recordingEdge(t *testing.T, reply string) (*client.Client, func() recordedCall) {
	t.Helper()
	var (
		mu   sync.Mutex
		last recordedCall
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		call := recordedCall{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &call.body); err != nil {
				t.Errorf("%s %s: body is not a JSON object: %s", r.Method, r.URL.Path, b)
			}
		}
		mu.Lock()
		last = call
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return client.New(srv.URL, "k", srv.Client()), func() recordedCall {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// jsonObject reads a JSON object the way a recorded body is read, numbers as float64.
func jsonObject(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad JSON in the test: %v: %s", err, s)
	}
	return m
}

func TestReloadAndAppDataCallsPutTheEdgesShapeOnTheWire(t *testing.T) {
	t.Parallel()
	const app = "tenants/acme/apps/sales"
	const reload = app + "/reloads/r1"
	c, last := recordingEdge(t, `{}`)
	ctx := testContext(t)
	for _, tc := range []struct {
		name                      string
		call                      func() error
		method, path, query, body string
	}{
		{"CreateReload sends the variables as the body and the request id in the query", func() error {
			_, err := c.CreateReload(ctx, &contentv1.CreateReloadRequest{
				Parent: app, RequestId: "req-1", Reload: &contentv1.Reload{Variables: map[string]string{"schema": "eu"}},
			})
			return err
		}, "POST", "/v1/" + app + "/reloads", "requestId=req-1", `{"variables":{"schema":"eu"}}`},
		{"CreateReload without a reload sends an empty one", func() error {
			_, err := c.CreateReload(ctx, &contentv1.CreateReloadRequest{Parent: app})
			return err
		}, "POST", "/v1/" + app + "/reloads", "", `{}`},
		{"GetReload", func() error {
			_, err := c.GetReload(ctx, &contentv1.GetReloadRequest{Name: reload})
			return err
		}, "GET", "/v1/" + reload, "", ""},
		{"ListReloads pages by query", func() error {
			_, err := c.ListReloads(ctx, &contentv1.ListReloadsRequest{Parent: app, PageSize: 5, PageToken: "t"})
			return err
		}, "GET", "/v1/" + app + "/reloads", "pageSize=5&pageToken=t", ""},
		{"CancelReload", func() error {
			_, err := c.CancelReload(ctx, &contentv1.CancelReloadRequest{Name: reload})
			return err
		}, "POST", "/v1/" + reload + ":cancel", "", `{}`},
		{"GetChartData of a hypercube sends it, the page and the selections, not the app", func() error {
			_, err := c.GetChartData(ctx, &contentv1.GetChartDataRequest{
				App: app,
				Hypercube: &contentv1.Hypercube{Dimensions: []string{"region"}, Live: true, Measures: []*contentv1.Measure{
					{Aggregation: contentv1.Measure_AGGREGATION_COUNT_DISTINCT, Field: "product", Label: "Products"},
				}},
				Sort:       []*contentv1.SortKey{{Column: 1, Descending: true}},
				Offset:     10,
				Limit:      20,
				Selections: &contentv1.SelectionSet{Fields: []*contentv1.FieldSelection{{Field: "product", Values: []string{"A", "B"}}}},
			})
			return err
		}, "POST", "/v1/" + app + ":chartData", "", `{
			"hypercube": {"dimensions": ["region"], "live": true,
				"measures": [{"aggregation": "AGGREGATION_COUNT_DISTINCT", "field": "product", "label": "Products"}]},
			"sort": [{"column": 1, "descending": true}], "offset": 10, "limit": 20,
			"selections": {"fields": [{"field": "product", "values": ["A", "B"]}]}}`},
		{"GetChartData of a chart", func() error {
			_, err := c.GetChartData(ctx, &contentv1.GetChartDataRequest{App: app, Chart: &contentv1.ChartRef{Sheet: "overview", Chart: "by-region"}})
			return err
		}, "POST", "/v1/" + app + ":chartData", "", `{"chart": {"sheet": "overview", "chart": "by-region"}}`},
		{"GetFieldValues", func() error {
			_, err := c.GetFieldValues(ctx, &contentv1.GetFieldValuesRequest{App: app, Field: "region", Search: "e", Limit: 3})
			return err
		}, "POST", "/v1/" + app + ":fieldValues", "", `{"field": "region", "search": "e", "limit": 3}`},
		{"GetDataModel", func() error {
			_, err := c.GetDataModel(ctx, &contentv1.GetDataModelRequest{App: app})
			return err
		}, "GET", "/v1/" + app + ":dataModel", "", ""},
		{"GetSelections", func() error {
			_, err := c.GetSelections(ctx, &contentv1.GetSelectionsRequest{App: app})
			return err
		}, "GET", "/v1/" + app + ":selections", "", ""},
		{"Select", func() error {
			_, err := c.Select(ctx, &contentv1.SelectRequest{App: app, Field: "region", Values: []string{"EU"}, Toggle: true})
			return err
		}, "POST", "/v1/" + app + ":select", "", `{"field": "region", "values": ["EU"], "toggle": true}`},
		{"ClearSelections of one field", func() error {
			_, err := c.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: app, Field: "region"})
			return err
		}, "POST", "/v1/" + app + ":clearSelections", "", `{"field": "region"}`},
		{"ClearSelections of all", func() error {
			_, err := c.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: app})
			return err
		}, "POST", "/v1/" + app + ":clearSelections", "", `{}`},
		{"BackSelections", func() error {
			_, err := c.BackSelections(ctx, &contentv1.BackSelectionsRequest{App: app})
			return err
		}, "POST", "/v1/" + app + ":backSelections", "", `{}`},
		{"ForwardSelections", func() error {
			_, err := c.ForwardSelections(ctx, &contentv1.ForwardSelectionsRequest{App: app})
			return err
		}, "POST", "/v1/" + app + ":forwardSelections", "", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			got := last()
			if got.method != tc.method || got.path != tc.path || got.query != tc.query {
				t.Errorf("request = %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tc.method, tc.path, tc.query)
			}
			if want := jsonObject(t, tc.body); !reflect.DeepEqual(got.body, want) {
				t.Errorf("body = %v, want %v", got.body, want)
			}
		})
	}
}

func TestReloadResponsesAreDecodedFromTheEdgesJSON(t *testing.T) {
	t.Parallel()
	c, _ := recordingEdge(t, `{"name": "tenants/acme/apps/sales/reloads/r1", "state": "STATE_FAILED",
		"error": "unexpected ;", "errorPosition": {"line": 3, "column": 7},
		"tables": [{"name": "Sales", "rows": "3", "fields": ["region"]}],
		"log": [{"time": "2026-01-02T03:04:05Z", "message": "Sales: 3 rows"}], "futureField": 1}`)
	resp, err := c.GetReload(testContext(t), &contentv1.GetReloadRequest{Name: "tenants/acme/apps/sales/reloads/r1"})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.GetReload()
	if r.GetState() != contentv1.Reload_STATE_FAILED || r.GetErrorPosition().GetLine() != 3 || r.GetErrorPosition().GetColumn() != 7 ||
		r.GetTables()[0].GetRows() != 3 || r.GetLog()[0].GetMessage() != "Sales: 3 rows" {
		t.Errorf("reload = %v", r)
	}
}

func TestAllReloadsFollowsEveryPage(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		token := r.URL.Query().Get("pageToken")
		if r.URL.Path != "/v1/tenants/acme/apps/sales/reloads" || r.URL.Query().Get("pageSize") != "1" {
			t.Errorf("request %s?%s", r.URL.Path, r.URL.RawQuery)
		}
		switch token {
		case "":
			_, _ = io.WriteString(w, `{"reloads": [{"name": "tenants/acme/apps/sales/reloads/r2"}], "nextPageToken": "p2"}`)
		case "p2":
			_, _ = io.WriteString(w, `{"reloads": [{"name": "tenants/acme/apps/sales/reloads/r1"}]}`)
		default:
			t.Errorf("page token %q", token)
		}
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "k", srv.Client())
	var names []string
	for r, err := range c.AllReloads(testContext(t), &contentv1.ListReloadsRequest{Parent: "tenants/acme/apps/sales", PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.GetName())
	}
	if want := []string{"tenants/acme/apps/sales/reloads/r2", "tenants/acme/apps/sales/reloads/r1"}; !slices.Equal(names, want) || calls.Load() != 2 {
		t.Errorf("AllReloads = %v in %d calls, want %v in 2", names, calls.Load(), want)
	}
}

func TestReloadAndAppNamesAreCheckedBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := client.New(srv.URL, "k", nil)
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"reload of a space": func() error {
			_, err := c.GetReload(ctx, &contentv1.GetReloadRequest{Name: "tenants/a/spaces/s/reloads/r"})
			return err
		},
		"reload id with a verb": func() error {
			_, err := c.CancelReload(ctx, &contentv1.CancelReloadRequest{Name: "tenants/a/apps/s/reloads/r:cancel"})
			return err
		},
		"reload given as an app": func() error {
			_, err := c.CreateReload(ctx, &contentv1.CreateReloadRequest{Parent: "tenants/a/apps/s/reloads/r"})
			return err
		},
		"reloads of no app": func() error {
			_, err := c.ListReloads(ctx, &contentv1.ListReloadsRequest{Parent: "tenants/a"})
			return err
		},
		"reload watch": func() error {
			for _, err := range c.WatchReload(ctx, &contentv1.WatchReloadRequest{Name: "tenants/a/apps/s/reloads/.."}) {
				return err
			}
			return nil
		},
		"reload follow": func() error {
			for _, err := range c.FollowReload(ctx, "reloads/r") {
				return err
			}
			return nil
		},
		"chart data of a path escape": func() error {
			_, err := c.GetChartData(ctx, &contentv1.GetChartDataRequest{App: "tenants/a/apps/.."})
			return err
		},
		"field values of no app": func() error {
			_, err := c.GetFieldValues(ctx, &contentv1.GetFieldValuesRequest{App: "", Field: "x"})
			return err
		},
		"select in a space": func() error {
			_, err := c.Select(ctx, &contentv1.SelectRequest{App: "tenants/a/spaces/s", Field: "x", Values: []string{"1"}})
			return err
		},
	} {
		if err := call(); !errors.Is(err, client.ErrInvalidName) {
			t.Errorf("%s: error = %v, want ErrInvalidName", name, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests reached the edge", n)
	}
}

// reloadUpdate is one watch object of tenants/acme/apps/sales/reloads/r1 with n log lines.
func reloadUpdate(state string, lines int) string {
	log := ""
	for i := range lines {
		if i > 0 {
			log += ","
		}
		log += fmt.Sprintf(`{"message":"line %d"}`, i+1)
	}
	return fmt.Sprintf(`{"result":{"reload":{"name":"tenants/acme/apps/sales/reloads/r1","state":"%s","log":[%s]}}}`, state, log)
}

func TestFollowReloadYieldsEveryChangeOnceAcrossWatches(t *testing.T) {
	t.Parallel()
	deadline := `{"error":{"code":4,"message":"context deadline exceeded","details":[]}}`
	srv, watches := fakeWatchEdgeAt(t, "/v1/tenants/acme/apps/sales/reloads/r1:watch",
		[]string{reloadUpdate("STATE_QUEUED", 0), reloadUpdate("STATE_RUNNING", 1), deadline},
		[]string{reloadUpdate("STATE_RUNNING", 1), reloadUpdate("STATE_RUNNING", 2), reloadUpdate("STATE_SUCCEEDED", 3)},
	)
	c := client.New(srv.URL, "k", nil)
	var seen []string
	for r, err := range c.FollowReload(testContext(t), "tenants/acme/apps/sales/reloads/r1") {
		if err != nil {
			t.Fatalf("FollowReload: %v", err)
		}
		seen = append(seen, fmt.Sprintf("%s %d", r.GetState(), len(r.GetLog())))
	}
	want := []string{"STATE_QUEUED 0", "STATE_RUNNING 1", "STATE_RUNNING 2", "STATE_SUCCEEDED 3"}
	if !slices.Equal(seen, want) {
		t.Errorf("updates = %v, want %v: a new log line is a change, a repeated update is not", seen, want)
	}
	if n := watches.Load(); n != 2 {
		t.Errorf("%d watches, want 2", n)
	}
}

func TestFollowReloadStopsAtAnErrorThatWatchingAgainWouldNotCure(t *testing.T) {
	t.Parallel()
	notFound := `{"error":{"code":5,"message":"not found","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RESOURCE_NOT_FOUND","domain":"oriel.dev"}]}}`
	srv, watches := fakeWatchEdgeAt(t, "/v1/tenants/acme/apps/sales/reloads/r1:watch", []string{notFound})
	c := client.New(srv.URL, "k", nil)
	var got error
	for _, err := range c.FollowReload(context.Background(), "tenants/acme/apps/sales/reloads/r1") {
		got = err
	}
	apiError(t, got, http.StatusNotFound, "RESOURCE_NOT_FOUND")
	if n := watches.Load(); n != 1 {
		t.Errorf("%d watches, want 1", n)
	}
}
