package requestid_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/oriel-dev/oriel/platform/requestid"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewMakesUniqueTimeOrderedIDs(t *testing.T) {
	t.Parallel()
	prev := ""
	seen := map[string]bool{}
	for range 1000 {
		id := requestid.New()
		if !uuidV7.MatchString(id) {
			t.Fatalf("New() = %q, want a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("New() = %q after %q: ids must sort by time", id, prev)
		}
		prev = id
	}
}

func TestAccept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		keep bool
	}{
		{name: "uuid", id: "0190f5e2-7b3c-7c1e-9a4b-0a1b2c3d4e5f", keep: true},
		{name: "edge id with dots and underscores", id: "edge_req.2024-01-01.abc", keep: true},
		{name: "exactly 8 characters", id: "abcd1234", keep: true},
		{name: "exactly 64 characters", id: strings.Repeat("a", 64), keep: true},
		{name: "empty", id: ""},
		{name: "7 characters", id: "abc1234"},
		{name: "65 characters", id: strings.Repeat("a", 65)},
		{name: "space", id: "request 12345678"},
		{name: "newline (log injection)", id: "abcdefgh\n{\"level\":\"ERROR\"}"},
		{name: "carriage return", id: "abcdefgh\r"},
		{name: "tab", id: "abcd\tefgh"},
		{name: "NUL", id: "abcdefgh\x00"},
		{name: "quote", id: `abcdefgh"`},
		{name: "non-ASCII", id: "réquest-12345678"},
		{name: "slash", id: "../../etc/passwd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := requestid.Accept(tt.id)
			if tt.keep {
				if got != tt.id {
					t.Errorf("Accept(%q) = %q, want it kept", tt.id, got)
				}
				return
			}
			if got == tt.id {
				t.Fatalf("Accept(%q) kept an implausible id", tt.id)
			}
			if !uuidV7.MatchString(got) {
				t.Errorf("Accept(%q) = %q, want a fresh id", tt.id, got)
			}
		})
	}
}

func TestContextCarriesTheID(t *testing.T) {
	t.Parallel()
	if got := requestid.FromContext(context.Background()); got != "" {
		t.Errorf("FromContext outside a request = %q, want empty", got)
	}
	ctx := requestid.NewContext(context.Background(), "req-12345678")
	if got := requestid.FromContext(ctx); got != "req-12345678" {
		t.Errorf("FromContext = %q", got)
	}
	inner := requestid.NewContext(ctx, "req-inner-1234")
	if requestid.FromContext(inner) != "req-inner-1234" || requestid.FromContext(ctx) != "req-12345678" {
		t.Error("NewContext does not shadow the outer id without changing it")
	}
	if requestid.MetadataKey != "x-request-id" {
		t.Errorf("MetadataKey = %q", requestid.MetadataKey)
	}
}
