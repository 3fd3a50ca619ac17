package source

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
)

// Reason classifies an Error.
type Reason int

const (
	// ReasonSourceError: the source refused or failed the request (unreachable, bad
	// credentials, a statement error, a misbehaving http source).
	ReasonSourceError Reason = iota + 1
	// ReasonReadOnly: the statement tried to write.
	ReasonReadOnly
	// ReasonTimeout: the query ran past Limits.Timeout.
	ReasonTimeout
	// ReasonInvalidRequest: the statement or the limits cannot be run as given.
	ReasonInvalidRequest
)

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonSourceError:
		return "source error"
	case ReasonReadOnly:
		return "read-only"
	case ReasonTimeout:
		return "timeout"
	case ReasonInvalidRequest:
		return "invalid request"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is a failure of a source, in words fit for the tenant admin. It never holds driver
// error text verbatim, so it cannot carry a DSN or a password; it converts itself to a
// gRPC status (GRPCStatus), so callers return it as is and the agent sends
// GRPCStatus().Proto() as a google.rpc.Status.
type Error struct {
	// Reason classifies the failure.
	Reason Reason
	// Message says what went wrong, without credentials.
	Message string
	// SQLState is the SQLSTATE the source reported, when it did.
	SQLState string
	// Unreachable is set when the source could not be reached at all (dial, DNS, TLS
	// handshake), which a retry may cure: the status is UNAVAILABLE.
	Unreachable bool
	// Connection is the connection's resource name, when the caller sets it; it goes
	// into the ErrorInfo metadata.
	Connection string
	// Timeout is the limit that ran out, for ReasonTimeout.
	Timeout time.Duration
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// GRPCStatus is the status a client sees: SOURCE_ERROR as FAILED_PRECONDITION (or
// UNAVAILABLE when unreachable), READ_ONLY as FAILED_PRECONDITION, a timeout as
// DEADLINE_EXCEEDED and an invalid request as INVALID_ARGUMENT, each with an ErrorInfo.
func (e *Error) GRPCStatus() *status.Status {
	var md []string
	if e.Connection != "" {
		md = append(md, "connection", e.Connection)
	}
	if e.SQLState != "" {
		md = append(md, "sqlstate", e.SQLState)
	}
	code := codes.FailedPrecondition
	reason := errorsv1.ErrorReason_ERROR_REASON_SOURCE_ERROR
	switch e.Reason {
	case ReasonReadOnly:
		reason = errorsv1.ErrorReason_ERROR_REASON_READ_ONLY
	case ReasonTimeout:
		code = codes.DeadlineExceeded
		reason = errorsv1.ErrorReason_ERROR_REASON_DEADLINE_EXCEEDED
		if e.Timeout > 0 {
			md = append(md, "timeout", e.Timeout.String())
		}
	case ReasonInvalidRequest:
		code = codes.InvalidArgument
		reason = errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST
	default:
		if e.Unreachable {
			code = codes.Unavailable
		}
	}
	return status.Convert(apierr.New(code, reason, e.Message, md...))
}

// sourceErr is a SOURCE_ERROR with a formatted message.
func sourceErr(format string, args ...any) *Error {
	return &Error{Reason: ReasonSourceError, Message: fmt.Sprintf(format, args...)}
}

// invalid is an INVALID_REQUEST with a formatted message.
func invalid(format string, args ...any) *Error {
	return &Error{Reason: ReasonInvalidRequest, Message: fmt.Sprintf(format, args...)}
}

// timeoutErr says the query ran past its limit.
func timeoutErr(d time.Duration) *Error {
	return &Error{Reason: ReasonTimeout, Timeout: d,
		Message: fmt.Sprintf("the query did not finish within its time limit of %s", d)}
}

// errQueryTimeout is the cause of a query context whose time limit ran out, so that it can
// be told apart from the caller cancelling or its own deadline.
var errQueryTimeout = errors.New("source: query time limit reached")

// withLimit derives the context a query runs in.
func withLimit(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, errQueryTimeout)
}

// interrupted returns the error to report when qctx ended: a timeout Error when the
// query's own limit ran out, otherwise the caller's context error. It returns nil while
// qctx is live.
func interrupted(qctx context.Context, lim Limits) error {
	if qctx.Err() == nil {
		return nil
	}
	if context.Cause(qctx) == errQueryTimeout {
		return timeoutErr(lim.Timeout)
	}
	return qctx.Err()
}

// dialProblem describes why a network connection failed, in a few words and without the
// error's own text (which may name a DSN), and whether a retry might succeed. It returns
// "" for errors that are not about the network.
func dialProblem(err error) (problem string, transient bool) {
	var dnsErr *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var refused *privateAddressError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return refused.Error(), false
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("host %q not found", dnsErr.Name), true
		}
		return fmt.Sprintf("cannot resolve host %q", dnsErr.Name), true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host", true
	case errors.As(err, &unknownAuthority):
		return "its TLS certificate is not signed by a trusted authority", false
	case errors.As(err, &hostname):
		return "its TLS certificate does not match the host name", false
	case errors.As(err, &invalidCert):
		return "its TLS certificate is not valid", false
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "connection timed out", true
	}
	return "", false
}
