package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/oriel-dev/oriel/platform/requestid"
)

// accessRecord is what the access log line says of a request beyond what the outermost
// handler sees: the tenant and credential, learnt deeper in the chain.
type accessRecord struct {
	mu         sync.Mutex
	tenant     string
	credential string
}

type accessRecordKey struct{}

// noteCaller records who a request is for the access log. Credential is the
// credential's name (Principal.Credential), never its secret.
func noteCaller(ctx context.Context, tenant, credential string) {
	if rec, ok := ctx.Value(accessRecordKey{}).(*accessRecord); ok {
		rec.mu.Lock()
		rec.tenant, rec.credential = tenant, credential
		rec.mu.Unlock()
	}
}

// accessLogged gives every request an id (X-Request-Id, and x-request-id to the
// services) and logs one line when it is answered: id, method, path (never the query,
// which may carry a page token or a filter with personal data), tenant, credential name,
// status, duration and response bytes. Probes are not logged.
func (g *Gateway) accessLogged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestid.New()
		w.Header().Set("X-Request-Id", id)
		rec := &accessRecord{}
		ctx := context.WithValue(requestid.NewContext(r.Context(), id), accessRecordKey{}, rec)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		rec.mu.Lock()
		tenant, credential := rec.tenant, rec.credential
		rec.mu.Unlock()
		// The logger adds request_id from ctx (platform/logging), as on every line.
		g.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("tenant", tenant),
			slog.String("credential", credential),
			slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", sw.bytes),
		)
	})
}

// statusWriter remembers the status and counts the bytes of a response. It flushes, as
// streams need.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush sends what was written so far.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
