// Package logging sets up Oriel's structured logs: JSON lines through log/slog, with the
// request id of the request being served added to every line logged with its context.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/oriel-dev/oriel/platform/requestid"
)

// New returns a JSON logger at level ("debug", "info", "warn" or "error").
func New(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}), nil
}

// contextHandler adds the request id from the record's context, so code only has to log
// with InfoContext/ErrorContext to be correlated.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.FromContext(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
