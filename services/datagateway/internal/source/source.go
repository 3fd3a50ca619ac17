// Package source runs read-only queries against a tenant's data sources (PostgreSQL,
// MySQL, JSON or CSV over HTTPS) and streams their results as typed, columnar batches. The
// datagateway uses it for direct connections and oriel-agent for sources only it reaches,
// so both ends produce the same messages.
package source

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Limits bound one query.
type Limits struct {
	// RowLimit is the most rows returned; more make the result truncated. > 0.
	RowLimit int64
	// Timeout is the longest the query may run. > 0.
	Timeout time.Duration
	// BatchRows is the number of rows per batch. > 0.
	BatchRows int
}

// Options say how sources may be reached.
type Options struct {
	// DevMode allows plain-http URLs and loopback, private and link-local addresses,
	// which outside dev mode are refused for http sources.
	DevMode bool
}

// Send delivers one message of a result. It may block (that is the flow control); an
// error from it stops the query and is returned by Query.
type Send func(*datagatewayv1.QueryResponse) error

// Query runs statement against src with params bound to its placeholders and sends the
// header, then batches of at most lim.BatchRows rows, then the stats. A cancelled ctx
// cancels the statement at the source. Errors the source reports are *Error.
//
// Parameters are values sent apart from the statement's text (PostgreSQL's `$n`, MySQL's
// `?`), never spliced into it, so no value can change what the statement does; there
// must be exactly one per placeholder. http sources take none.
//
// SQL runs in a read-only transaction on a connection of its own, one statement at a
// time; the row limit stops the statement at the source rather than draining it. How
// each source type travels is the table in batch.go. A cancelled ctx makes Query return
// ctx.Err(); the time limit running out is an *Error with ReasonTimeout; an error from
// send is returned as is.
func Query(ctx context.Context, src *datagatewayv1.Source, statement string, params []*datagatewayv1.QueryParameter, lim Limits, opts Options, send Send) error {
	if err := lim.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	switch p := src.GetParams().(type) {
	case *datagatewayv1.Source_Postgres:
		return queryPostgres(ctx, p.Postgres, src.GetCredentials(), statement, params, lim, send)
	case *datagatewayv1.Source_Mysql:
		return queryMysql(ctx, p.Mysql, src.GetCredentials(), statement, params, lim, send)
	case *datagatewayv1.Source_Http:
		if len(params) > 0 {
			return invalid("http connections take no parameters")
		}
		return queryHTTP(ctx, p.Http, src.GetCredentials(), statement, lim, opts, send)
	}
	return invalid("the connection has no source parameters")
}

// Test connects to src and probes it; failures are reported in the response.
func Test(ctx context.Context, src *datagatewayv1.Source, opts Options) *datagatewayv1.TestConnectionResponse {
	ctx, cancel := withLimit(ctx, testTimeout)
	defer cancel()
	start := time.Now()
	var version string
	var err error
	switch p := src.GetParams().(type) {
	case *datagatewayv1.Source_Postgres:
		version, err = testPostgres(ctx, p.Postgres, src.GetCredentials())
	case *datagatewayv1.Source_Mysql:
		version, err = testMysql(ctx, p.Mysql, src.GetCredentials())
	case *datagatewayv1.Source_Http:
		version, err = testHTTP(ctx, p.Http, src.GetCredentials(), opts)
	default:
		err = invalid("the connection has no source parameters")
	}
	resp := &datagatewayv1.TestConnectionResponse{Latency: durationpb.New(time.Since(start))}
	if err == nil {
		resp.Ok = true
		resp.ServerVersion = version
		return resp
	}
	resp.Error = testErrorMessage(ctx, err)
	return resp
}

// testTimeout bounds a Test.
const testTimeout = 30 * time.Second

// testErrorMessage is the text of a failed test: an Error's own message, never a
// driver's.
func testErrorMessage(ctx context.Context, err error) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Message
	case context.Cause(ctx) == errQueryTimeout:
		return fmt.Sprintf("the source did not answer within %s", testTimeout)
	case errors.Is(err, context.Canceled):
		return "the test was canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "the test did not finish within its deadline"
	}
	return "the test failed"
}

// placeholderMismatch refuses parameters that do not match the statement's placeholders
// one for one.
func placeholderMismatch(placeholders, params int) *Error {
	verb := "were"
	if params == 1 {
		verb = "was"
	}
	return invalid("the statement has %s but %s %s given", plural(placeholders, "placeholder"), plural(params, "parameter"), verb)
}

// plural is "1 placeholder", "2 placeholders".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// validate checks the limits every query needs.
func (l Limits) validate() error {
	switch {
	case l.RowLimit <= 0:
		return invalid("the row limit must be positive")
	case l.Timeout <= 0:
		return invalid("the time limit must be positive")
	case l.BatchRows <= 0:
		return invalid("the batch size must be positive")
	}
	return nil
}
