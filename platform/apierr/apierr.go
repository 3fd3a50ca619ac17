// Package apierr is Oriel's error model. Every error a client sees is a gRPC status with a
// google.rpc.ErrorInfo (domain "oriel.dev", reason from the ErrorReason enum) and, for bad
// input, a google.rpc.BadRequest naming each field. Each service has one function that
// turns its domain errors into these, ending in FromError, which masks everything it does
// not recognise so that driver and internal error text never reaches a client.
package apierr

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/requestid"
)

// Domain is the ErrorInfo domain of every Oriel error.
const Domain = "oriel.dev"

// ReasonString is how a reason travels in ErrorInfo: its enum name without the prefix.
func ReasonString(r errorsv1.ErrorReason) string {
	return strings.TrimPrefix(r.String(), "ERROR_REASON_")
}

// New returns a status error with code, message and an ErrorInfo carrying reason and
// metadata (alternating keys and values).
func New(code codes.Code, reason errorsv1.ErrorReason, message string, metadata ...string) error {
	return build(code, reason, message, metadata, nil)
}

// FieldViolation names one bad field of a request, by its path in the request message
// (e.g. "tenant.hostnames[0]").
type FieldViolation struct {
	Field       string
	Description string
}

// Invalid returns INVALID_ARGUMENT with a BadRequest listing every violation.
func Invalid(reason errorsv1.ErrorReason, violations ...FieldViolation) error {
	fields := make([]string, 0, len(violations))
	parts := make([]string, 0, len(violations))
	for _, v := range violations {
		fields = append(fields, v.Field)
		parts = append(parts, v.Field+": "+v.Description)
	}
	message := "invalid request: " + strings.Join(parts, "; ")
	return build(codes.InvalidArgument, reason, message, []string{"fields", strings.Join(fields, ",")}, violations)
}

// NotFound says that resource does not exist (or is not the caller's to see).
func NotFound(resource string) error {
	return New(codes.NotFound, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_NOT_FOUND,
		resource+" not found", "resource", resource)
}

// Unavailable says the service cannot answer now and the call may be retried.
func Unavailable(message string) error {
	return New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_UNAVAILABLE, message)
}

func build(code codes.Code, reason errorsv1.ErrorReason, message string, metadata []string, violations []FieldViolation) error {
	st := status.New(code, message)
	info := &errdetails.ErrorInfo{Reason: ReasonString(reason), Domain: Domain}
	if len(metadata) > 0 {
		info.Metadata = make(map[string]string, len(metadata)/2)
		for i := 0; i+1 < len(metadata); i += 2 {
			info.Metadata[metadata[i]] = metadata[i+1]
		}
	}
	details := []protoadapt.MessageV1{info}
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description,
			})
		}
		details = append(details, br)
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		// Only an unmarshalable detail fails here; ours are fixed types.
		return st.Err()
	}
	return withDetails.Err()
}

// FromError is the last case of every service's error mapping. Status errors (built with
// this package) pass through; cancellations and deadlines keep their meaning; anything
// else is an internal error, masked.
func FromError(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	// The status itself, not err: a status wrapped with fmt.Errorf("…: %w") would otherwise
	// carry the wrapping text (perhaps a driver's) into the message.
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) && se.GRPCStatus().Code() != codes.Unknown {
		return se.GRPCStatus().Err()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, errorsv1.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED,
			"the call did not finish within its deadline")
	}
	return Internal(ctx, log, err)
}

// Internal logs err with the request's correlation id and returns an INTERNAL status that
// carries only that id.
func Internal(ctx context.Context, log *slog.Logger, err error) error {
	id := requestid.FromContext(ctx)
	if id == "" {
		id = requestid.New()
	}
	log.ErrorContext(ctx, "internal error", "correlation_id", id, "error", err.Error())
	return New(codes.Internal, errorsv1.ErrorReason_ERROR_REASON_INTERNAL,
		"internal error; quote correlation id "+id+" when reporting it", "correlation_id", id)
}

// Reason returns the ErrorInfo reason of a status error, or "" if it has none.
func Reason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// Violations returns the fields a status error's BadRequest names, in order.
func Violations(err error) []FieldViolation {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []FieldViolation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return out
}
