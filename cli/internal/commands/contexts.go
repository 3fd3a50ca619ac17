package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
	"sigs.k8s.io/yaml"
)

// A context, like kubectl's, names an edge and the API key to call it with, so that
// switching between a local stack and a production edge is `oriel context use NAME`
// rather than re-exporting variables. Contexts live in one YAML file, readable by its
// owner only since it holds keys.

// contextConfig is the contexts file.
type contextConfig struct {
	// CurrentContext is the context client commands use when none is named.
	CurrentContext string `json:"current-context,omitempty"`
	// Contexts are the stored contexts, in the order they were added.
	Contexts []storedContext `json:"contexts,omitempty"`
}

// storedContext is one context of the file.
type storedContext struct {
	Name string `json:"name"`
	// Addr is the edge's base URL.
	Addr string `json:"addr"`
	// APIKey is sent only to Addr; empty when the key comes from elsewhere.
	APIKey string `json:"api-key,omitempty"`
}

// contextNamePattern is what a context may be called: short, and safe to print and to
// complete in a shell.
var contextNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func checkContextName(name string) error {
	if !contextNamePattern.MatchString(name) {
		return fmt.Errorf("invalid context name %q: want 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// configPath is where the contexts are: $ORIEL_CONFIG, else
// $XDG_CONFIG_HOME/oriel/config.yaml, else ~/.config/oriel/config.yaml.
func configPath() (string, error) {
	if p := os.Getenv("ORIEL_CONFIG"); p != "" {
		return p, nil
	}
	if dir := os.Getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "oriel", "config.yaml"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("where to keep contexts: %w; set ORIEL_CONFIG", err)
	}
	return filepath.Join(home, ".config", "oriel", "config.yaml"), nil
}

// loadContexts reads the contexts file at path; a missing file is no contexts. Anything
// the CLI would misread is an error naming the file, so that a person can fix it by hand.
func loadContexts(path string) (*contextConfig, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &contextConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contexts: %w", err)
	}
	cfg := &contextConfig{}
	if err := yaml.Unmarshal(b, cfg); err != nil {
		return nil, fmt.Errorf("%s is not a valid oriel contexts file: %v", path, err)
	}
	seen := map[string]bool{}
	for i, c := range cfg.Contexts {
		if err := checkContextName(c.Name); err != nil {
			return nil, fmt.Errorf("%s: contexts[%d]: %v", path, i, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("%s: context %q is there twice", path, c.Name)
		}
		seen[c.Name] = true
		if _, err := checkEdgeURL(c.Addr); err != nil {
			return nil, fmt.Errorf("%s: context %q: %v", path, c.Name, err)
		}
	}
	if cfg.CurrentContext != "" && !seen[cfg.CurrentContext] {
		return nil, fmt.Errorf("%s: current-context %q is not one of its contexts (%s)", path, cfg.CurrentContext, cfg.names())
	}
	return cfg, nil
}

// saveContexts writes cfg to path atomically: a temporary file beside it, synced, then
// renamed over it, so that a crash leaves the old file or the new one, never half of
// one. The file is the owner's only (0600), and so is a folder made for it (0700).
func saveContexts(path string, cfg *contextConfig) error {
	// Write through a symbolic link (a dotfiles checkout), rather than replacing it.
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod states it for every platform's umask.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save contexts: %w", err)
	}
	done = true
	return nil
}

// find returns the context called name, or nil.
func (c *contextConfig) find(name string) *storedContext {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i]
		}
	}
	return nil
}

// names lists the contexts for an error message.
func (c *contextConfig) names() string {
	if len(c.Contexts) == 0 {
		return "there are none; oriel context add NAME --addr URL stores one"
	}
	names := make([]string, len(c.Contexts))
	for i, ctx := range c.Contexts {
		names[i] = ctx.Name
	}
	return "known: " + strings.Join(names, ", ")
}

// unknownContext is the error of a name that is no stored context.
func (c *contextConfig) unknownContext(path, name string) error {
	return fmt.Errorf("no context %q in %s (%s)", name, path, c.names())
}

// checkEdgeURL normalizes an edge address as --addr takes it and checks that it is an
// http or https URL with a host.
func checkEdgeURL(addr string) (string, error) {
	u, err := url.Parse(edgeURL(addr))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("invalid address %q: want http:// or https:// and a host, or a loopback host:port", addr)
	}
	return u.String(), nil
}

// connection is where a client command calls and with which key.
type connection struct {
	addr, key string
	// keyNote says why no key was found, when a context had one for another address.
	keyNote string
}

// resolveConnection decides the edge and the key of a client command, each by the first
// of: its flag (--addr, --api-key), its variable (ORIEL_ADDR, ORIEL_API_KEY; kong has put
// both in flagAddr and flagKey), the context named by --context or ORIEL_CONTEXT, the
// current context, and for the address http://localhost:8080.
//
// A context's key goes only to the context's own address: with --addr (or ORIEL_ADDR)
// pointing elsewhere, sending it would hand a production key to whatever host was typed.
// The contexts file is read only when something is left to fill in or a context is named,
// so that fully given flags work whatever state the file is in.
func resolveConnection(flagAddr, flagKey, contextName string) (connection, error) {
	conn := connection{addr: flagAddr, key: strings.TrimSpace(flagKey)} // key files usually end with a newline
	if conn.addr != "" && conn.key != "" && contextName == "" {
		return conn.normalized(), nil
	}
	path, err := configPath()
	if err != nil {
		if contextName == "" {
			if conn.addr == "" {
				conn.addr = defaultAddr
			}
			return conn.normalized(), nil // no home, so no contexts: the defaults apply
		}
		return connection{}, err
	}
	cfg, err := loadContexts(path)
	if err != nil {
		return connection{}, err
	}
	name := contextName
	if name == "" {
		name = cfg.CurrentContext
	}
	var ctx *storedContext
	if name != "" {
		if ctx = cfg.find(name); ctx == nil {
			return connection{}, cfg.unknownContext(path, name)
		}
	}
	switch {
	case conn.addr != "":
	case ctx != nil:
		conn.addr = ctx.Addr
	default:
		conn.addr = defaultAddr
	}
	conn = conn.normalized()
	if conn.key == "" && ctx != nil && ctx.APIKey != "" {
		if sameEdge(conn.addr, ctx.Addr) {
			conn.key = ctx.APIKey
		} else {
			conn.keyNote = fmt.Sprintf("context %q has a key, but for %s, not %s: its key is sent only there", ctx.Name, ctx.Addr, conn.addr)
		}
	}
	return conn, nil
}

func (c connection) normalized() connection {
	c.addr = edgeURL(c.addr)
	return c
}

// sameEdge reports whether two addresses name the same edge, spelled alike or not
// (a trailing slash, a host:port for an http URL).
func sameEdge(a, b string) bool {
	ua, errA := url.Parse(edgeURL(a))
	ub, errB := url.Parse(edgeURL(b))
	if errA != nil || errB != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		strings.TrimSuffix(ua.Path, "/") == strings.TrimSuffix(ub.Path, "/")
}

// ContextCmd is `oriel context`.
type ContextCmd struct {
	Add     ContextAddCmd     `cmd:"" help:"Store a context: an edge's address and, read from stdin or a file, its API key."`
	Use     ContextUseCmd     `cmd:"" help:"Make a context the current one: client commands use it when no --context is given."`
	List    ContextListCmd    `cmd:"" help:"List the contexts, marking the current one (keys are never shown)."`
	Current ContextCurrentCmd `cmd:"" help:"Print the name of the context client commands use."`
	Remove  ContextRemoveCmd  `cmd:"" help:"Forget a context and its key."`
}

// contextArg is the positional name of a stored context.
type contextArg struct {
	Name string `arg:"" predictor:"context" help:"The context's name."`
}

// Validate refuses a malformed name as a usage error.
func (a *contextArg) Validate() error { return checkContextName(a.Name) }

// ContextAddCmd is `oriel context add`. The key is never a flag's value: it would show in
// process lists and in shell history.
type ContextAddCmd struct {
	contextArg
	Addr        string `name:"addr" required:"" placeholder:"URL" env:"-" help:"The edge's base URL, e.g. https://oriel.example.com or localhost:8080 (a loopback host:port means http)."`
	APIKeyStdin bool   `name:"api-key-stdin" xor:"key" env:"-" help:"Read the API key from stdin (a pipe, or typed and ended by Ctrl-D)."`
	APIKeyFile  string `name:"api-key-file" xor:"key" type:"path" placeholder:"FILE" env:"-" help:"Read the API key from this file."`
	Use         bool   `name:"use" env:"-" help:"Also make it the current context."`
	Replace     bool   `name:"replace" env:"-" help:"Replace a context of that name instead of refusing."`
}

// Validate checks the address before anything is written.
func (c *ContextAddCmd) Validate() error {
	if err := c.contextArg.Validate(); err != nil {
		return err
	}
	if c.Addr == "" {
		return nil // kong says it is missing
	}
	_, err := checkEdgeURL(c.Addr)
	return err
}

// maxKeyBytes bounds what is read as a key: a key is about 60 bytes, an embed token a few
// hundred; more is the wrong file.
const maxKeyBytes = 16 << 10

// key reads the API key the flags point to, "" for none.
func (c *ContextAddCmd) key(stdin io.Reader) (string, error) {
	var (
		r    io.Reader
		from string
	)
	switch {
	case c.APIKeyStdin:
		r, from = stdin, "stdin"
	case c.APIKeyFile != "":
		f, err := os.Open(c.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("read the API key: %w", err)
		}
		defer f.Close()
		r, from = f, c.APIKeyFile
	default:
		return "", nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyBytes+1))
	if err != nil {
		return "", fmt.Errorf("read the API key from %s: %w", from, err)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case len(b) > maxKeyBytes:
		return "", fmt.Errorf("%s holds more than %d bytes: not an API key", from, maxKeyBytes)
	case key == "":
		return "", fmt.Errorf("%s holds no API key", from)
	case strings.ContainsAny(key, " \t\r\n"):
		return "", fmt.Errorf("%s holds more than one line or word: want the API key alone", from)
	}
	return key, nil
}

// Run stores the context.
func (c *ContextAddCmd) Run(kctx *kong.Context, stdin io.Reader) error {
	addr, err := checkEdgeURL(c.Addr)
	if err != nil {
		return err
	}
	key, err := c.key(stdin)
	if err != nil {
		return err
	}
	path, cfg, err := openContexts()
	if err != nil {
		return err
	}
	stored := storedContext{Name: c.Name, Addr: addr, APIKey: key}
	if old := cfg.find(c.Name); old != nil {
		if !c.Replace {
			return fmt.Errorf("context %q exists (%s); --replace replaces it", c.Name, old.Addr)
		}
		*old = stored
	} else {
		cfg.Contexts = append(cfg.Contexts, stored)
	}
	if c.Use {
		cfg.CurrentContext = c.Name
	}
	if err := saveContexts(path, cfg); err != nil {
		return err
	}
	what := "without an API key (--api-key or ORIEL_API_KEY gives one)"
	if key != "" {
		what = "with its API key"
	}
	fmt.Fprintf(kctx.Stdout, "Stored context %q: %s, %s.\n", c.Name, addr, what)
	if c.Use {
		fmt.Fprintf(kctx.Stdout, "Switched to context %q.\n", c.Name)
		noteContextOverride(kctx.Stderr)
	}
	return nil
}

// openContexts finds and reads the contexts file.
func openContexts() (string, *contextConfig, error) {
	path, err := configPath()
	if err != nil {
		return "", nil, err
	}
	cfg, err := loadContexts(path)
	return path, cfg, err
}

// noteContextOverride warns that ORIEL_CONTEXT, not the file's current context, is what
// client commands of this shell use.
func noteContextOverride(stderr io.Writer) {
	if env := os.Getenv("ORIEL_CONTEXT"); env != "" {
		fmt.Fprintf(stderr, "note: ORIEL_CONTEXT=%s is set, so client commands in this shell use %q\n", env, env)
	}
}

// ContextUseCmd is `oriel context use`.
type ContextUseCmd struct{ contextArg }

// Run makes the context current.
func (c *ContextUseCmd) Run(kctx *kong.Context) error {
	path, cfg, err := openContexts()
	if err != nil {
		return err
	}
	if cfg.find(c.Name) == nil {
		return cfg.unknownContext(path, c.Name)
	}
	cfg.CurrentContext = c.Name
	if err := saveContexts(path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(kctx.Stdout, "Switched to context %q.\n", c.Name)
	noteContextOverride(kctx.Stderr)
	return nil
}

// ContextListCmd is `oriel context list`.
type ContextListCmd struct {
	Output string `name:"output" short:"o" enum:"table,json,yaml" default:"table" help:"Output format: table, json or yaml."`
}

// contextListing is `oriel context list --output json`: what a script may know of the
// contexts, never their keys.
type contextListing struct {
	CurrentContext string             `json:"currentContext"`
	Contexts       []contextListEntry `json:"contexts"`
}

type contextListEntry struct {
	Name      string `json:"name"`
	Addr      string `json:"addr"`
	HasAPIKey bool   `json:"hasApiKey"`
	Current   bool   `json:"current"`
}

// effectiveContext is the context client commands use when no --context is given:
// ORIEL_CONTEXT's, else the file's current one.
func effectiveContext(cfg *contextConfig) string {
	if env := os.Getenv("ORIEL_CONTEXT"); env != "" {
		return env
	}
	return cfg.CurrentContext
}

// Run lists the contexts.
func (c *ContextListCmd) Run(stdout io.Writer) error {
	_, cfg, err := openContexts()
	if err != nil {
		return err
	}
	current := effectiveContext(cfg)
	list := contextListing{CurrentContext: current, Contexts: []contextListEntry{}}
	for _, ctx := range cfg.Contexts {
		list.Contexts = append(list.Contexts, contextListEntry{Name: ctx.Name, Addr: ctx.Addr, HasAPIKey: ctx.APIKey != "", Current: ctx.Name == current})
	}
	if c.Output != outputTable {
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		return writeDocument(stdout, c.Output, append(b, '\n'))
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "CURRENT\tNAME\tADDR\tAPI KEY")
	for _, e := range list.Contexts {
		mark, key := "", "none"
		if e.Current {
			mark = "*"
		}
		if e.HasAPIKey {
			key = "stored"
		}
		// The mark column is blank rather than "-" so that the current row stands out.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, e.Name, oneLine(e.Addr), key)
	}
	return tw.Flush()
}

// ContextCurrentCmd is `oriel context current`.
type ContextCurrentCmd struct{}

// Run prints the current context's name, failing when there is none.
func (c *ContextCurrentCmd) Run(kctx *kong.Context) error {
	path, cfg, err := openContexts()
	if err != nil {
		return err
	}
	current := effectiveContext(cfg)
	if current == "" {
		return fmt.Errorf("no current context in %s: oriel context use NAME sets one (%s)", path, cfg.names())
	}
	if cfg.find(current) == nil {
		return fmt.Errorf("ORIEL_CONTEXT=%s: %w", current, cfg.unknownContext(path, current))
	}
	fmt.Fprintln(kctx.Stdout, current)
	if os.Getenv("ORIEL_CONTEXT") != "" {
		fmt.Fprintln(kctx.Stderr, "(from ORIEL_CONTEXT)")
	}
	return nil
}

// ContextRemoveCmd is `oriel context remove`.
type ContextRemoveCmd struct{ contextArg }

// Run removes the context; removing the current one leaves no current context.
func (c *ContextRemoveCmd) Run(stdout io.Writer) error {
	path, cfg, err := openContexts()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(cfg.Contexts, func(s storedContext) bool { return s.Name == c.Name })
	if i < 0 {
		return cfg.unknownContext(path, c.Name)
	}
	cfg.Contexts = slices.Delete(cfg.Contexts, i, i+1)
	note := ""
	if cfg.CurrentContext == c.Name {
		cfg.CurrentContext = ""
		note = "; there is no current context now"
	}
	if err := saveContexts(path, cfg); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "Removed context %q%s.\n", c.Name, note)
	return err
}

// contextNames lists the stored contexts for shell completion; nothing when the file
// cannot be read (a completion has nowhere to say why).
func contextNames() []string {
	_, cfg, err := openContexts()
	if err != nil {
		return nil
	}
	names := make([]string, len(cfg.Contexts))
	for i, c := range cfg.Contexts {
		names[i] = c.Name
	}
	return names
}
