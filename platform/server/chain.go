package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"slices"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/requestid"
	"github.com/oriel-dev/oriel/platform/validation"
)

// chain is the one interceptor chain of every Oriel gRPC server, outermost first. The
// order matters:
//
//  1. request id: first, so every later step, every log line and the client (in the
//     x-request-id header) share one correlation id.
//  2. logging: one line per call with its id, code and duration, including calls refused
//     further down (bad credential, bad input, panics).
//  3. metrics: counts and times every call, refused ones too, by the code clients saw.
//  4. error masking: turns any non-status error from below into the status the client gets
//     (INTERNAL with the correlation id, or CANCELED/DEADLINE_EXCEEDED), so no raw error
//     text can leave the server; below logging and metrics, so they record that code and
//     not the UNKNOWN grpc would make of a bare error.
//  5. panic recovery: below logging and metrics, so a panic is logged and counted as the
//     INTERNAL it becomes, with the correlation id.
//  6. authentication: nothing below runs for an unauthenticated caller.
//  7. validation: after authentication, so anonymous callers cannot probe the rules; before
//     any handler code runs.
func chain(log *slog.Logger, metrics *grpcprom.ServerMetrics, authn auth.Authenticator, v *validation.Validator, svc Service) []grpc.ServerOption {
	selfAuthenticating := svc.SelfAuthenticating
	logger := logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		log.Log(ctx, slog.Level(level), msg, fields...)
	})
	logOpts := []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
	// Quiet methods (introspection, called once for every call of every other service, which
	// logs that call) log their successes at debug level only; their failures as usual.
	quietOpts := append(slices.Clone(logOpts), logging.WithLevels(func(c codes.Code) logging.Level {
		if c == codes.OK {
			return logging.LevelDebug
		}
		return logging.DefaultServerCodeToLevel(c)
	}))
	isQuiet := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return slices.Contains(svc.QuietMethods, c.FullMethod())
	})
	// Health probes arrive every few seconds from load balancers; logging them drowns the rest.
	notHealth := selector.MatchFunc(func(_ context.Context, c interceptors.CallMeta) bool {
		return c.Service != "grpc.health.v1.Health" && !slices.Contains(svc.QuietMethods, c.FullMethod())
	})
	recoveryOpt := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		return apierr.Internal(ctx, log, &recovery.PanicError{Panic: p, Stack: debug.Stack()})
	})
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			unaryRequestID(),
			selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, logOpts...), notHealth),
			selector.UnaryServerInterceptor(logging.UnaryServerInterceptor(logger, quietOpts...), isQuiet),
			metrics.UnaryServerInterceptor(),
			unaryMaskErrors(log),
			recovery.UnaryServerInterceptor(recoveryOpt),
			auth.UnaryServerInterceptor(authn, selfAuthenticating...),
			v.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			streamRequestID(),
			selector.StreamServerInterceptor(logging.StreamServerInterceptor(logger, logOpts...), notHealth),
			selector.StreamServerInterceptor(logging.StreamServerInterceptor(logger, quietOpts...), isQuiet),
			metrics.StreamServerInterceptor(),
			streamMaskErrors(log),
			recovery.StreamServerInterceptor(recoveryOpt),
			auth.StreamServerInterceptor(authn, selfAuthenticating...),
			v.StreamServerInterceptor(),
		),
	}
}

// withRequestID accepts the caller's x-request-id when it is a plausible id (the edge sets
// one per HTTP request), or makes one, and echoes it in the response header.
func withRequestID(ctx context.Context) context.Context {
	var id string
	if v := metadata.ValueFromIncomingContext(ctx, requestid.MetadataKey); len(v) == 1 {
		id = v[0]
	}
	id = requestid.Accept(id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(requestid.MetadataKey, id))
	return requestid.NewContext(ctx, id)
}

func unaryRequestID() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(withRequestID(ctx), req)
	}
}

func streamRequestID() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &contextStream{ServerStream: ss, ctx: withRequestID(ss.Context())})
	}
}

func unaryMaskErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, apierr.FromError(ctx, log, err)
	}
}

func streamMaskErrors(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return apierr.FromError(ss.Context(), log, handler(srv, ss))
	}
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
