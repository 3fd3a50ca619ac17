package commands

import (
	"os"
	"path/filepath"
	"testing"
)

func TestConfigPathIsOrielConfigThenXDGThenHome(t *testing.T) {
	for _, tc := range []struct {
		name             string
		orielConfig, xdg string
		home             string
		want             string
	}{
		{"ORIEL_CONFIG first", "/x/oriel.yaml", "/xdg", "/home/u", "/x/oriel.yaml"},
		{"then XDG_CONFIG_HOME", "", "/xdg", "/home/u", "/xdg/oriel/config.yaml"},
		{"then ~/.config", "", "", "/home/u", "/home/u/.config/oriel/config.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ORIEL_CONFIG", tc.orielConfig)
			t.Setenv("XDG_CONFIG_HOME", tc.xdg)
			t.Setenv("HOME", tc.home)
			if got, err := configPath(); err != nil || got != tc.want {
				t.Errorf("configPath() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestResolveConnectionFallsBackToTheDefaultAddress(t *testing.T) {
	t.Setenv("ORIEL_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	for _, tc := range []struct {
		name, addr, key string
		want            connection
	}{
		{"nothing given", "", "", connection{addr: defaultAddr}},
		{"a key only", "", "k\n", connection{addr: defaultAddr, key: "k"}},
		{"a loopback host:port", "127.0.0.1:9", "k", connection{addr: "http://127.0.0.1:9", key: "k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveConnection(tc.addr, tc.key, "")
			if err != nil || got != tc.want {
				t.Errorf("resolveConnection(%q, %q) = %+v, %v; want %+v", tc.addr, tc.key, got, err, tc.want)
			}
		})
	}
}

func TestSaveContextsWritesThroughASymbolicLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "oriel.yaml")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	cfg := &contextConfig{CurrentContext: "a", Contexts: []storedContext{{Name: "a", Addr: "http://a.example.com"}}}
	if err := saveContexts(link, cfg); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file (%v)", err)
	}
	got, err := loadContexts(target)
	if err != nil || got.CurrentContext != "a" || len(got.Contexts) != 1 {
		t.Errorf("the target holds %+v (%v), want the saved contexts", got, err)
	}
}

func TestSameEdgeIgnoresSpelling(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"http://localhost:8080", "localhost:8080", true},
		{"https://oriel.example.com/", "https://ORIEL.example.com", true},
		{"https://oriel.example.com", "http://oriel.example.com", false},
		{"https://oriel.example.com", "https://oriel.example.com.evil.test", false},
		{"https://oriel.example.com/a", "https://oriel.example.com/b", false},
	} {
		if got := sameEdge(tc.a, tc.b); got != tc.same {
			t.Errorf("sameEdge(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
