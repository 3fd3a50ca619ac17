package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

func TestTheCredentialFileIsOwnerOnlyAndRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "oriel-agent.credential")
	if _, err := loadCredential(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("loading a missing file = %v, want fs.ErrNotExist (which means: enroll)", err)
	}
	want := credential{Agent: "tenants/acme/agents/a", Credential: "oriel_ac_secret"}
	if err := saveCredential(path, want); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
	got, err := loadCredential(path)
	if err != nil || got != want {
		t.Fatalf("loaded %+v, %v; want %+v", got, err, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("%d files in the directory, want only the credential file (no temporary left)", len(entries))
	}
}

func TestABrokenCredentialFileIsReportedWithoutItsContent(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"not JSON", `oriel_ac_leaky-secret`},
		{"no credential", `{"agent": "tenants/acme/agents/a"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadCredential(path)
			if err == nil || !strings.Contains(err.Error(), "enroll again") {
				t.Fatalf("err = %v, want advice to enroll again", err)
			}
			if strings.Contains(err.Error(), "leaky-secret") {
				t.Fatal("the error quotes the file's content")
			}
		})
	}
}

func TestConfigIsValidatedAndCompleted(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"no server", Config{}, "--server"},
		{"insecure with TLS settings", Config{Server: "h:1", Insecure: true, TLSCAFile: "ca.pem"}, "--insecure"},
		{"backoff bounds reversed", Config{Server: "h:1", BackoffMin: time.Minute, BackoffMax: time.Second}, "backoff"},
		{"minimal", Config{Server: "h:1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.complete()
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one naming %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.CredentialFile != DefaultCredentialFile || got.MaxConcurrentQueries != DefaultMaxConcurrentQueries ||
				got.BackoffMin != DefaultBackoffMin || got.BackoffMax != DefaultBackoffMax || got.Log == nil || got.Version == "" {
				t.Fatalf("defaults not filled in: %+v", got)
			}
		})
	}
}

func TestAMissingCredentialWithoutATokenSaysWhatToDo(t *testing.T) {
	err := Run(t.Context(), Config{Server: "127.0.0.1:1", Insecure: true, CredentialFile: filepath.Join(t.TempDir(), "none")})
	if err == nil || !strings.Contains(err.Error(), "--enrollment-token") {
		t.Fatalf("Run = %v, want advice to pass an enrollment token", err)
	}
}

func TestSplitBatchKeepsEveryRowInOrder(t *testing.T) {
	b := &datagatewayv1.RowBatch{RowCount: 5, Columns: []*datagatewayv1.ColumnValues{
		{Int64Values: []int64{1, 2, 3, 4, 5}},
		{Nulls: []bool{false, true, false, false, true}, StringValues: []string{"a", "", "c", "d", ""}},
		{Float64Values: []float64{.1, .2, .3, .4, .5}},
		{BoolValues: []bool{true, false, true, false, true}},
		{BytesValues: [][]byte{{1}, {2}, {3}, {4}, {5}}},
	}}
	first, second := splitBatch(b)
	if first.GetRowCount() != 2 || second.GetRowCount() != 3 {
		t.Fatalf("rows %d + %d, want 2 + 3", first.GetRowCount(), second.GetRowCount())
	}
	for i, c := range b.GetColumns() {
		joined := &datagatewayv1.ColumnValues{
			Nulls:         append(append([]bool(nil), first.Columns[i].GetNulls()...), second.Columns[i].GetNulls()...),
			BoolValues:    append(append([]bool(nil), first.Columns[i].GetBoolValues()...), second.Columns[i].GetBoolValues()...),
			Int64Values:   append(append([]int64(nil), first.Columns[i].GetInt64Values()...), second.Columns[i].GetInt64Values()...),
			Float64Values: append(append([]float64(nil), first.Columns[i].GetFloat64Values()...), second.Columns[i].GetFloat64Values()...),
			StringValues:  append(append([]string(nil), first.Columns[i].GetStringValues()...), second.Columns[i].GetStringValues()...),
			BytesValues:   append(append([][]byte(nil), first.Columns[i].GetBytesValues()...), second.Columns[i].GetBytesValues()...),
		}
		if !proto.Equal(joined, c) {
			t.Fatalf("column %d: halves join to %v, want %v", i, joined, c)
		}
	}
}

func TestSizeBoundIsAtLeastTheEncodedSize(t *testing.T) {
	b := &datagatewayv1.RowBatch{RowCount: 3, Columns: []*datagatewayv1.ColumnValues{
		{Int64Values: []int64{-1, 1 << 62, 0}},
		{Nulls: []bool{false, true, false}, StringValues: []string{strings.Repeat("x", 300), "", "é"}},
		{Float64Values: []float64{1, 2, 3}},
		{BytesValues: [][]byte{make([]byte, 200), nil, {1}}},
	}}
	const id = "q1z"
	m := queryEvent(id, &datagatewayv1.QueryResponse{Result: &datagatewayv1.QueryResponse_Batch{Batch: b}})
	if bound, size := sizeBound(id, b), proto.Size(m); bound < size {
		t.Fatalf("bound %d < encoded size %d", bound, size)
	}
}

func TestCreditBlocksUntilGranted(t *testing.T) {
	c := credit{wake: make(chan struct{}, 1)}
	c.add(1)
	if err := c.take(t.Context()); err != nil {
		t.Fatal(err)
	}
	took := make(chan error, 1)
	go func() { took <- c.take(t.Context()) }()
	select {
	case err := <-took:
		t.Fatalf("took a batch without credit (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.add(1)
	if err := <-took; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	go func() { took <- c.take(ctx) }()
	cancel()
	if err := <-took; !errors.Is(err, context.Canceled) {
		t.Fatalf("take after cancel = %v, want context.Canceled", err)
	}
}
