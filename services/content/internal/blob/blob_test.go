package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestDirPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, "acme/sales/r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a missing blob: %v, want ErrNotFound", err)
	}
	want := bytes.Repeat([]byte("snapshot"), 1000)
	n, err := d.Put(ctx, "acme/sales/r1", bytes.NewReader(want))
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Put: %d, %v", n, err)
	}
	r, err := d.Open(ctx, "acme/sales/r1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, want) {
		t.Fatal("read back different bytes")
	}
	if err := d.Delete(ctx, "acme/sales/r1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "acme/sales/r1"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := d.Open(ctx, "acme/sales/r1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
}

// A Put that fails midway leaves nothing a reader could open, and no temporary file.
func TestDirPutFailureLeavesNoBlob(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, _ := NewDir(root)
	broken := io.MultiReader(strings.NewReader("half"), errReader{})
	if _, err := d.Put(ctx, "acme/sales/r2", broken); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if _, err := d.Open(ctx, "acme/sales/r2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed Put left a blob: %v", err)
	}
	entries, _ := os.ReadDir(root + "/acme/sales")
	if len(entries) != 0 {
		t.Fatalf("a failed Put left %d files behind", len(entries))
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Put(cancelled, "acme/sales/r3", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
}

// Keys cannot name a file outside the store.
func TestDirRefusesEscapingKeys(t *testing.T) {
	d, _ := NewDir(t.TempDir())
	for _, key := range []string{"../x", "a/../../x", "/etc/passwd", "", "A/b", "a//b", "a/./b", ".hidden"} {
		if _, err := d.Put(context.Background(), key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if _, err := d.Open(context.Background(), key); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q): %v, want an invalid-key error", key, err)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }
