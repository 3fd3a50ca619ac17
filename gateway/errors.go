package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// writeError is the edge's one error writer: the gRPC status becomes
// {"error": {"code", "status", "message", "details"}} with the matching HTTP status, the
// details (ErrorInfo with its reason, BadRequest, …) carried over as they are.
// httpStatus 0 means the status that matches the gRPC code.
func writeError(w http.ResponseWriter, m runtime.Marshaler, st *status.Status, httpStatus int) {
	if httpStatus == 0 {
		httpStatus = runtime.HTTPStatusFromCode(st.Code())
	}
	body := &errorsv1.ErrorResponse{Error: &errorsv1.Error{
		Code:    int32(httpStatus),
		Status:  codeName(st.Code()),
		Message: st.Message(),
	}}
	for _, d := range st.Proto().GetDetails() {
		body.Error.Details = append(body.Error.Details, &anypb.Any{TypeUrl: d.GetTypeUrl(), Value: d.GetValue()})
	}
	buf, err := m.Marshal(body)
	if err != nil {
		// Only an unresolvable detail type gets here; say what we can without it.
		body.Error.Details = nil
		buf, _ = m.Marshal(body)
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	if st.Code() == codes.Unauthenticated {
		h.Set("WWW-Authenticate", `Bearer realm="oriel"`)
	}
	w.WriteHeader(httpStatus)
	_, _ = w.Write(buf)
}

// codeName is the canonical upper-case name of a gRPC code, e.g. "INVALID_ARGUMENT".
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return "UNKNOWN"
}

// errorHandler writes errors of calls the edge forwarded. Errors the gateway library
// itself raises while decoding a request (bad JSON, a bad path or query value) carry no
// ErrorInfo; they get INVALID_REQUEST so clients can always branch on a reason.
func errorHandler(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
		writeError(w, m, edgeStatus(ctx, log, err), 0)
	}
}

// streamErrorHandler gives a stream's errors the same statuses and reasons as a call's.
// grpc-gateway writes an error that ends a stream as one more line of the response,
// `{"error": <google.rpc.Status>}` (code: the gRPC code's number), or, before the first
// message, as the response itself with the matching HTTP status.
func streamErrorHandler(log *slog.Logger) runtime.StreamErrorHandlerFunc {
	return func(ctx context.Context, err error) *status.Status {
		return edgeStatus(ctx, log, err)
	}
}

// edgeStatus is the status the edge answers an error with: the service's own when it
// carries a reason, else one with a reason a client can branch on, never the text of a
// bare internal error.
func edgeStatus(ctx context.Context, log *slog.Logger, err error) *status.Status {
	st := status.Convert(err)
	if apierr.Reason(err) != "" {
		return st
	}
	switch st.Code() {
	case codes.InvalidArgument:
		st = status.Convert(apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, st.Message()))
	case codes.Unavailable:
		st = status.Convert(apierr.Unavailable("the service is unavailable; retry with backoff"))
	case codes.Unknown, codes.Internal:
		// A backend answered with a bare error (or gRPC failed internally): its text
		// may be anything, so it stays in the log, under the id the client gets.
		st = status.Convert(apierr.Internal(ctx, log, err))
	case codes.DeadlineExceeded:
		st = status.Convert(apierr.New(codes.DeadlineExceeded, errorsv1.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED,
			"the call did not finish within its deadline"))
	}
	return st
}

// routingErrorHandler writes 404 and 405 in the same shape.
func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	var err error
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		err = apierr.New(codes.Unimplemented, errorsv1.ErrorReason_ERROR_REASON_ROUTE_NOT_FOUND,
			"method "+r.Method+" is not allowed on "+r.URL.Path, "method", r.Method, "path", r.URL.Path)
	case http.StatusNotFound:
		err = apierr.New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_ROUTE_NOT_FOUND,
			"no route for "+r.Method+" "+r.URL.Path, "method", r.Method, "path", r.URL.Path)
	default:
		err = apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			"malformed request path "+r.URL.Path)
	}
	writeError(w, m, status.Convert(err), httpStatus)
}
