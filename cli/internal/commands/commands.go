// Package commands holds the `oriel` CLI's client commands (tenants, regions, identity:
// providers, users, groups, role bindings, service accounts, keys, embed tokens; content:
// spaces, apps, reloads and app data, templates, rollouts; data: connections, agents,
// replications; and the offline `jwt` helpers) as kong command structs, the contexts that
// store edges and their keys by name, shell completion, and Main, which parses and runs a
// command line with injectable output streams so that tests run the real CLI in-process.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/oriel-dev/oriel/cli/internal/client"
)

// Commands are the client commands; cmd/oriel embeds them beside `oriel dev`.
type Commands struct {
	Tenants         TenantsCmd         `cmd:"" help:"Create, inspect, change, deactivate and reactivate tenants."`
	Regions         RegionsCmd         `cmd:"" help:"Show the regions tenants can be created in."`
	Idps            IdpsCmd            `cmd:"" help:"Register the JWT single sign-on a tenant trusts, and try tokens against it."`
	Users           UsersCmd           `cmd:"" help:"Show, disable and enable a tenant's users (created at their first token exchange)."`
	Groups          GroupsCmd          `cmd:"" help:"Manage a tenant's groups (values of the JWT's groups claim)."`
	RoleBindings    RoleBindingsCmd    `cmd:"" name:"role-bindings" help:"Give users or groups a tenant role: admin, developer or viewer."`
	ServiceAccounts ServiceAccountsCmd `cmd:"" name:"service-accounts" help:"Manage machine identities with scopes, for the platform or one tenant."`
	Keys            KeysCmd            `cmd:"" help:"Create, list and revoke service accounts' API keys; generate a bootstrap key offline."`
	Token           TokenCmd           `cmd:"" help:"Exchange a user's JWT for an embed token; introspect, refresh and revoke embed tokens."`
	JWT             JWTCmd             `cmd:"" name:"jwt" help:"Make a signing key pair and sign users' JWTs, as an ISV's backend does (offline)."`
	Spaces          SpacesCmd          `cmd:"" help:"Manage a tenant's spaces, where apps live, and their members' roles."`
	Apps            AppsCmd            `cmd:"" help:"Manage a tenant's apps (dashboards): revisions, copy, export and import, publish; reload and query their data."`
	Reloads         ReloadsCmd         `cmd:"" help:"List, follow and cancel the reloads of an app's data (oriel apps reload starts one)."`
	Templates       TemplatesCmd       `cmd:"" help:"Author templates and their versions once, for every tenant; see which tenants drifted."`
	Rollouts        RolloutsCmd        `cmd:"" help:"Deploy a template version to many tenants, follow it, cancel it, roll it back."`
	Connections     ConnectionsCmd     `cmd:"" help:"Manage a tenant's data connections (PostgreSQL, MySQL, HTTP); test them, query them."`
	Agents          AgentsCmd          `cmd:"" help:"Manage the agents that reach data inside a customer's network, dialing out only."`
	Replications    ReplicationsCmd    `cmd:"" help:"Replicate a customer's PostgreSQL tables continuously into a target PostgreSQL (CDC)."`
	Context         ContextCmd         `cmd:"" help:"Store edges and their API keys by name, like kubectl's contexts, and pick the current one."`
	Completion      CompletionCmd      `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
}

// Exit codes. kong's own usage code (80) is mapped to 2, which is what shells and scripts
// expect of a bad command line.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Main parses args against app (a kong grammar that embeds Commands), runs the selected
// command with the process's stdin and stdout and stderr as its streams, and returns the
// process exit code: 0 on success, 1 when the command failed, 2 for a bad command line.
func Main(app any, args []string, stdout, stderr io.Writer) int {
	return MainWithInput(app, args, os.Stdin, stdout, stderr)
}

// MainWithInput is Main reading stdin (secrets, statements) from stdin.
func MainWithInput(app any, args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	// kong calls Exit for --help and fatal errors; unwinding back here instead of exiting
	// keeps Main usable in-process.
	type exitPanic struct{ code int }
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(exitPanic)
			if !ok {
				panic(r)
			}
			code = e.code
			if code != exitOK && code != exitError {
				code = exitUsage
			}
		}
	}()
	parser, err := kong.New(app,
		kong.Name("oriel"),
		kong.Description("Oriel: embedded analytics for SaaS vendors.\n\n"+
			"`oriel dev` runs the whole stack locally and prints an admin API key; `oriel jwt` and "+
			"`oriel keys generate` work offline; the other commands call a running REST edge (--addr) "+
			"with an API key (--api-key or ORIEL_API_KEY), or both from a stored context (`oriel context add`)."),
		kong.DefaultEnvars("ORIEL"),
		kong.Writers(stdout, stderr),
		kong.Exit(func(c int) { panic(exitPanic{c}) }),
		kong.BindTo(stdout, (*io.Writer)(nil)),
		kong.BindTo(stdin, (*io.Reader)(nil)),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.ExplicitGroups([]kong.Group{{Key: "connection", Title: "Connection flags (every client command; also from ORIEL_* variables):"}}),
	)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return exitError
	}
	// A shell asking for completions (COMP_LINE set) gets them on stdout and the exit
	// through kong.Exit above; any other run goes on to parse.
	completeCommandLine(parser)
	kctx, err := parser.Parse(args)
	if err != nil {
		printUsageError(stderr, err)
		return exitUsage
	}
	if err := kctx.Run(); err != nil {
		printError(stderr, err)
		return exitError
	}
	return exitOK
}

// printUsageError says what is wrong with the command line and where help is, on stderr:
// stdout stays clean for whatever a script pipes it into. A command line that stops at a
// group (`oriel`, `oriel tenants`) also gets the group's usage: its commands are what the
// caller was looking for.
func printUsageError(w io.Writer, err error) {
	cmd := "oriel"
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		node := pe.Context.Selected()
		if node != nil {
			cmd = node.FullPath()
		}
		if node == nil || len(node.Children) > 0 {
			k := pe.Context.Kong
			stdout := k.Stdout
			k.Stdout = w
			_ = pe.Context.PrintUsage(false)
			k.Stdout = stdout
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "error: %v\n", err)
	fmt.Fprintf(w, "Run \"%s --help\" for usage.\n", cmd)
}

// printError writes a failed command's error: for API errors the message, status and
// reason, then one line per bad field, so a person sees every problem at once.
func printError(w io.Writer, err error) {
	for i, line := range strings.Split(err.Error(), "\n") {
		if i == 0 {
			line = "error: " + line
		}
		fmt.Fprintln(w, oneLine(line))
	}
	var apiErr *client.APIError
	switch {
	case errors.As(err, &apiErr):
		for _, v := range apiErr.FieldViolations {
			fmt.Fprintf(w, "  %s: %s\n", oneLine(v.Field), oneLine(v.Description))
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Fprintln(w, "is the REST edge running there? `oriel dev` starts one; --addr or ORIEL_ADDR says where it is")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintln(w, "the command did not finish within --timeout")
	}
}

// ClientFlags say where the REST edge is and how to talk to it. Every client command
// group embeds them, so they are given after the group's name (`oriel tenants list
// --output json`). They are not on the root because `oriel dev` has its own --addr.
//
// --addr and --api-key have no kong default: an empty value means neither the flag nor
// its ORIEL_* variable was given, which is when a context (and then the default address)
// fills it in; see resolveConnection.
type ClientFlags struct {
	Addr    string `name:"addr" group:"connection" placeholder:"URL" help:"Base URL of the REST edge (a loopback host:port means http); over the context's, else http://localhost:8080."`
	APIKey  string `name:"api-key" group:"connection" placeholder:"KEY" help:"API key (oriel_sk_…), or an embed token (oriel_et_…) to call as its user, over the context's. Prefer the environment variable or a context: flags show in process lists."`
	Context string `name:"context" group:"connection" placeholder:"NAME" predictor:"context" help:"The stored context (oriel context list) to take the address and API key from, instead of the current one."`
	// EmbedOrigin is for an embed token bound to an origin: the edge accepts it only from
	// that origin, which a caller that is not a browser names in a header.
	EmbedOrigin string        `name:"embed-origin" group:"connection" placeholder:"ORIGIN" help:"With an embed token bound to a web origin (token exchange --allowed-origin) as the credential, that origin, e.g. https://app.example.com."`
	Output      string        `name:"output" short:"o" group:"connection" enum:"table,json,yaml" default:"table" help:"Output format: table, json or yaml (the API's JSON names)."`
	Timeout     time.Duration `name:"timeout" group:"connection" default:"30s" help:"How long the whole command may take; 0 means no limit."`
}

// defaultAddr is where `oriel dev` serves the REST edge.
const defaultAddr = "http://localhost:8080"

// Session is what a client command runs with: an authenticated client, the output format
// and the command's deadline.
type Session struct {
	// Client calls the edge.
	Client *client.Client
	// Output is the output format: table, json or yaml.
	Output string
	// Stdout receives results; Stderr receives notes such as the next page token.
	Stdout, Stderr io.Writer

	timeout time.Duration
	// keyNote, when no API key was found, says why (empty if there was simply none).
	keyNote string
	hasKey  bool
}

// errNoAPIKey is what a command that needs an API key says when none was given.
var errNoAPIKey = errors.New("no API key: pass --api-key, set ORIEL_API_KEY or store one in a context (oriel context add; `oriel dev` prints the admin key)")

// ProvideSession checks the client flags and builds the Session for a command's Run. kong
// calls it only for commands that take a *Session, so `oriel keys generate` never needs a
// key.
func (f *ClientFlags) ProvideSession(kctx *kong.Context) (*Session, error) {
	s, err := f.session(kctx)
	if err != nil {
		return nil, err
	}
	if !s.hasKey {
		if s.keyNote != "" {
			return nil, fmt.Errorf("%w\n%s", errNoAPIKey, s.keyNote)
		}
		return nil, errNoAPIKey
	}
	return s, nil
}

// KeylessSession is a Session whose API key may be missing, for a command whose
// credential can be something else: `oriel token exchange --as-user` sends the user's JWT.
type KeylessSession struct{ *Session }

// ProvideKeylessSession builds the KeylessSession of commands that take one.
func (f *ClientFlags) ProvideKeylessSession(kctx *kong.Context) (*KeylessSession, error) {
	s, err := f.session(kctx)
	if err != nil {
		return nil, err
	}
	return &KeylessSession{s}, nil
}

func (f *ClientFlags) session(kctx *kong.Context) (*Session, error) {
	if f.Timeout < 0 {
		return nil, fmt.Errorf("--timeout must not be negative, got %s", f.Timeout)
	}
	conn, err := resolveConnection(f.Addr, f.APIKey, f.Context)
	if err != nil {
		return nil, err
	}
	return &Session{
		Client:  client.New(conn.addr, conn.key, nil).WithEmbedOrigin(f.EmbedOrigin),
		Output:  f.Output,
		Stdout:  kctx.Stdout,
		Stderr:  kctx.Stderr,
		timeout: f.Timeout,
		keyNote: conn.keyNote,
		hasKey:  conn.key != "",
	}, nil
}

// edgeURL accepts a loopback host:port (what `oriel dev` prints) as well as a URL. Plain
// http is assumed only on loopback: elsewhere the key would cross the network in clear
// text, so the caller has to spell out the scheme.
func edgeURL(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "http://" + addr
	}
	return addr
}

// context bounds the whole command (every page of a listing) by --timeout.
func (s *Session) context() (context.Context, context.CancelFunc) {
	if s.timeout == 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), s.timeout)
}

// flagsGiven returns the names of the flags on the command line. Flags that set resource
// fields read no environment variable, so "given" means typed by the caller, which is what
// an update mask must be built from.
func flagsGiven(kctx *kong.Context) map[string]bool {
	given := map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag != nil {
			given[p.Flag.Name] = true
		}
	}
	return given
}
