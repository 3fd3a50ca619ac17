package apierr_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/requestid"
	"github.com/oriel-dev/oriel/platform/testkit"
)

// errorInfo returns the ErrorInfo detail of a status error, failing the test without one.
func errorInfo(t *testing.T, err error) *errdetails.ErrorInfo {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v is not a status error", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	t.Fatalf("status %v has no ErrorInfo", st)
	return nil
}

func TestReasonStringDropsTheEnumPrefix(t *testing.T) {
	t.Parallel()
	tests := map[errorsv1.ErrorReason]string{
		errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH:      "ETAG_MISMATCH",
		errorsv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN: "INVALID_PAGE_TOKEN",
		errorsv1.ErrorReason_ERROR_REASON_INTERNAL:           "INTERNAL",
	}
	for reason, want := range tests {
		if got := apierr.ReasonString(reason); got != want {
			t.Errorf("ReasonString(%v) = %q, want %q", reason, got, want)
		}
	}
}

func TestNewBuildsAStatusWithErrorInfo(t *testing.T) {
	t.Parallel()
	err := apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH,
		"the tenant changed since you read it", "resource", "tenants/acme", "etag", "abc")
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition {
		t.Errorf("code = %v, want FailedPrecondition", st.Code())
	}
	if st.Message() != "the tenant changed since you read it" {
		t.Errorf("message = %q", st.Message())
	}
	info := errorInfo(t, err)
	if info.GetDomain() != "oriel.dev" {
		t.Errorf("domain = %q, want oriel.dev", info.GetDomain())
	}
	if info.GetReason() != "ETAG_MISMATCH" {
		t.Errorf("reason = %q, want ETAG_MISMATCH (no ERROR_REASON_ prefix)", info.GetReason())
	}
	if got := info.GetMetadata(); len(got) != 2 || got["resource"] != "tenants/acme" || got["etag"] != "abc" {
		t.Errorf("metadata = %v, want resource and etag", got)
	}
	if got := apierr.Reason(err); got != "ETAG_MISMATCH" {
		t.Errorf("Reason = %q", got)
	}
	if v := apierr.Violations(err); v != nil {
		t.Errorf("Violations = %v, want none", v)
	}
}

func TestNewWithoutMetadataHasNone(t *testing.T) {
	t.Parallel()
	info := errorInfo(t, apierr.New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_NOT_FOUND, "gone"))
	if len(info.GetMetadata()) != 0 {
		t.Errorf("metadata = %v, want none", info.GetMetadata())
	}
}

func TestNewIgnoresAKeyWithoutAValue(t *testing.T) {
	t.Parallel()
	info := errorInfo(t, apierr.New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_NOT_FOUND, "gone", "resource", "tenants/a", "dangling"))
	if got := info.GetMetadata(); len(got) != 1 || got["resource"] != "tenants/a" {
		t.Errorf("metadata = %v, want only resource", got)
	}
}

func TestInvalidListsEveryViolation(t *testing.T) {
	t.Parallel()
	violations := []apierr.FieldViolation{
		{Field: "tenant.display_name", Description: "must be 1 to 200 characters"},
		{Field: "tenant.hostnames[0]", Description: "must be a lowercase DNS name"},
	}
	err := apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Errorf("code = %v, want InvalidArgument", st.Code())
	}
	for _, v := range violations {
		if !strings.Contains(st.Message(), v.Field+": "+v.Description) {
			t.Errorf("message %q does not name %s", st.Message(), v.Field)
		}
	}
	if got := apierr.Reason(err); got != "INVALID_REQUEST" {
		t.Errorf("Reason = %q, want INVALID_REQUEST", got)
	}
	if got := errorInfo(t, err).GetMetadata()["fields"]; got != "tenant.display_name,tenant.hostnames[0]" {
		t.Errorf("metadata fields = %q", got)
	}
	if got := apierr.Violations(err); !slices.Equal(got, violations) {
		t.Errorf("Violations = %v, want %v in order", got, violations)
	}
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			br = b
		}
	}
	if len(br.GetFieldViolations()) != 2 {
		t.Errorf("BadRequest = %v, want two field violations", br)
	}
}

func TestNotFoundAndUnavailable(t *testing.T) {
	t.Parallel()
	nf := apierr.NotFound("tenants/acme")
	if status.Code(nf) != codes.NotFound || apierr.Reason(nf) != "RESOURCE_NOT_FOUND" ||
		errorInfo(t, nf).GetMetadata()["resource"] != "tenants/acme" {
		t.Errorf("NotFound = %v (reason %q)", nf, apierr.Reason(nf))
	}
	un := apierr.Unavailable("try again")
	if status.Code(un) != codes.Unavailable || apierr.Reason(un) != "UNAVAILABLE" {
		t.Errorf("Unavailable = %v (reason %q)", un, apierr.Reason(un))
	}
}

func TestReasonAndViolationsOfOtherErrorsAreEmpty(t *testing.T) {
	t.Parallel()
	for _, err := range []error{nil, errors.New("plain"), status.Error(codes.NotFound, "no details")} {
		if got := apierr.Reason(err); got != "" {
			t.Errorf("Reason(%v) = %q, want empty", err, got)
		}
		if got := apierr.Violations(err); got != nil {
			t.Errorf("Violations(%v) = %v, want nil", err, got)
		}
	}
}

func TestFromErrorPassesStatusErrorsThroughUnchanged(t *testing.T) {
	t.Parallel()
	log, logs := bufferLogger(t)
	for _, err := range []error{
		apierr.NotFound("tenants/acme"),
		apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{Field: "name", Description: "bad"}),
		status.Error(codes.PermissionDenied, "no"),
		status.Error(codes.Internal, "already masked"),
	} {
		if got := apierr.FromError(context.Background(), log, err); !proto.Equal(status.Convert(got).Proto(), status.Convert(err).Proto()) {
			t.Errorf("FromError(%v) = %v, want it unchanged", err, got)
		}
	}
	// A status wrapped with more text passes through as the status alone: the wrapping
	// text (a driver's, perhaps) never reaches the client.
	wrapped := fmt.Errorf(`store: relation "secret_table" does not exist: %w`, apierr.NotFound("tenants/acme"))
	got := status.Convert(apierr.FromError(context.Background(), log, wrapped))
	if got.Code() != codes.NotFound || strings.Contains(got.Message(), "secret_table") || apierr.Reason(got.Err()) != "RESOURCE_NOT_FOUND" {
		t.Errorf("FromError(wrapped NotFound) = %v, want the bare NotFound", got)
	}
	if got := apierr.FromError(context.Background(), log, nil); got != nil {
		t.Errorf("FromError(nil) = %v", got)
	}
	if logs.String() != "" {
		t.Errorf("passing errors through logged:\n%s", logs)
	}
}

func TestFromErrorKeepsCancellationsAndDeadlines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantReason string
	}{
		{name: "canceled", err: context.Canceled, wantCode: codes.Canceled},
		{name: "wrapped canceled", err: fmt.Errorf("load tenant: %w", context.Canceled), wantCode: codes.Canceled},
		{name: "deadline", err: context.DeadlineExceeded, wantCode: codes.DeadlineExceeded, wantReason: "DEADLINE_EXCEEDED"},
		{name: "wrapped deadline", err: fmt.Errorf("query: %w", fmt.Errorf("conn: %w", context.DeadlineExceeded)), wantCode: codes.DeadlineExceeded, wantReason: "DEADLINE_EXCEEDED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := bufferLogger(t)
			got := apierr.FromError(context.Background(), log, tt.err)
			if status.Code(got) != tt.wantCode {
				t.Errorf("code = %v, want %v", status.Code(got), tt.wantCode)
			}
			if apierr.Reason(got) != tt.wantReason {
				t.Errorf("reason = %q, want %q", apierr.Reason(got), tt.wantReason)
			}
			if strings.Contains(status.Convert(got).Message(), "load tenant") || strings.Contains(status.Convert(got).Message(), "conn:") {
				t.Errorf("message %q leaks the wrapping text", status.Convert(got).Message())
			}
			if logs.String() != "" {
				t.Errorf("a cancellation was logged as an internal error:\n%s", logs)
			}
		})
	}
}

func TestFromErrorMasksEverythingElseAsInternal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{name: "plain error", err: errors.New("dial tcp 10.0.0.5:5432: connection refused")},
		{name: "wrapped error", err: fmt.Errorf("store: %w", errors.New("dial tcp 10.0.0.5:5432: connection refused"))},
		// An UNKNOWN status is what grpc makes of any error; its text is not ours.
		{name: "unknown status", err: status.Error(codes.Unknown, "dial tcp 10.0.0.5:5432: connection refused")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, logs := bufferLogger(t)
			ctx := requestid.NewContext(context.Background(), "req-0123456789")
			got := apierr.FromError(ctx, log, tt.err)
			assertMasked(t, got, logs, "req-0123456789", []string{"10.0.0.5", "connection refused", "dial tcp", "store:"})
			if !strings.Contains(logs.String(), "connection refused") {
				t.Errorf("the log lacks the original error:\n%s", logs)
			}
		})
	}
}

func TestInternalMakesACorrelationIDOutsideARequest(t *testing.T) {
	t.Parallel()
	log, logs := bufferLogger(t)
	first := apierr.Internal(context.Background(), log, errors.New("boom"))
	second := apierr.Internal(context.Background(), log, errors.New("boom"))
	id := errorInfo(t, first).GetMetadata()["correlation_id"]
	if id == "" {
		t.Fatal("no correlation_id in ErrorInfo")
	}
	if id == errorInfo(t, second).GetMetadata()["correlation_id"] {
		t.Error("two internal errors share a correlation id")
	}
	if !strings.Contains(status.Convert(first).Message(), id) {
		t.Errorf("message %q lacks the correlation id %s", status.Convert(first).Message(), id)
	}
	if !strings.Contains(logs.String(), `"correlation_id":"`+id+`"`) {
		t.Errorf("log lacks correlation id %s:\n%s", id, logs)
	}
}

// bufferLogger is Oriel's JSON logger writing to a buffer the test can read.
func bufferLogger(t *testing.T) (*slog.Logger, *testkit.LogBuffer) {
	t.Helper()
	buf := &testkit.LogBuffer{}
	log, err := logging.New(buf, "debug")
	if err != nil {
		t.Fatal(err)
	}
	return log, buf
}

// assertMasked checks that err is INTERNAL carrying only the correlation id (wantID, or
// any id when wantID is empty) in its message and ErrorInfo, that none of secrets reaches
// the client, and that the log has the id. It returns the id.
func assertMasked(t *testing.T, err error, logs *testkit.LogBuffer, wantID string, secrets []string) string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Internal {
		t.Fatalf("code = %v (%q), want Internal", st.Code(), st.Message())
	}
	info := errorInfo(t, err)
	if info.GetReason() != "INTERNAL" || info.GetDomain() != "oriel.dev" {
		t.Errorf("ErrorInfo = %v, want reason INTERNAL in domain oriel.dev", info)
	}
	id := info.GetMetadata()["correlation_id"]
	if id == "" || (wantID != "" && id != wantID) {
		t.Errorf("correlation_id = %q, want %q", id, wantID)
	}
	if !strings.Contains(st.Message(), id) {
		t.Errorf("message %q lacks correlation id %q", st.Message(), id)
	}
	clientVisible := st.Message()
	for _, d := range st.Proto().GetDetails() {
		clientVisible += "\n" + string(d.GetValue())
	}
	for _, s := range secrets {
		if strings.Contains(strings.ToLower(clientVisible), strings.ToLower(s)) {
			t.Errorf("the client sees %q:\n%s", s, clientVisible)
		}
	}
	if !strings.Contains(logs.String(), id) {
		t.Errorf("the log lacks correlation id %q:\n%s", id, logs)
	}
	return id
}
