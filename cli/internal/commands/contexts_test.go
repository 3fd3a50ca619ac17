package commands_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oriel-dev/oriel/cli/internal/commands"
)

// TestMain keeps every test of the package away from the contexts of whoever runs it: a
// current context or an ORIEL_CONTEXT of theirs would otherwise decide where a test's
// commands go. Tests of contexts point ORIEL_CONFIG at a file of their own.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "oriel-commands-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("ORIEL_CONFIG", filepath.Join(dir, "config.yaml"))
	for _, v := range []string{"ORIEL_CONTEXT", "COMP_LINE", "COMP_POINT"} {
		os.Unsetenv(v)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runWithInput is run with stdin.
func runWithInput(stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := commands.MainWithInput(&commands.Commands{}, args, strings.NewReader(stdin), &out, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// useConfig points ORIEL_CONFIG at a fresh file in a folder not made yet, and clears the
// connection variables, for the rest of the test.
func useConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oriel", "config.yaml")
	t.Setenv("ORIEL_CONFIG", path)
	for _, v := range []string{"ORIEL_ADDR", "ORIEL_API_KEY", "ORIEL_CONTEXT", "ORIEL_OUTPUT"} {
		unsetenv(t, v)
	}
	return path
}

// unsetenv removes v from the environment for the rest of the test: kong reads a variable
// that is set but empty as an empty value.
func unsetenv(t *testing.T, v string) {
	t.Helper()
	t.Setenv(v, "") // restores v's value after the test
	os.Unsetenv(v)
}

// mustRun runs a command that must succeed.
func mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := runWithInput(stdin, args...)
	if r.code != 0 {
		t.Fatalf("oriel %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// keyEdge is a fake edge that answers `regions list` and records the key of each call.
type keyEdge struct {
	url  string
	mu   sync.Mutex
	keys []string
}

func startKeyEdge(t *testing.T) *keyEdge {
	t.Helper()
	e := &keyEdge{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.keys = append(e.keys, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"regions": [{"name": "regions/eu-west", "code": "eu-west", "displayName": "Europe West"}]}`)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// took returns the keys the edge was called with since the last call, and forgets them.
func (e *keyEdge) took() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := e.keys
	e.keys = nil
	return keys
}

// The context tests set the environment, so they cannot run in parallel.

func TestContextsAddUseListCurrentAndRemove(t *testing.T) {
	path := useConfig(t)
	keyFile := filepath.Join(t.TempDir(), "admin.key")
	if err := os.WriteFile(keyFile, []byte("oriel_sk_from_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := runWithInput("", "context", "current")
	if r.code != 1 || !strings.Contains(r.stderr, "no current context in "+path) {
		t.Errorf("current with no contexts: exit %d, stderr %q; want 1 and no current context in %s", r.code, r.stderr, path)
	}

	mustRun(t, "oriel_sk_from_stdin\n", "context", "add", "local", "--addr", "localhost:8080", "--api-key-stdin", "--use")
	mustRun(t, "", "context", "add", "prod", "--addr", "https://oriel.example.com", "--api-key-file", keyFile)
	mustRun(t, "", "context", "add", "staging", "--addr", "https://staging.example.com")

	list := mustRun(t, "", "context", "list")
	want := [][]string{
		{"CURRENT", "NAME", "ADDR", "API KEY"},
		{"*", "local", "http://localhost:8080", "stored"},
		{"", "prod", "https://oriel.example.com", "stored"},
		{"", "staging", "https://staging.example.com", "none"},
	}
	if rows := tableRows(list.stdout); !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("list = %q\nwant %q", rows, want)
	}
	if got := mustRun(t, "", "context", "current").stdout; got != "local\n" {
		t.Errorf("current = %q, want local", got)
	}

	mustRun(t, "", "context", "use", "prod")
	if got := mustRun(t, "", "context", "current").stdout; got != "prod\n" {
		t.Errorf("current after use = %q, want prod", got)
	}
	yamlList := mustRun(t, "", "context", "list", "--output", "yaml").stdout
	wantYAML := `contexts:
- addr: http://localhost:8080
  current: false
  hasApiKey: true
  name: local
- addr: https://oriel.example.com
  current: true
  hasApiKey: true
  name: prod
- addr: https://staging.example.com
  current: false
  hasApiKey: false
  name: staging
currentContext: prod
`
	if yamlList != wantYAML {
		t.Errorf("list --output yaml = %q\nwant %q", yamlList, wantYAML)
	}

	// The file holds the keys (that is its point), and only its owner may read it.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "oriel_sk_from_stdin") || !strings.Contains(string(b), "oriel_sk_from_file") {
		t.Errorf("the file lacks the keys:\n%s", b)
	}
	for _, out := range []string{list.stdout, list.stderr, yamlList} {
		if strings.Contains(out, "oriel_sk_") {
			t.Errorf("a key was printed:\n%s", out)
		}
	}

	r = runWithInput("", "context", "add", "prod", "--addr", "https://other.example.com")
	if r.code != 1 || !strings.Contains(r.stderr, `context "prod" exists`) {
		t.Errorf("adding prod again: exit %d, stderr %q; want 1 and that it exists", r.code, r.stderr)
	}
	mustRun(t, "", "context", "add", "prod", "--addr", "https://other.example.com", "--replace")

	if got := mustRun(t, "", "context", "remove", "prod").stdout; !strings.Contains(got, "no current context now") {
		t.Errorf("removing the current context says %q, want that none is current now", got)
	}
	r = runWithInput("", "context", "use", "prod")
	if r.code != 1 || !strings.Contains(r.stderr, `no context "prod"`) || !strings.Contains(r.stderr, "known: local, staging") {
		t.Errorf("use of a removed context: exit %d, stderr %q; want 1 and the known ones", r.code, r.stderr)
	}
}

func TestContextsFileIsPrivateAndReplacedWhole(t *testing.T) {
	path := useConfig(t)
	mustRun(t, "k1", "context", "add", "a", "--addr", "http://127.0.0.1:1", "--api-key-stdin")

	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, want)
		}
	}

	// A hard link keeps the file as it was: a save that wrote in place would change it too,
	// and a crash in the middle would leave a broken file.
	before, _ := os.ReadFile(path)
	if err := os.Link(path, path+".before"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "context", "add", "b", "--addr", "http://127.0.0.1:2", "--use")
	if kept, _ := os.ReadFile(path + ".before"); !bytes.Equal(kept, before) {
		t.Errorf("the old file was written in place:\n%s", kept)
	}
	if after, _ := os.ReadFile(path); !strings.Contains(string(after), "current-context: b") {
		t.Errorf("the new file lacks the change:\n%s", after)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"config.yaml", "config.yaml.before"}; !slices.Equal(names, want) {
		t.Errorf("the folder holds %v, want %v (no temporary file left)", names, want)
	}
}

func TestContextsFileThatCannotBeReadIsAnErrorNamingIt(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"not YAML", "contexts: [\n", "is not a valid oriel contexts file"},
		{"a context twice", "contexts:\n- {name: a, addr: http://a.example.com}\n- {name: a, addr: http://b.example.com}\n", `context "a" is there twice`},
		{"a bad name", "contexts:\n- {name: 'a b', addr: http://a.example.com}\n", `contexts[0]: invalid context name "a b"`},
		{"a bad address", "contexts:\n- {name: a, addr: 'ftp://a.example.com'}\n", `context "a": invalid address`},
		{"an unknown current context", "current-context: b\ncontexts:\n- {name: a, addr: http://a.example.com}\n", `current-context "b" is not one of its contexts (known: a)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := useConfig(t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"context", "list"}, {"regions", "list"}, {"context", "use", "a"}} {
				r := runWithInput("", args...)
				if r.code != 1 || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, tc.want) {
					t.Errorf("oriel %s: exit %d, stderr %q; want 1, the file and %q", strings.Join(args, " "), r.code, r.stderr, tc.want)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != tc.content {
				t.Errorf("the file was changed:\n%s", got)
			}
		})
	}
}

func TestContextsRefuseBadNamesAndAddressesAsUsageErrors(t *testing.T) {
	path := useConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a space in the name", []string{"context", "add", "my edge", "--addr", "http://a.example.com"}, "invalid context name"},
		{"a slash in the name", []string{"context", "use", "../x"}, "invalid context name"},
		{"a name too long", []string{"context", "remove", strings.Repeat("a", 64)}, "invalid context name"},
		{"no address", []string{"context", "add", "a"}, "--addr"},
		{"an address without a scheme", []string{"context", "add", "a", "--addr", "oriel.example.com:443"}, "invalid address"},
		{"an address of another scheme", []string{"context", "add", "a", "--addr", "ftp://oriel.example.com"}, "invalid address"},
		{"the key two ways", []string{"context", "add", "a", "--addr", "http://a.example.com", "--api-key-stdin", "--api-key-file", "k"}, "can't be used together"},
		{"the key as a flag", []string{"context", "add", "a", "--addr", "http://a.example.com", "--api-key", "oriel_sk_x"}, "unknown flag --api-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithInput("", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, stdin, want string }{
		{"an empty key", "\n", "stdin holds no API key"},
		{"two words", "oriel_sk_a oriel_sk_b\n", "want the API key alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runWithInput(tc.stdin, "context", "add", "a", "--addr", "http://a.example.com", "--api-key-stdin")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a refused command wrote %s", path)
	}
}

func TestConnectionPrecedenceIsFlagThenVariableThenNamedThenCurrentContext(t *testing.T) {
	a, b := startKeyEdge(t), startKeyEdge(t)
	setup := func(t *testing.T) {
		useConfig(t)
		mustRun(t, "ka", "context", "add", "a", "--addr", a.url, "--api-key-stdin", "--use")
		mustRun(t, "kb", "context", "add", "b", "--addr", b.url, "--api-key-stdin")
		a.took()
		b.took()
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		// edge and key are where the call went and with which key; wantErr, when set, is
		// the error instead.
		edge    *keyEdge
		key     string
		wantErr string
	}{
		{name: "the current context", edge: a, key: "ka"},
		{name: "--context names another", args: []string{"--context", "b"}, edge: b, key: "kb"},
		{name: "ORIEL_CONTEXT names another", env: map[string]string{"ORIEL_CONTEXT": "b"}, edge: b, key: "kb"},
		{name: "--context beats ORIEL_CONTEXT", env: map[string]string{"ORIEL_CONTEXT": "b"}, args: []string{"--context", "a"}, edge: a, key: "ka"},
		{name: "ORIEL_API_KEY beats the context's key", env: map[string]string{"ORIEL_API_KEY": "kenv"}, edge: a, key: "kenv"},
		{name: "--api-key beats ORIEL_API_KEY", env: map[string]string{"ORIEL_API_KEY": "kenv"}, args: []string{"--api-key", "kflag"}, edge: a, key: "kflag"},
		{name: "ORIEL_ADDR and ORIEL_API_KEY beat the context", env: map[string]string{"ORIEL_ADDR": b.url, "ORIEL_API_KEY": "kenv"}, edge: b, key: "kenv"},
		{name: "--addr beats ORIEL_ADDR", env: map[string]string{"ORIEL_ADDR": a.url}, args: []string{"--addr", b.url, "--api-key", "kflag"}, edge: b, key: "kflag"},
		{name: "--addr of the context's own edge keeps its key", args: []string{"--addr", a.url + "/"}, edge: a, key: "ka"},
		{name: "a context's key never goes to another edge", args: []string{"--addr", b.url},
			wantErr: `context "a" has a key, but for ` + a.url + `, not ` + b.url},
		{name: "a context's key never goes to ORIEL_ADDR's edge", env: map[string]string{"ORIEL_ADDR": b.url}, wantErr: "no API key"},
		{name: "an unknown --context", args: []string{"--context", "c"}, wantErr: `no context "c" in `},
		{name: "an unknown ORIEL_CONTEXT, even with every flag", env: map[string]string{"ORIEL_CONTEXT": "c"},
			args: []string{"--addr", a.url, "--api-key", "k"}, wantErr: "(known: a, b)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setup(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runWithInput("", append([]string{"regions", "list"}, tc.args...)...)
			gotA, gotB := a.took(), b.took()
			if tc.wantErr != "" {
				if r.code != 1 || !strings.Contains(r.stderr, tc.wantErr) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, tc.wantErr)
				}
				if len(gotA)+len(gotB) > 0 {
					t.Errorf("a refused command called an edge: a %q, b %q", gotA, gotB)
				}
				return
			}
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got, other, otherName := gotA, gotB, "b"
			if tc.edge == b {
				got, other, otherName = gotB, gotA, "a"
			}
			if !slices.Equal(got, []string{tc.key}) || len(other) > 0 {
				t.Errorf("the edge got keys %q (and %s got %q), want one call with %q", got, otherName, other, tc.key)
			}
		})
	}
}

func TestFullyFlaggedCommandsDoNotReadTheContextsFile(t *testing.T) {
	path := useConfig(t)
	e := startKeyEdge(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("contexts: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "regions", "list", "--addr", e.url, "--api-key", "k")
	if got := e.took(); !slices.Equal(got, []string{"k"}) {
		t.Errorf("keys = %q, want k", got)
	}
}

func TestCompletionCompletesCommandsFlagsAndContexts(t *testing.T) {
	useConfig(t)
	mustRun(t, "", "context", "add", "local", "--addr", "http://localhost:8080")
	mustRun(t, "", "context", "add", "prod", "--addr", "https://oriel.example.com")
	for _, tc := range []struct {
		name, line string
		want       []string
	}{
		{"a command", "oriel ten", []string{"tenants"}},
		{"a subcommand", "oriel context u", []string{"use"}},
		{"a flag", "oriel tenants list --out", []string{"--output"}},
		{"an enum's values", "oriel tenants list --output ", []string{"json", "table", "yaml"}},
		{"contexts for context use", "oriel context use ", []string{"local", "prod"}},
		{"contexts for --context", "oriel regions list --context p", []string{"prod"}},
		{"shells", "oriel completion ", []string{"bash", "fish", "zsh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("COMP_LINE", tc.line)
			unsetenv(t, "COMP_POINT")
			r := run()
			got := strings.Fields(r.stdout)
			slices.Sort(got)
			if r.code != 0 || !slices.Equal(got, tc.want) {
				t.Errorf("completing %q: exit %d, %q (stderr %q); want %q", tc.line, r.code, got, r.stderr, tc.want)
			}
		})
	}
	t.Run("the cursor's position counts", func(t *testing.T) {
		t.Setenv("COMP_LINE", "oriel ten --help")
		t.Setenv("COMP_POINT", "9")
		if r := run(); strings.TrimSpace(r.stdout) != "tenants" {
			t.Errorf("completing at 9: %q, want tenants", r.stdout)
		}
	})
}

func TestCompletionPrintsEachShellsScript(t *testing.T) {
	t.Parallel()
	for shell, want := range map[string]string{
		"bash": "complete -o default -C oriel oriel\n",
		"zsh":  "bashcompinit\ncomplete -C oriel oriel\n",
		"fish": `complete -f -c oriel -a "(__complete_oriel)"`,
	} {
		r := run("completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s: exit %d, %q; want %q", shell, r.code, r.stdout, want)
		}
	}
	if r := run("completion", "powershell"); r.code != 2 {
		t.Errorf("completion powershell: exit %d, want 2", r.code)
	}
}
