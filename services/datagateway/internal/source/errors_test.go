package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

func TestErrorBecomesAStatusWithErrorInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      *Error
		code     codes.Code
		reason   string
		metadata map[string]string
	}{
		{"source error", &Error{Reason: ReasonSourceError, Message: "relation missing", SQLState: "42P01", Connection: "tenants/acme/connections/erp"},
			codes.FailedPrecondition, "SOURCE_ERROR", map[string]string{"sqlstate": "42P01", "connection": "tenants/acme/connections/erp"}},
		{"unreachable source", &Error{Reason: ReasonSourceError, Message: "cannot reach", Unreachable: true},
			codes.Unavailable, "SOURCE_ERROR", nil},
		{"read-only", &Error{Reason: ReasonReadOnly, Message: "no writes", SQLState: "25006"},
			codes.FailedPrecondition, "READ_ONLY", map[string]string{"sqlstate": "25006"}},
		{"timeout", timeoutErr(3 * time.Second),
			codes.DeadlineExceeded, "DEADLINE_EXCEEDED", map[string]string{"timeout": "3s"}},
		{"invalid request", invalid("empty statement"),
			codes.InvalidArgument, "INVALID_REQUEST", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(what string, err error) {
				t.Helper()
				st := status.Convert(err)
				if st.Code() != tt.code || st.Message() != tt.err.Message || apierr.Reason(err) != tt.reason {
					t.Errorf("%s: %v %q %q, want %v %q %q", what, st.Code(), st.Message(), apierr.Reason(err), tt.code, tt.err.Message, tt.reason)
				}
				md := errorMetadata(t, err)
				if len(md) != len(tt.metadata) {
					t.Errorf("%s: metadata = %v, want %v", what, md, tt.metadata)
				}
				for k, v := range tt.metadata {
					if md[k] != v {
						t.Errorf("%s: metadata = %v, want %v", what, md, tt.metadata)
					}
				}
			}
			check("the error", tt.err)
			// A service's error mapping passes it through, even wrapped.
			check("apierr.FromError", apierr.FromError(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)),
				fmt.Errorf("query: %w", tt.err)))
			// The agent sends it as a google.rpc.Status; the datagateway rebuilds it.
			check("through google.rpc.Status", status.ErrorProto(tt.err.GRPCStatus().Proto()))
		})
	}
}

func TestQueryRefusesBadLimitsAndMissingParams(t *testing.T) {
	t.Parallel()
	src := httpSrc("https://example.com", datagatewayv1.HttpParams_FORMAT_JSON)
	send := func(*datagatewayv1.QueryResponse) error { return errors.New("nothing may be sent") }
	for name, lim := range map[string]Limits{
		"no row limit":  {Timeout: time.Second, BatchRows: 1},
		"no timeout":    {RowLimit: 1, BatchRows: 1},
		"no batch size": {RowLimit: 1, Timeout: time.Second},
	} {
		err := Query(context.Background(), src, "", nil, lim, Options{}, send)
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonInvalidRequest {
			t.Errorf("%s: %v, want an invalid request", name, err)
		}
	}
	err := Query(context.Background(), &datagatewayv1.Source{}, "SELECT 1", nil, limits(1), Options{}, send)
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonInvalidRequest {
		t.Errorf("no params: %v, want an invalid request", err)
	}
	if res := Test(context.Background(), &datagatewayv1.Source{}, Options{}); res.GetOk() || res.GetError() == "" {
		t.Errorf("Test without params = %v", res)
	}
}
