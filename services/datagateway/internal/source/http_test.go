package source

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

func TestMain(m *testing.M) {
	// Every httptest TLS server serves the same certificate: trust it, as a tenant's
	// source's certificate is trusted through the system roots.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	srv.Close()
	testRootCAs = pool
	os.Exit(m.Run())
}

var dev = Options{DevMode: true}

// httpSrc is an http source for url.
func httpSrc(url string, format datagatewayv1.HttpParams_Format, edit ...func(*datagatewayv1.HttpParams)) *datagatewayv1.Source {
	p := &datagatewayv1.HttpParams{Url: url, Format: format}
	for _, e := range edit {
		e(p)
	}
	return &datagatewayv1.Source{Params: &datagatewayv1.Source_Http{Http: p}}
}

// requests records the URLs a test server was asked for.
type requests struct {
	mu   sync.Mutex
	urls []string
}

func (r *requests) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.urls = append(r.urls, req.URL.RequestURI())
}

func (r *requests) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.urls...)
}

// offsetServer serves n records {"n": i} with offset and limit parameters.
func offsetServer(t *testing.T, n int, reqs *requests) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.add(r)
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		var recs []string
		for i := offset; i < min(offset+limit, n); i++ {
			recs = append(recs, fmt.Sprintf(`{"n": %d}`, i+1))
		}
		fmt.Fprintf(w, `{"data": [%s]}`, strings.Join(recs, ","))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPJSONInfersColumnTypesFromTheFirstPage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"data": {"items": [
			{"id": 1, "name": "a", "price": 1.5, "ok": true, "tags": ["x"], "meta": {"k": 1}, "mixed": 1, "empty": null},
			{"id": 2, "name": "b", "price": 2, "ok": false, "tags": [], "meta": null, "mixed": "two", "extra": "e"},
			{"id": 3, "name": null, "price": 3.25}
		]}}`)
	}))
	defer srv.Close()
	src := httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) { p.RecordsPath = "data.items" })
	r := mustRun(t, src, "", limits(10), dev)

	const (
		tBool  = datagatewayv1.Column_TYPE_BOOL
		tInt   = datagatewayv1.Column_TYPE_INT64
		tFloat = datagatewayv1.Column_TYPE_FLOAT64
		tStr   = datagatewayv1.Column_TYPE_STRING
		tJSON  = datagatewayv1.Column_TYPE_JSON
	)
	wantNames := []string{"id", "name", "price", "ok", "tags", "meta", "mixed", "empty", "extra"}
	wantTypes := []datagatewayv1.Column_Type{tInt, tStr, tFloat, tBool, tJSON, tJSON, tStr, tStr, tStr}
	var names []string
	for _, c := range r.cols {
		names = append(names, c.GetName())
	}
	if !reflect.DeepEqual(names, wantNames) || !reflect.DeepEqual(r.colTypes(), wantTypes) {
		t.Fatalf("columns = %v %v, want %v %v", names, r.colTypes(), wantNames, wantTypes)
	}
	if r.cols[0].GetSourceType() != "json number" {
		t.Errorf("source type = %q", r.cols[0].GetSourceType())
	}
	want := [][]any{
		{int64(1), "a", 1.5, true, `["x"]`, `{"k":1}`, "1", nil, nil},
		{int64(2), "b", 2.0, false, `[]`, nil, "two", nil, "e"},
		{int64(3), nil, 3.25, nil, nil, nil, nil, nil, nil},
	}
	if !reflect.DeepEqual(r.rows, want) {
		t.Errorf("rows = %#v\nwant %#v", r.rows, want)
	}
}

func TestHTTPLaterValuesThatDoNotFitTheirColumnAreNull(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("offset") == "0" {
			fmt.Fprint(w, `[{"n": 1, "b": true}, {"n": 2, "b": false}]`)
			return
		}
		fmt.Fprint(w, `[{"n": "three", "b": "yes", "new": 1}, {"n": 4.5, "b": true}]`)
	}))
	defer srv.Close()
	src := httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) {
		p.Pagination = datagatewayv1.HttpParams_PAGINATION_OFFSET
		p.PageSize = 2
	})
	lim := limits(10)
	lim.RowLimit = 4
	r := mustRun(t, src, "", lim, dev)
	want := [][]any{{int64(1), true}, {int64(2), false}, {nil, nil}, {nil, true}}
	if len(r.cols) != 2 || !reflect.DeepEqual(r.rows, want) {
		t.Errorf("columns %d, rows = %#v, want 2 and %#v", len(r.cols), r.rows, want)
	}
}

func TestHTTPOffsetPaginationReadsUntilAShortPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		records int
		offsets []string
	}{
		{"short last page", 250, []string{"0", "100", "200"}},
		{"empty last page", 200, []string{"0", "100", "200"}},
		{"no records", 0, []string{"0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reqs requests
			srv := offsetServer(t, tt.records, &reqs)
			src := httpSrc(srv.URL+"/api/items?status=open", datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) {
				p.RecordsPath = "data"
				p.Pagination = datagatewayv1.HttpParams_PAGINATION_OFFSET
			})
			r := mustRun(t, src, "", limits(64), dev)
			if len(r.rows) != tt.records || r.stats.GetTruncated() {
				t.Fatalf("%d rows (truncated %v), want %d", len(r.rows), r.stats.GetTruncated(), tt.records)
			}
			for j, row := range r.rows {
				if row[0] != int64(j+1) {
					t.Fatalf("row %d = %v", j, row)
				}
			}
			var want []string
			for _, o := range tt.offsets {
				want = append(want, "/api/items?limit=100&offset="+o+"&status=open")
			}
			if got := reqs.list(); !reflect.DeepEqual(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
		})
	}
}

func TestHTTPBatchesSpanPages(t *testing.T) {
	t.Parallel()
	var reqs requests
	srv := offsetServer(t, 7, &reqs)
	src := httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) {
		p.RecordsPath = "data"
		p.Pagination = datagatewayv1.HttpParams_PAGINATION_OFFSET
		p.PageSize = 2
	})
	r := mustRun(t, src, "", limits(3), dev)
	if want := []int{3, 3, 1}; !reflect.DeepEqual(r.batches, want) {
		t.Errorf("batches = %v, want %v", r.batches, want)
	}
}

func TestHTTPRowLimitTruncatesAndStopsPaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		records   int
		limit     int64
		requests  int
		truncated bool
	}{
		{"within a page", 250, 50, 1, true},
		{"at a page boundary with more pages", 250, 100, 1, true},
		{"across pages", 250, 150, 2, true},
		{"exactly all records", 250, 250, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var reqs requests
			srv := offsetServer(t, tt.records, &reqs)
			src := httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) {
				p.RecordsPath = "data"
				p.Pagination = datagatewayv1.HttpParams_PAGINATION_OFFSET
			})
			lim := limits(64)
			lim.RowLimit = tt.limit
			r := mustRun(t, src, "", lim, dev)
			if int64(len(r.rows)) != tt.limit || r.stats.GetTruncated() != tt.truncated || len(reqs.list()) != tt.requests {
				t.Errorf("%d rows truncated %v after %d requests, want %d %v %d",
					len(r.rows), r.stats.GetTruncated(), len(reqs.list()), tt.limit, tt.truncated, tt.requests)
			}
		})
	}
}

func TestHTTPNextURLPagination(t *testing.T) {
	t.Parallel()
	var srvURL string
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.add(r)
		switch r.URL.Path {
		case "/v1/items":
			fmt.Fprint(w, `{"items": [{"n": 1}, {"n": 2}], "links": {"next": "page2?cursor=abc"}}`)
		case "/v1/page2":
			fmt.Fprintf(w, `{"items": [{"n": 3}], "links": {"next": %q}}`, srvURL+"/v1/page3")
		case "/v1/page3":
			fmt.Fprint(w, `{"items": [{"n": 4}], "links": {"next": null}}`)
		case "/loop":
			fmt.Fprint(w, `{"items": [{"n": 1}], "links": {"next": "/loop"}}`)
		case "/away":
			fmt.Fprint(w, `{"items": [{"n": 1}], "links": {"next": "https://elsewhere.example/p2"}}`)
		case "/downgrade":
			fmt.Fprint(w, `{"items": [{"n": 1}], "links": {"next": "ftp://`+r.Host+`/p2"}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	params := func(p *datagatewayv1.HttpParams) {
		p.RecordsPath = "items"
		p.Pagination = datagatewayv1.HttpParams_PAGINATION_NEXT_URL
		p.NextUrlPath = "links.next"
	}

	t.Run("follows relative and absolute links until none", func(t *testing.T) {
		r := mustRun(t, httpSrc(srv.URL+"/v1/items", datagatewayv1.HttpParams_FORMAT_JSON, params), "", limits(10), dev)
		if want := [][]any{{int64(1)}, {int64(2)}, {int64(3)}, {int64(4)}}; !reflect.DeepEqual(r.rows, want) {
			t.Errorf("rows = %v, want %v", r.rows, want)
		}
		if want := []string{"/v1/items", "/v1/page2?cursor=abc", "/v1/page3"}; !reflect.DeepEqual(reqs.list(), want) {
			t.Errorf("requests = %v, want %v", reqs.list(), want)
		}
	})
	for _, path := range []string{"/away", "/downgrade", "/loop"} {
		t.Run("refuses "+path, func(t *testing.T) {
			_, err := run(t, context.Background(), httpSrc(srv.URL+path, datagatewayv1.HttpParams_FORMAT_JSON, params), "", limits(10), dev)
			sourceError(t, err, ReasonSourceError, codes.FailedPrecondition)
		})
	}
}

func TestHTTPCSVColumnsAreStrings(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("offset") {
		case "", "0":
			fmt.Fprint(w, "id,name,note\n1,a,\n2,\"b, c\",x\n")
		default:
			// Later pages repeat the header, perhaps in another order.
			fmt.Fprint(w, "name,id\nd,3\n")
		}
	}))
	defer srv.Close()

	r := mustRun(t, httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_CSV), "", limits(10), dev)
	want := [][]any{{"1", "a", ""}, {"2", "b, c", "x"}}
	if !reflect.DeepEqual(r.rows, want) || r.cols[1].GetType() != datagatewayv1.Column_TYPE_STRING || r.cols[1].GetSourceType() != "csv" {
		t.Errorf("rows = %#v cols = %v, want %#v", r.rows, r.cols, want)
	}

	paged := httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_CSV, func(p *datagatewayv1.HttpParams) {
		p.Pagination = datagatewayv1.HttpParams_PAGINATION_OFFSET
		p.PageSize = 2
	})
	r = mustRun(t, paged, "", limits(10), dev)
	want = [][]any{{"1", "a", ""}, {"2", "b, c", "x"}, {"3", "d", nil}}
	if !reflect.DeepEqual(r.rows, want) {
		t.Errorf("paged rows = %#v, want %#v", r.rows, want)
	}
}

func TestHTTPSendsHeadersAndCredentialsButNeverShowsThem(t *testing.T) {
	t.Parallel()
	const token, apiKey = "tok-" + testPassword, "key-" + testPassword
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get("X-Api-Key") != apiKey ||
			r.Header.Get("X-Tenant") != "acme" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, "bad credentials %s %s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
			return
		}
		fmt.Fprint(w, `[{"ok": true}]`)
	}))
	defer srv.Close()
	src := httpSrc(srv.URL+"/?api_key="+testPassword, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) {
		p.Headers = map[string]string{"X-Tenant": "acme"}
	})
	src.Credentials = &datagatewayv1.Credentials{BearerToken: token, Headers: map[string]string{"X-Api-Key": apiKey}}
	r := mustRun(t, src, "", limits(10), dev)
	if len(r.rows) != 1 {
		t.Fatalf("rows = %v", r.rows)
	}

	src.Credentials.BearerToken = "wrong-" + token
	_, err := run(t, context.Background(), src, "", limits(10), dev)
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition, token, apiKey, testPassword)
	if !strings.Contains(e.Message, "401") {
		t.Errorf("message = %q, want the status", e.Message)
	}
	res := Test(context.Background(), src, dev)
	if res.GetOk() || strings.Contains(res.GetError(), testPassword) {
		t.Errorf("Test = %v", res)
	}
}

func TestHTTPDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			fmt.Fprint(w, `[]`)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	_, err := run(t, context.Background(), httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON), "", limits(10), dev)
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition)
	if !strings.Contains(e.Message, "redirect") || followed.Load() != 0 {
		t.Errorf("message = %q, redirect followed %d times", e.Message, followed.Load())
	}
}

func TestHTTPStatementIsAPathAndQueryOnTheSameHost(t *testing.T) {
	t.Parallel()
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.add(r)
		fmt.Fprint(w, `[{"n": 1}]`)
	}))
	defer srv.Close()
	src := httpSrc(srv.URL+"/api/v1/items?a=1", datagatewayv1.HttpParams_FORMAT_JSON)
	ok := []struct{ statement, want string }{
		{"", "/api/v1/items?a=1"},
		{"?b=2", "/api/v1/items?b=2"},
		{"orders?c=3", "/api/v1/orders?c=3"},
		{"/other", "/other"},
	}
	for _, tt := range ok {
		before := len(reqs.list())
		mustRun(t, src, tt.statement, limits(10), dev)
		if got := reqs.list()[before:]; len(got) != 1 || got[0] != tt.want {
			t.Errorf("statement %q requested %v, want %s", tt.statement, got, tt.want)
		}
	}
	for _, statement := range []string{"https://elsewhere.example/x", "//elsewhere.example/x", "https:" + strings.TrimPrefix(srv.URL, "http:") + "/x", "http://user:pw@" + strings.TrimPrefix(srv.URL, "http://")} {
		_, err := run(t, context.Background(), src, statement, limits(10), dev)
		sourceError(t, err, ReasonInvalidRequest, codes.InvalidArgument)
	}
}

func TestHTTPOutsideDevModeRefusesPlainHTTPAndInternalAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `[{"n": 1}]`)
	}))
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")

	// In dev mode the same server answers, over verified TLS.
	if r := mustRun(t, httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON), "", limits(10), dev); len(r.rows) != 1 {
		t.Fatalf("dev mode rows = %v", r.rows)
	}
	hits.Store(0)

	tests := []struct{ name, url, message string }{
		{"plain http", "http://example.com/data", "https"},
		{"loopback address", "https://127.0.0.1:" + port, "internal"},
		{"loopback name", "https://localhost:" + port, "internal"},
		{"IPv6 loopback", "https://[::1]:" + port, "internal"},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]:" + port, "internal"},
		{"cloud metadata", "https://169.254.169.254/latest/meta-data", "internal"},
		{"private network", "https://10.1.2.3/", "internal"},
		{"unspecified", "https://0.0.0.0:" + port, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, context.Background(), httpSrc(tt.url, datagatewayv1.HttpParams_FORMAT_JSON), "", limits(10), Options{})
			e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition)
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tt.message)
			}
			if res := Test(context.Background(), httpSrc(tt.url, datagatewayv1.HttpParams_FORMAT_JSON), Options{}); res.GetOk() {
				t.Errorf("Test = %v, want refused", res)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("the internal server was reached %d times", hits.Load())
	}
}

func TestRefusedAddresses(t *testing.T) {
	t.Parallel()
	refused := []string{
		"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "fd12:3456::1", "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "255.255.255.255", "198.18.0.1",
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"}
	for _, a := range refused {
		if !refusedAddress(netip.MustParseAddr(a)) {
			t.Errorf("%s is allowed, want refused", a)
		}
	}
	for _, a := range allowed {
		if refusedAddress(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused, want allowed", a)
		}
	}
}

func TestHTTPRefusesResponsesOverTheSizeLimit(t *testing.T) {
	// Not parallel: it lowers a package-wide bound.
	defer func(old int64) { httpBounds.maxBody = old }(httpBounds.maxBody)
	httpBounds.maxBody = 64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `[{"s": %q}]`, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	_, err := run(t, context.Background(), httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON), "", limits(10), dev)
	e := sourceError(t, err, ReasonSourceError, codes.FailedPrecondition)
	if !strings.Contains(e.Message, "larger than") {
		t.Errorf("message = %q", e.Message)
	}
}

func TestHTTPBadResponses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/404":
			http.NotFound(w, r)
		case "/not-json":
			fmt.Fprint(w, `<html>`)
		case "/not-array":
			fmt.Fprint(w, `{"a": 1}`)
		case "/not-objects":
			fmt.Fprint(w, `[1, 2]`)
		case "/bad-csv":
			fmt.Fprint(w, "a,b\n1,2,3\n")
		}
	}))
	defer srv.Close()
	tests := []struct {
		path   string
		format datagatewayv1.HttpParams_Format
		code   codes.Code
	}{
		{"/500", datagatewayv1.HttpParams_FORMAT_JSON, codes.Unavailable},
		{"/404", datagatewayv1.HttpParams_FORMAT_JSON, codes.FailedPrecondition},
		{"/not-json", datagatewayv1.HttpParams_FORMAT_JSON, codes.FailedPrecondition},
		{"/not-array", datagatewayv1.HttpParams_FORMAT_JSON, codes.FailedPrecondition},
		{"/not-objects", datagatewayv1.HttpParams_FORMAT_JSON, codes.FailedPrecondition},
		{"/bad-csv", datagatewayv1.HttpParams_FORMAT_CSV, codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := run(t, context.Background(), httpSrc(srv.URL+tt.path, tt.format), "", limits(10), dev)
			sourceError(t, err, ReasonSourceError, tt.code)
		})
	}
}

func TestHTTPEmptyResultHasAHeaderWithoutColumns(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"items": []}`) }))
	defer srv.Close()
	r := mustRun(t, httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON, func(p *datagatewayv1.HttpParams) { p.RecordsPath = "items" }), "", limits(10), dev)
	if len(r.cols) != 0 || len(r.rows) != 0 {
		t.Errorf("cols %v rows %v, want none", r.cols, r.rows)
	}
}

func TestHTTPTestFetchesTheFirstPage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Server", "acme-api/2.1")
		fmt.Fprint(w, `[{"n": 1}]`)
	}))
	defer srv.Close()
	res := Test(context.Background(), httpSrc(srv.URL, datagatewayv1.HttpParams_FORMAT_JSON), dev)
	if !res.GetOk() || res.GetServerVersion() != "acme-api/2.1" || res.GetLatency().AsDuration() <= 0 {
		t.Errorf("Test = %v", res)
	}
	res = Test(context.Background(), httpSrc(srv.URL+"/broken", datagatewayv1.HttpParams_FORMAT_JSON), dev)
	if res.GetOk() || !strings.Contains(res.GetError(), "500") {
		t.Errorf("Test of a failing source = %v", res)
	}
}
