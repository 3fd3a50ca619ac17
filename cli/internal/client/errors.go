package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// APIError is a failed call as the edge described it. Callers branch on Reason (the
// ErrorReason of the google.rpc.ErrorInfo detail), never on Message.
type APIError struct {
	// HTTPStatus is the response's status code, e.g. 409.
	HTTPStatus int
	// Status is the gRPC status name, e.g. "ABORTED"; empty when the body was not the
	// edge's error JSON (a proxy's error page, for instance).
	Status string
	// Message is the developer-facing message, or the start of a non-JSON body.
	Message string
	// Reason is the ErrorInfo reason, e.g. "ETAG_MISMATCH"; empty when there is none.
	Reason string
	// Domain is the ErrorInfo domain, "oriel.dev" for Oriel's own errors.
	Domain string
	// Metadata is the ErrorInfo metadata, e.g. {"resource": "tenants/acme"}.
	Metadata map[string]string
	// FieldViolations are the BadRequest detail's entries, in the order the server gave.
	FieldViolations []FieldViolation
	// RequestID is the edge's X-Request-Id, the correlation id in the server's logs.
	RequestID string
}

// FieldViolation names one bad field of a request by its path in the request message,
// e.g. "tenant.hostnames[0]".
type FieldViolation struct {
	// Field is the path of the field in the request.
	Field string
	// Description says what is wrong with it.
	Description string
}

// Error reads "<message> (<STATUS>, <REASON>)", or "(HTTP <code>)" when the body said
// neither, so that a log line alone tells what to branch on.
func (e *APIError) Error() string {
	var tags []string
	for _, s := range []string{e.Status, e.Reason} {
		if s != "" {
			tags = append(tags, s)
		}
	}
	if len(tags) == 0 {
		tags = append(tags, fmt.Sprintf("HTTP %d", e.HTTPStatus))
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.HTTPStatus)
	}
	return msg + " (" + strings.Join(tags, ", ") + ")"
}

// maxErrorBodyChars bounds how much of a non-JSON error body ends up in a message: enough
// to recognise a proxy's page, not enough to flood a terminal.
const maxErrorBodyChars = 200

// errorBody is the edge's error document. The details stay raw so that one unknown detail
// type cannot make the whole error unreadable.
type errorBody struct {
	Error *struct {
		Code    int               `json:"code"`
		Status  string            `json:"status"`
		Message string            `json:"message"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

// parseError turns a non-2xx response body into an APIError. It never fails: whatever
// the body holds, the caller gets the HTTP status and something readable.
func parseError(httpStatus int, requestID string, body []byte) *APIError {
	e := &APIError{HTTPStatus: httpStatus, RequestID: requestID}
	var doc errorBody
	if err := json.Unmarshal(body, &doc); err != nil || doc.Error == nil {
		e.Message = truncate(body)
		return e
	}
	e.Status, e.Message = doc.Error.Status, doc.Error.Message
	if e.Status == "" && doc.Error.Code > 0 && doc.Error.Code <= int(code.Code_UNAUTHENTICATED) {
		// A streaming call's errors are grpc-gateway's stream error objects: a
		// google.rpc.Status, whose code is the gRPC code's number and which names no status.
		e.Status = code.Code(doc.Error.Code).String()
	}
	for _, raw := range doc.Error.Details {
		var detail anypb.Any
		// Detail types this binary does not know are skipped, not fatal.
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &detail); err != nil {
			continue
		}
		msg, err := detail.UnmarshalNew()
		if err != nil {
			continue
		}
		switch d := msg.(type) {
		case *errdetails.ErrorInfo:
			e.Reason, e.Domain, e.Metadata = d.GetReason(), d.GetDomain(), d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.FieldViolations = append(e.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return e
}

// truncate makes a body printable on one line: whitespace collapsed, invalid UTF-8
// dropped, at most maxErrorBodyChars characters.
func truncate(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "")), " ")
	if utf8.RuneCountInString(s) <= maxErrorBodyChars {
		return s
	}
	r := []rune(s)
	return string(r[:maxErrorBodyChars]) + "…"
}

// httpStatusOf is the HTTP status the edge answers a gRPC status (by name) with, for
// errors that arrive inside a response that already went out as 200 OK.
func httpStatusOf(status string) int {
	switch status {
	case "CANCELLED":
		return 499
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return http.StatusBadRequest
	case "DEADLINE_EXCEEDED":
		return http.StatusGatewayTimeout
	case "NOT_FOUND":
		return http.StatusNotFound
	case "ALREADY_EXISTS", "ABORTED":
		return http.StatusConflict
	case "PERMISSION_DENIED":
		return http.StatusForbidden
	case "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "RESOURCE_EXHAUSTED":
		return http.StatusTooManyRequests
	case "UNIMPLEMENTED":
		return http.StatusNotImplemented
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
