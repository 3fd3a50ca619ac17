package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/platform/logging"
	"github.com/oriel-dev/oriel/platform/requestid"
)

func TestNewRejectsUnknownLevels(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"", "verbose", "trace", "fatal", "information"} {
		if _, err := logging.New(&bytes.Buffer{}, level); err == nil {
			t.Errorf("New(%q) succeeded", level)
		}
	}
}

func TestNewHonoursTheLevel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level string
		want  []string // messages that get through, of debug/info/warn/error
	}{
		{"debug", []string{"debug", "info", "warn", "error"}},
		{"info", []string{"info", "warn", "error"}},
		{"warn", []string{"warn", "error"}},
		{"error", []string{"error"}},
		{"WARN", []string{"warn", "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, err := logging.New(&buf, tt.level)
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("debug")
			log.Info("info")
			log.Warn("warn")
			log.Error("error")
			var got []string
			for _, rec := range records(t, &buf) {
				got = append(got, rec["msg"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLinesAreJSONWithTheRequestID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.New(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := requestid.NewContext(context.Background(), "req-12345678")
	log.InfoContext(ctx, "in a request", "tenant", "acme")
	log.Info("outside a request")
	log.With("service", "tenant").WarnContext(ctx, "with attrs")
	log.WithGroup("call").ErrorContext(ctx, "in a group", "code", "Internal")

	recs := records(t, &buf)
	if len(recs) != 4 {
		t.Fatalf("got %d lines, want 4", len(recs))
	}
	if recs[0]["request_id"] != "req-12345678" || recs[0]["tenant"] != "acme" || recs[0]["level"] != "INFO" {
		t.Errorf("line 1 = %v, want request_id, tenant and level", recs[0])
	}
	if _, ok := recs[1]["request_id"]; ok {
		t.Errorf("line 2 = %v, has a request_id outside a request", recs[1])
	}
	if recs[2]["request_id"] != "req-12345678" || recs[2]["service"] != "tenant" {
		t.Errorf("line 3 = %v, want request_id and service", recs[2])
	}
	// In a group the id lands in the group, as every attribute of the record does.
	group, _ := recs[3]["call"].(map[string]any)
	if group["request_id"] != "req-12345678" && recs[3]["request_id"] != "req-12345678" {
		t.Errorf("line 4 = %v, lost the request id", recs[3])
	}
}

func TestRequestIDCannotBreakTheJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := logging.New(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	ctx := requestid.NewContext(context.Background(), "x\n{\"level\":\"ERROR\",\"msg\":\"forged\"}")
	log.InfoContext(ctx, "hello")
	recs := records(t, &buf)
	if len(recs) != 1 || recs[0]["msg"] != "hello" {
		t.Errorf("got %v, want one line", recs)
	}
}

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}
