package testkit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

func TestClockStartsAtTheRealTimeAndMovesOnlyWhenAdvanced(t *testing.T) {
	t.Parallel()
	var c Clock
	before := time.Now()
	now := c.Now()
	if now.Before(before) || now.After(time.Now()) {
		t.Fatalf("a new clock reads %v, want the real time (about %v)", now, before)
	}

	const advances = 50
	var wg sync.WaitGroup
	for range advances {
		wg.Go(func() {
			c.Advance(time.Hour)
			_ = c.Now()
		})
	}
	wg.Wait()
	want := time.Now().Add(advances * time.Hour)
	if got := c.Now(); got.Before(want.Add(-time.Minute)) || got.After(want.Add(time.Minute)) {
		t.Fatalf("after %d concurrent one-hour advances the clock reads %v, want about %v", advances, got, want)
	}
}

func TestLogBufferKeepsEveryConcurrentWrite(t *testing.T) {
	t.Parallel()
	var b LogBuffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			fmt.Fprintf(&b, "line %d\n", i)
			_ = b.String()
		})
	}
	wg.Wait()
	for i := range 20 {
		if !strings.Contains(b.String(), fmt.Sprintf("line %d\n", i)) {
			t.Fatalf("line %d is missing from:\n%s", i, b.String())
		}
	}
	b.Reset()
	if got := b.String(); got != "" {
		t.Fatalf("after Reset the buffer holds %q", got)
	}
}

func TestPrincipalsAuthenticateOnlyWhatWasRegistered(t *testing.T) {
	t.Parallel()
	var ps Principals
	alice := &auth.Principal{Kind: auth.KindServiceAccount, ID: "serviceAccounts/alice"}
	bob := &auth.Principal{Kind: auth.KindServiceAccount, ID: "serviceAccounts/bob"}
	first, second := ps.Issue(alice), ps.Issue(alice)
	ps.Register("fixed-key", alice)
	ps.Register("fixed-key", bob) // replaces alice

	tests := []struct {
		name       string
		credential string
		want       *auth.Principal
	}{
		{"an issued credential", first, alice},
		{"a second credential for the same principal", second, alice},
		{"a registered credential, as last registered", "fixed-key", bob},
		{"an unknown credential", "test_unknown", nil},
		{"no credential", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ps.Authenticate(t.Context(), tc.credential)
			if tc.want == nil {
				if !errors.Is(err, auth.ErrInvalidCredential) || got != nil {
					t.Fatalf("Authenticate = %v, %v; want auth.ErrInvalidCredential", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Authenticate = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if first == second {
		t.Fatalf("Issue returned %q twice; every caller needs a credential of its own", first)
	}
}

// noteMigrations are one migration per dialect, without IF NOT EXISTS, so applying it
// twice fails loudly.
var noteMigrations = sqlstore.Migrations{FS: fstest.MapFS{
	"postgres/00001_notes.sql": {Data: []byte("-- +goose Up\nCREATE TABLE notes (id TEXT PRIMARY KEY);\n")},
	"sqlite/00001_notes.sql":   {Data: []byte("-- +goose Up\nCREATE TABLE notes (id TEXT PRIMARY KEY);\n")},
}}

func TestSQLDatabasesGiveAFreshDatabaseOfEachKind(t *testing.T) {
	t.Parallel()
	kinds := map[string]sqlstore.Dialect{"postgres": sqlstore.Postgres, "sqlite": sqlstore.SQLite}
	var names []string
	for _, d := range SQLDatabases() {
		names = append(names, d.Name)
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			first, second := d.OpenAtHead(t, "notes", noteMigrations), d.OpenAtHead(t, "notes", noteMigrations)
			if got := first.Dialect(); got != kinds[d.Name] {
				t.Fatalf("database %q has dialect %v", d.Name, got)
			}
			if _, err := first.Exec(t.Context(), "INSERT INTO notes (id) VALUES ('a')"); err != nil {
				t.Fatalf("insert into a migrated database: %v", err)
			}
			var n int
			if err := second.QueryRow(t.Context(), "SELECT count(*) FROM notes").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("a second database sees %d rows written to the first", n)
			}
		})
	}
	if strings.Join(names, ",") != "postgres,sqlite" {
		t.Fatalf("SQLDatabases = %v, want postgres and sqlite", names)
	}
}

func TestRequireMigrationsReachHeadPassesGoodMigrations(t *testing.T) {
	t.Parallel()
	RequireMigrationsReachHead(t, "notes", noteMigrations)
}

func TestRequireHelpersFailOnlyOnADifference(t *testing.T) {
	t.Parallel()
	errGone := errors.New("gone")
	tests := []struct {
		name     string
		pass     func(testing.TB)
		fail     func(testing.TB)
		wantText string
	}{
		{"RequireProto",
			func(t testing.TB) {
				RequireProto(t, "timeout", durationpb.New(time.Second), durationpb.New(time.Second))
			},
			func(t testing.TB) {
				RequireProto(t, "timeout", durationpb.New(time.Second), durationpb.New(time.Minute))
			},
			"seconds:60"},
		{"RequireErrorIs",
			func(t testing.TB) { RequireErrorIs(t, "get", fmt.Errorf("wrapped: %w", errGone), errGone) },
			func(t testing.TB) { RequireErrorIs(t, "get", errors.New("other"), errGone) },
			"get: error = other, want gone"},
		{"RequireNoError",
			func(t testing.TB) { RequireNoError(t, "create", nil) },
			func(t testing.TB) { RequireNoError(t, "create", errGone) },
			"create: gone"},
		{"RequireEqual",
			func(t testing.TB) { RequireEqual(t, "count", 3, 3) },
			func(t testing.TB) { RequireEqual(t, "count", 3, 4) },
			"count = 4, want 3"},
		{"RequireStrings",
			func(t testing.TB) { RequireStrings(t, "ids", []string{"a", "b"}, []string{"a", "b"}) },
			func(t testing.TB) { RequireStrings(t, "ids", []string{"a", "b"}, []string{"b", "a"}) },
			`ids = ["b" "a"], want ["a" "b"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pass(t)
			msg, _ := runExpectingFatal(t, tc.fail)
			if !strings.Contains(strings.Join(strings.Fields(msg), ""), strings.Join(strings.Fields(tc.wantText), "")) {
				t.Fatalf("failure message %q does not say %q", msg, tc.wantText)
			}
		})
	}
}

func TestResourceIDIsTheLastSegmentOfAName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"tenants/acme/apps/sales": "sales",
		"serviceAccounts/isv":     "isv",
		"acme":                    "acme",
	} {
		if got := ResourceID(name); got != want {
			t.Errorf("ResourceID(%q) = %q, want %q", name, got, want)
		}
	}
}
