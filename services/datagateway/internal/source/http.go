package source

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// testRootCAs replaces the system's roots in tests, which serve TLS with their own CA.
var testRootCAs *x509.CertPool

// httpBounds bound what one http query reads. A variable so tests can lower it.
var httpBounds = struct {
	maxBody  int64 // bytes of one page
	maxPages int
}{maxBody: 64 << 20, maxPages: 10_000}

const (
	defaultPageSize     = 100
	httpDialTimeout     = 10 * time.Second
	httpHandshakeTimout = 10 * time.Second
)

// httpSource is one http query's settings.
type httpSource struct {
	p      *datagatewayv1.HttpParams
	cred   *datagatewayv1.Credentials
	base   *url.URL
	client *http.Client
}

// newHTTPSource checks the connection's URL and builds a client for it. Redirects are
// never followed, proxies from the environment are never used, and outside dev mode only
// https is spoken and every address a host resolves to is checked at dial time, after
// DNS, so a name that re-resolves to an internal address is refused too.
func newHTTPSource(p *datagatewayv1.HttpParams, cred *datagatewayv1.Credentials, opts Options) (*httpSource, error) {
	base, err := url.Parse(p.GetUrl())
	if err != nil || base.Host == "" || base.Hostname() == "" {
		return nil, sourceErr("the connection's URL is not an absolute URL")
	}
	switch {
	case base.Scheme == "https":
	case base.Scheme == "http" && opts.DevMode:
	case base.Scheme == "http":
		return nil, sourceErr("the connection's URL must use https")
	default:
		return nil, sourceErr("the connection's URL must use https, not %q", base.Scheme)
	}
	if base.User != nil {
		return nil, sourceErr("the connection's URL must not hold a user or password; put secrets in its credentials")
	}
	switch p.GetFormat() {
	case datagatewayv1.HttpParams_FORMAT_JSON, datagatewayv1.HttpParams_FORMAT_CSV:
	default:
		return nil, sourceErr("the connection's format must be JSON or CSV")
	}
	if p.GetPagination() == datagatewayv1.HttpParams_PAGINATION_NEXT_URL {
		if p.GetFormat() != datagatewayv1.HttpParams_FORMAT_JSON || p.GetNextUrlPath() == "" {
			return nil, sourceErr("NEXT_URL pagination needs the JSON format and a next_url_path")
		}
	}
	dialer := &net.Dialer{Timeout: httpDialTimeout, KeepAlive: 30 * time.Second}
	if !opts.DevMode {
		dialer.Control = refusePrivateAddress
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: testRootCAs},
		TLSHandshakeTimeout:    httpHandshakeTimout,
		MaxResponseHeaderBytes: 1 << 20,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    1,
	}
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &httpSource{p: p, cred: cred, base: base, client: client}, nil
}

// privateAddressError refuses a dial to an address a tenant's source may not have.
type privateAddressError struct{}

func (*privateAddressError) Error() string {
	return "its address is loopback, private, link-local or otherwise internal, which is refused"
}

// refusedPrefixes are special-purpose ranges beyond what netip's predicates cover.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64, which may embed a private IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4, likewise
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
}

// refusedAddress says whether a is internal.
func refusedAddress(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range refusedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refusePrivateAddress is a net.Dialer Control function: it sees the address actually
// dialled, after name resolution.
func refusePrivateAddress(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || refusedAddress(ap.Addr()) {
		return &privateAddressError{}
	}
	return nil
}

// resolveStatement resolves a query's statement (a path and query string) against the
// connection's URL; it may not change the scheme or the host.
func (s *httpSource) resolveStatement(statement string) (*url.URL, error) {
	statement = strings.TrimSpace(statement)
	if statement == "" {
		return s.base, nil
	}
	ref, err := url.Parse(statement)
	if err != nil {
		return nil, invalid("the statement is not a path and query string")
	}
	u := s.base.ResolveReference(ref)
	if u.Scheme != s.base.Scheme || u.Host != s.base.Host || u.User != nil {
		return nil, invalid("the statement may give a path and query string, but not another scheme or host")
	}
	return u, nil
}

// fetch GETs one page.
func (s *httpSource) fetch(ctx context.Context, u *url.URL) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, sourceErr("cannot build a request for the source's URL")
	}
	for k, v := range s.p.GetHeaders() {
		req.Header.Set(k, v)
	}
	for k, v := range s.cred.GetHeaders() {
		req.Header.Set(k, v)
	}
	if tok := s.cred.GetBearerToken(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if req.Header.Get("Accept") == "" {
		if s.p.GetFormat() == datagatewayv1.HttpParams_FORMAT_CSV {
			req.Header.Set("Accept", "text/csv")
		} else {
			req.Header.Set("Accept", "application/json")
		}
	}
	req.Header.Set("User-Agent", "oriel-datagateway")
	host := u.Host
	resp, err := s.client.Do(req)
	if err != nil {
		// The error quotes the URL, which may carry a secret query parameter: only our
		// own words leave here.
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if problem, transient := dialProblem(err); problem != "" {
			return nil, nil, &Error{Reason: ReasonSourceError, Unreachable: transient,
				Message: fmt.Sprintf("cannot reach %s: %s", host, problem)}
		}
		return nil, nil, &Error{Reason: ReasonSourceError, Unreachable: true,
			Message: fmt.Sprintf("the request to %s failed", host)}
	}
	defer func() { _ = resp.Body.Close() }()
	if err := httpStatusError(resp, host); err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, httpBounds.maxBody+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &Error{Reason: ReasonSourceError, Unreachable: true,
			Message: fmt.Sprintf("the response from %s broke off", host)}
	}
	if int64(len(body)) > httpBounds.maxBody {
		return nil, nil, sourceErr("the response from %s is larger than %d bytes", host, httpBounds.maxBody)
	}
	return body, resp.Header, nil
}

// httpStatusError describes a response that is not a success.
func httpStatusError(resp *http.Response, host string) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return sourceErr("%s answered with a redirect (HTTP %d), which is not followed; use the final URL", host, code)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return sourceErr("%s refused the credentials (HTTP %d)", host, code)
	case code == http.StatusTooManyRequests || code >= 500:
		return &Error{Reason: ReasonSourceError, Unreachable: true,
			Message: fmt.Sprintf("%s answered HTTP %d %s", host, code, http.StatusText(code))}
	}
	return sourceErr("%s answered HTTP %d %s", host, code, http.StatusText(code))
}

// field is one key and value of a JSON record, in document order.
type field struct {
	key string
	val json.RawMessage
}

// page is one page of records: JSON records (fields in order) or CSV rows under a
// header.
type page struct {
	records [][]field
	header  []string
	rows    [][]string
	next    string
}

func (pg *page) len() int {
	if pg.header != nil {
		return len(pg.rows)
	}
	return len(pg.records)
}

// parse reads a page's records and, for NEXT_URL, the next page's URL.
func (s *httpSource) parse(body []byte) (*page, error) {
	if s.p.GetFormat() == datagatewayv1.HttpParams_FORMAT_CSV {
		r := csv.NewReader(bytes.NewReader(body))
		r.ReuseRecord = false
		all, err := r.ReadAll()
		if err != nil {
			return nil, sourceErr("the source's CSV is malformed: %v", csvProblem(err))
		}
		if len(all) == 0 {
			return &page{header: []string{}}, nil
		}
		return &page{header: all[0], rows: all[1:]}, nil
	}
	recordsRaw, err := jsonAt(body, s.p.GetRecordsPath())
	if err != nil {
		return nil, err
	}
	pg := &page{}
	if recordsRaw != nil && !bytes.Equal(bytes.TrimSpace(recordsRaw), []byte("null")) {
		if pg.records, err = jsonRecords(recordsRaw); err != nil {
			return nil, err
		}
	}
	if s.p.GetPagination() == datagatewayv1.HttpParams_PAGINATION_NEXT_URL {
		raw, err := jsonAt(body, s.p.GetNextUrlPath())
		if err != nil {
			return nil, err
		}
		if raw != nil {
			var next *string
			if err := json.Unmarshal(raw, &next); err != nil {
				return nil, sourceErr("the value at %q is not a URL string", s.p.GetNextUrlPath())
			}
			if next != nil {
				pg.next = *next
			}
		}
	}
	return pg, nil
}

// csvProblem keeps the position of a CSV error, which holds no data.
func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d: %v", pe.Line, pe.Err)
	}
	return "unreadable"
}

// jsonAt returns the raw value at a dotted path of body (the body itself for ""), or
// nil when the path is absent.
func jsonAt(body []byte, path string) (json.RawMessage, error) {
	raw := json.RawMessage(body)
	if path == "" {
		if !json.Valid(body) {
			return nil, sourceErr("the source's response is not valid JSON")
		}
		return raw, nil
	}
	for _, key := range strings.Split(path, ".") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				return nil, sourceErr("the source's response is not valid JSON")
			}
			return nil, sourceErr("the source's response has no object holding %q (path %q)", key, path)
		}
		v, ok := obj[key]
		if !ok {
			return nil, nil
		}
		raw = v
	}
	return raw, nil
}

// jsonRecords reads an array of objects keeping each object's keys in order (the first
// page's order becomes the columns' order).
func jsonRecords(raw json.RawMessage) ([][]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	notArray := sourceErr("the source's records are not an array of objects")
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, notArray
	}
	var records [][]field
	for dec.More() {
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return nil, notArray
		}
		var rec []field
		for dec.More() {
			t, err := dec.Token()
			key, ok := t.(string)
			if err != nil || !ok {
				return nil, notArray
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, notArray
			}
			rec = append(rec, field{key: key, val: v})
		}
		if _, err := dec.Token(); err != nil {
			return nil, notArray
		}
		records = append(records, rec)
	}
	return records, nil
}

// jsonKind classifies a raw JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonInt
	jsonFloat
	jsonString
	jsonComposite
)

func kindOf(v json.RawMessage) jsonKind {
	if len(v) == 0 {
		return jsonNull
	}
	switch v[0] {
	case 'n':
		return jsonNull
	case 't', 'f':
		return jsonBool
	case '"':
		return jsonString
	case '{', '[':
		return jsonComposite
	}
	if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return jsonInt
	}
	return jsonFloat
}

// inferJSONType chooses a JSON column's type from its values on the first page with
// records: all booleans → BOOL; all integral numbers that fit int64 → INT64; numbers →
// FLOAT64; all strings → STRING; all objects or arrays → JSON; no value, or a mix of
// these → STRING (each value's text: strings unquoted, others as JSON text).
//
// Later values that do not fit the column's type (a string in an INT64 column, 1.5 in
// an INT64 column) are null, so a column keeps one type across pages.
func inferJSONType(seen map[jsonKind]bool) datagatewayv1.Column_Type {
	delete(seen, jsonNull)
	switch {
	case len(seen) == 0:
		return datagatewayv1.Column_TYPE_STRING
	case len(seen) == 1 && seen[jsonBool]:
		return datagatewayv1.Column_TYPE_BOOL
	case len(seen) == 1 && seen[jsonInt]:
		return datagatewayv1.Column_TYPE_INT64
	case len(seen) <= 2 && (seen[jsonInt] || seen[jsonFloat]) && !seen[jsonBool] && !seen[jsonString] && !seen[jsonComposite]:
		return datagatewayv1.Column_TYPE_FLOAT64
	case len(seen) == 1 && seen[jsonComposite]:
		return datagatewayv1.Column_TYPE_JSON
	}
	return datagatewayv1.Column_TYPE_STRING
}

// appendJSON appends a raw JSON value to column i of type typ.
func (b *batch) appendJSON(i int, typ datagatewayv1.Column_Type, v json.RawMessage) {
	k := kindOf(v)
	if k == jsonNull {
		b.appendNull(i)
		return
	}
	switch typ {
	case datagatewayv1.Column_TYPE_BOOL:
		if k != jsonBool {
			b.appendNull(i)
			return
		}
		b.appendBool(i, v[0] == 't')
	case datagatewayv1.Column_TYPE_INT64:
		n, err := strconv.ParseInt(string(v), 10, 64)
		if k != jsonInt || err != nil {
			b.appendNull(i)
			return
		}
		b.appendInt64(i, n)
	case datagatewayv1.Column_TYPE_FLOAT64:
		f, err := strconv.ParseFloat(string(v), 64)
		if (k != jsonInt && k != jsonFloat) || err != nil {
			b.appendNull(i)
			return
		}
		b.appendFloat64(i, f)
	case datagatewayv1.Column_TYPE_JSON:
		b.appendBytes(i, compactJSON(v))
	default: // STRING
		if k == jsonString {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				b.appendNull(i)
				return
			}
			b.appendString(i, s)
			return
		}
		b.appendBytes(i, compactJSON(v))
	}
}

func compactJSON(v json.RawMessage) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return v
	}
	return buf.Bytes()
}

// queryHTTP reads the records of an http source, page by page.
func queryHTTP(ctx context.Context, p *datagatewayv1.HttpParams, cred *datagatewayv1.Credentials, statement string, lim Limits, opts Options, send Send) error {
	start := time.Now()
	s, err := newHTTPSource(p, cred, opts)
	if err != nil {
		return err
	}
	defer s.client.CloseIdleConnections()
	target, err := s.resolveStatement(statement)
	if err != nil {
		return err
	}
	qctx, cancel := withLimit(ctx, lim.Timeout)
	defer cancel()

	pageSize := int(p.GetPageSize())
	if pageSize <= 0 {
		pageSize = defaultPageSize
	}
	r := &httpResult{send: send, lim: lim}
	next := target
	seen := map[string]bool{}
	for n, offset := 0, 0; ; n++ {
		if n >= httpBounds.maxPages {
			return sourceErr("the source has more than %d pages", httpBounds.maxPages)
		}
		u := next
		if p.GetPagination() == datagatewayv1.HttpParams_PAGINATION_OFFSET {
			u = withOffset(target, offset, pageSize)
		}
		body, _, err := s.fetch(qctx, u)
		if err != nil {
			return httpError(qctx, lim, err)
		}
		pg, err := s.parse(body)
		if err != nil {
			return err
		}
		done, err := r.add(pg)
		if err != nil {
			return err
		}
		more := false
		switch p.GetPagination() {
		case datagatewayv1.HttpParams_PAGINATION_OFFSET:
			more = pg.len() >= pageSize
			offset += pg.len()
		case datagatewayv1.HttpParams_PAGINATION_NEXT_URL:
			if pg.next != "" {
				ref, err := url.Parse(pg.next)
				if err != nil {
					return sourceErr("the next page's URL is not a URL")
				}
				nu := u.ResolveReference(ref)
				if nu.Scheme != s.base.Scheme || nu.Host != s.base.Host || nu.User != nil {
					return sourceErr("the next page's URL points at another host or scheme, which is refused")
				}
				seen[u.String()] = true
				if seen[nu.String()] {
					return sourceErr("the next page's URL repeats an earlier page")
				}
				next, more = nu, true
			}
		}
		if done || !more {
			if done && more {
				r.truncated = true
			}
			break
		}
	}
	return r.finish(time.Since(start))
}

// httpError turns a fetch error into the query's error.
func httpError(qctx context.Context, lim Limits, err error) error {
	if e := interrupted(qctx, lim); e != nil {
		return e
	}
	return err
}

// withOffset sets the offset and limit query parameters.
func withOffset(u *url.URL, offset, limit int) *url.URL {
	c := *u
	q := c.Query()
	q.Set("offset", strconv.Itoa(offset))
	q.Set("limit", strconv.Itoa(limit))
	c.RawQuery = q.Encode()
	return &c
}

// httpResult turns pages into the result's messages.
type httpResult struct {
	send      Send
	lim       Limits
	cols      []*datagatewayv1.Column
	index     map[string]int
	types     []datagatewayv1.Column_Type
	b         *batch
	rows      int64
	truncated bool
	scratch   []bool
}

// add appends a page's records; it reports whether the row limit was reached.
func (r *httpResult) add(pg *page) (bool, error) {
	if r.cols == nil && pg.len() > 0 {
		r.decideColumns(pg)
		if err := r.send(headerMessage(r.cols)); err != nil {
			return true, err
		}
	}
	if r.cols == nil {
		return false, nil
	}
	present := r.scratch
	for j := 0; j < pg.len(); j++ {
		if r.rows == r.lim.RowLimit {
			r.truncated = true
			return true, nil
		}
		clear(present)
		if pg.header != nil {
			row := pg.rows[j]
			for k, name := range pg.header {
				if i, ok := r.index[name]; ok && k < len(row) && !present[i] {
					present[i] = true
					r.b.appendString(i, row[k])
				}
			}
			for i := range present {
				if !present[i] {
					r.b.appendNull(i)
				}
			}
		} else {
			// Values must go in column order: gather them first.
			vals := make([]json.RawMessage, len(r.cols))
			for _, f := range pg.records[j] {
				if i, ok := r.index[f.key]; ok {
					vals[i] = f.val
				}
			}
			for i, v := range vals {
				if v == nil {
					r.b.appendNull(i)
				} else {
					r.b.appendJSON(i, r.types[i], v)
				}
			}
		}
		r.b.endRow()
		r.rows++
		if r.b.full() {
			if err := r.send(r.b.message()); err != nil {
				return true, err
			}
		}
	}
	return r.rows == r.lim.RowLimit, nil
}

// decideColumns takes the columns from the first page with records: the CSV header, or
// every key of the JSON records in order of first appearance, typed by inferJSONType.
func (r *httpResult) decideColumns(pg *page) {
	r.index = map[string]int{}
	if pg.header != nil {
		for _, name := range pg.header {
			if _, dup := r.index[name]; dup {
				continue
			}
			r.index[name] = len(r.cols)
			r.cols = append(r.cols, &datagatewayv1.Column{Name: name, Type: datagatewayv1.Column_TYPE_STRING, SourceType: "csv"})
		}
	} else {
		var seen []map[jsonKind]bool
		for _, rec := range pg.records {
			for _, f := range rec {
				i, ok := r.index[f.key]
				if !ok {
					i = len(r.cols)
					r.index[f.key] = i
					r.cols = append(r.cols, &datagatewayv1.Column{Name: f.key})
					seen = append(seen, map[jsonKind]bool{})
				}
				seen[i][kindOf(f.val)] = true
			}
		}
		for i, c := range r.cols {
			c.Type = inferJSONType(seen[i])
			c.SourceType = "json " + jsonTypeName(c.Type)
		}
	}
	r.types = columnTypes(r.cols)
	r.b = newBatch(r.types, r.lim.BatchRows)
	r.scratch = make([]bool, len(r.cols))
}

func jsonTypeName(t datagatewayv1.Column_Type) string {
	switch t {
	case datagatewayv1.Column_TYPE_BOOL:
		return "boolean"
	case datagatewayv1.Column_TYPE_INT64, datagatewayv1.Column_TYPE_FLOAT64:
		return "number"
	case datagatewayv1.Column_TYPE_JSON:
		return "object"
	}
	return "string"
}

// finish sends the header (when no page had records), the last batch and the stats.
func (r *httpResult) finish(d time.Duration) error {
	if r.cols == nil {
		if err := r.send(headerMessage(nil)); err != nil {
			return err
		}
	} else if r.b.rows > 0 {
		if err := r.send(r.b.message()); err != nil {
			return err
		}
	}
	return r.send(statsMessage(r.rows, r.truncated, d))
}

// testHTTP fetches and parses the first page.
func testHTTP(ctx context.Context, p *datagatewayv1.HttpParams, cred *datagatewayv1.Credentials, opts Options) (string, error) {
	s, err := newHTTPSource(p, cred, opts)
	if err != nil {
		return "", err
	}
	defer s.client.CloseIdleConnections()
	u := s.base
	if p.GetPagination() == datagatewayv1.HttpParams_PAGINATION_OFFSET {
		u = withOffset(s.base, 0, int(cmp0(p.GetPageSize(), defaultPageSize)))
	}
	body, header, err := s.fetch(ctx, u)
	if err != nil {
		return "", err
	}
	if _, err := s.parse(body); err != nil {
		return "", err
	}
	return header.Get("Server"), nil
}
