package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium is the headless browser the tests drive: ORIEL_TEST_CHROMIUM (which `make
// test` sets, installing Debian's chromium when it is missing), else chromium on the PATH.
// Its absence fails the tests: a browser test that skipped would pass without proving
// anything.
func chromium(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ORIEL_TEST_CHROMIUM"); bin != "" {
		return bin
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	t.Fatal("no Chromium: install Debian's chromium package or set ORIEL_TEST_CHROMIUM (make test does both)")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and returns a tab's context.
// Chromium's background networking is off: this machine's closed network refuses it, and
// a test must not depend on anything but the servers it starts.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Third-party cookies blocked, as Safari and soon every browser do: the embed
		// client must not need them.
		chromedp.Flag("block-third-party-cookies", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// artifactsDir is where screenshots go: ORIEL_TEST_ARTIFACTS, else test-artifacts/ at the
// repository's root (git-ignored), so a failed CI run leaves pictures to look at.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ORIEL_TEST_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(wd, "..", "..", "..", "test-artifacts")
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

// screenshot saves the whole page as NAME.png among the test's artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactsDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it returns a truthy value, failing the test
// with what it last returned after timeout. Polling, not sleeping: the machine is shared
// and slow at times, and a condition that comes true early ends the wait early.
func waitFor(t *testing.T, ctx context.Context, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last any
	for {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err == nil && truthy(v) {
			return
		}
		last = v
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, "timeout")
			t.Fatalf("waiting for %s: still %v after %s", what, describe(last), timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	default:
		return true
	}
}

func describe(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
