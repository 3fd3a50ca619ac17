// Package blob keeps app snapshots: immutable, named byte streams written once by a
// reload and read by every content replica that serves the app. Dir keeps them on a local
// (or shared, e.g. NFS or a mounted volume) disk; an object store implements the same
// interface.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrNotFound says no blob has the key.
var ErrNotFound = errors.New("blob not found")

// Store keeps blobs by key.
type Store interface {
	// Put writes a blob from r under key. Readers never see a partial blob: a Put that
	// fails or is interrupted leaves no blob behind, and a blob once written is durable.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads a blob; ErrNotFound when there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
	// Walk calls fn with every blob's key and the time it was written, in no order.
	Walk(ctx context.Context, fn func(key string, written time.Time) error) error
	// RemoveAbandoned deletes what puts a crash interrupted and last wrote before
	// `before`, and returns how many. A put in progress keeps writing, so one that has
	// written nothing since `before` is dead.
	RemoveAbandoned(ctx context.Context, before time.Time) (int, error)
}

// keyPattern is what a key may be: path segments of safe characters, so a key can never
// climb out of the store's directory.
var keyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}(/[a-z0-9][a-z0-9._-]{0,127}){0,7}$`)

// tempPrefix starts the name of a put's temporary file, which keyPattern never matches.
const tempPrefix = ".put-"

// Dir is a Store in a directory.
type Dir struct{ root string }

// NewDir returns a store in root, creating it if needed (0700: snapshots hold tenants'
// data).
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("the snapshot directory is empty")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot directory: %w", err)
	}
	return &Dir{root: root}, nil
}

func (d *Dir) path(key string) (string, error) {
	if !keyPattern.MatchString(key) {
		return "", fmt.Errorf("invalid blob key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes to a temporary file beside the blob, syncs it and renames it into place,
// then syncs the directory: a crash leaves either no blob or the whole one.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return 0, err
	}
	done := false
	defer func() {
		if !done {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, contextReader{ctx, r})
	if err != nil {
		return n, err
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return n, err
	}
	done = true
	return n, syncDir(dir)
}

// Open opens the blob's file.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return f, err
}

// Delete removes the blob's file.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Walk lists the blob files under the root; temporary files of puts in progress (or of
// puts a crash interrupted) are not blobs.
func (d *Dir) Walk(ctx context.Context, fn func(key string, written time.Time) error) error {
	return filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(d.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !keyPattern.MatchString(key) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted since it was listed
		}
		if err != nil {
			return err
		}
		return fn(key, info.ModTime())
	})
}

// RemoveAbandoned deletes the temporary files of interrupted puts last written before
// `before`.
func (d *Dir) RemoveAbandoned(ctx context.Context, before time.Time) (int, error) {
	removed := 0
	err := filepath.WalkDir(d.root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), tempPrefix) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // renamed into place or removed since it was listed
		}
		if err != nil {
			return err
		}
		if !info.ModTime().Before(before) {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	return removed, err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// contextReader stops a copy when its context ends, so a cancelled reload does not keep
// writing a snapshot nobody will use.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
