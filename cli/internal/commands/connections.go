package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// Secrets a connection may need come from a file, stdin or these variables, never from a
// flag's value: flags land in shell history and process lists.
const (
	passwordEnv    = "ORIEL_CONNECTION_PASSWORD"
	bearerTokenEnv = "ORIEL_CONNECTION_BEARER_TOKEN"
)

// ConnectionsCmd is `oriel connections`.
type ConnectionsCmd struct {
	ClientFlags `embed:""`

	Create ConnectionsCreateCmd `cmd:"" help:"Create a connection to a tenant's PostgreSQL, MySQL or HTTP source, reached directly or through an agent pool."`
	Get    ConnectionsGetCmd    `cmd:"" help:"Show a connection (never its credentials)."`
	List   ConnectionsListCmd   `cmd:"" help:"List the connections of a tenant."`
	Update ConnectionsUpdateCmd `cmd:"" help:"Change the fields named by the flags given, and only those."`
	Delete ConnectionsDeleteCmd `cmd:"" help:"Delete a connection that no replication uses."`
	Test   ConnectionsTestCmd   `cmd:"" help:"Connect to the source along the connection's route and say whether it answers."`
	Query  ConnectionsQueryCmd  `cmd:"" help:"Run a read-only statement and print its rows (a table, CSV or JSON lines); --timeout bounds it at the source (0: the datagateway's limit)."`
}

// connectionArg is the positional name of a connection.
type connectionArg struct {
	Name string `arg:"" help:"The connection, e.g. tenants/acme/connections/sales."`
}

// sourceFlags describe where a connection's data is: the kind's parameters.
type sourceFlags struct {
	Kind        string   `name:"kind" enum:"postgres,mysql,http," default:"" placeholder:"KIND" env:"-" help:"postgres, mysql or http; cannot change later."`
	Host        string   `name:"host" placeholder:"HOST" env:"-" help:"postgres, mysql: the host name or address."`
	Port        int32    `name:"port" placeholder:"PORT" env:"-" help:"postgres, mysql: the port (5432, 3306 when 0)."`
	Database    string   `name:"database" placeholder:"NAME" env:"-" help:"postgres, mysql: the database."`
	User        string   `name:"user" placeholder:"USER" env:"-" help:"postgres, mysql: the user."`
	SSLMode     string   `name:"ssl-mode" enum:"disable,require,verify-full," default:"" placeholder:"MODE" env:"-" help:"postgres: disable, require or verify-full (the default)."`
	TLS         bool     `name:"tls" env:"-" help:"mysql: use TLS, verifying the server's certificate."`
	URL         string   `name:"url" placeholder:"URL" env:"-" help:"http: the URL (https; http only for a loopback host in dev mode)."`
	Format      string   `name:"format" enum:"json,csv," default:"" placeholder:"FORMAT" env:"-" help:"http: json (an array of objects, or one at --records-path) or csv (with a header row)."`
	RecordsPath string   `name:"records-path" placeholder:"PATH" env:"-" help:"http, json: the dotted path of the records array, e.g. data.items."`
	Pagination  string   `name:"pagination" enum:"none,offset,next-url," default:"" placeholder:"MODE" env:"-" help:"http: none (the default), offset (offset and limit parameters) or next-url (read from --next-url-path)."`
	PageSize    int32    `name:"page-size" placeholder:"N" env:"-" help:"http, offset: records per page (100 when 0)."`
	NextURLPath string   `name:"next-url-path" placeholder:"PATH" env:"-" help:"http, next-url: the dotted path of the next page's URL, e.g. links.next."`
	Header      []string `name:"header" sep:"none" placeholder:"NAME=VALUE" env:"-" help:"http: a header that is not secret, sent with every request (repeatable); secret ones go in --secret-headers-file."`
}

// secretFlags say where a connection's secrets come from. None takes a secret as its
// value.
type secretFlags struct {
	PasswordStdin     bool   `name:"password-stdin" xor:"password" env:"-" help:"Read the database password from stdin (up to the first newline). Or set ORIEL_CONNECTION_PASSWORD."`
	PasswordFile      string `name:"password-file" xor:"password" type:"existingfile" placeholder:"FILE" env:"-" help:"Read the database password from this file (a trailing newline is dropped)."`
	BearerTokenStdin  bool   `name:"bearer-token-stdin" xor:"bearer" env:"-" help:"http: read the bearer token from stdin. Or set ORIEL_CONNECTION_BEARER_TOKEN."`
	BearerTokenFile   string `name:"bearer-token-file" xor:"bearer" type:"existingfile" placeholder:"FILE" env:"-" help:"http: read the bearer token from this file."`
	SecretHeadersFile string `name:"secret-headers-file" type:"existingfile" placeholder:"FILE" env:"-" help:"http: secret headers, one NAME=VALUE a line (e.g. X-Api-Key=…), stored encrypted like the password."`
}

// kindOf is the kind of the parameters a connection has: postgres, mysql or http.
func kindOf(c *datagatewayv1.Connection) string {
	switch {
	case c.GetPostgres() != nil:
		return "postgres"
	case c.GetMysql() != nil:
		return "mysql"
	case c.GetHttp() != nil:
		return "http"
	}
	return ""
}

var (
	sslModes = map[string]datagatewayv1.PostgresParams_SslMode{
		"disable": datagatewayv1.PostgresParams_SSL_MODE_DISABLE, "require": datagatewayv1.PostgresParams_SSL_MODE_REQUIRE,
		"verify-full": datagatewayv1.PostgresParams_SSL_MODE_VERIFY_FULL,
	}
	httpFormats = map[string]datagatewayv1.HttpParams_Format{
		"json": datagatewayv1.HttpParams_FORMAT_JSON, "csv": datagatewayv1.HttpParams_FORMAT_CSV,
	}
	paginations = map[string]datagatewayv1.HttpParams_Pagination{
		"none": datagatewayv1.HttpParams_PAGINATION_NONE, "offset": datagatewayv1.HttpParams_PAGINATION_OFFSET,
		"next-url": datagatewayv1.HttpParams_PAGINATION_NEXT_URL,
	}
)

// kindFlags are the flags that belong to one kind only, to refuse them with another.
var kindFlags = map[string][]string{
	"postgres": {"host", "port", "database", "user", "ssl-mode"},
	"mysql":    {"host", "port", "database", "user", "tls"},
	"http":     {"url", "format", "records-path", "pagination", "page-size", "next-url-path", "header", "bearer-token-stdin", "bearer-token-file", "secret-headers-file"},
}

// checkKindFlags refuses flags of another kind than kind: `--kind mysql --ssl-mode
// require` is a mistake to say, not to ignore.
func checkKindFlags(kind string, given map[string]bool) error {
	for _, other := range []string{"postgres", "mysql", "http"} {
		if other == kind {
			continue
		}
		for _, f := range kindFlags[other] {
			if given[f] && !containsString(kindFlags[kind], f) {
				return fmt.Errorf("--%s is for %s connections, not %s", f, other, kind)
			}
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// params sets the kind's parameters on conn from the flags.
func (f *sourceFlags) params(kind string, conn *datagatewayv1.Connection) error {
	switch kind {
	case "postgres":
		conn.Postgres = &datagatewayv1.PostgresParams{Host: f.Host, Port: f.Port, Database: f.Database, User: f.User, SslMode: sslModes[f.SSLMode]}
	case "mysql":
		conn.Mysql = &datagatewayv1.MysqlParams{Host: f.Host, Port: f.Port, Database: f.Database, User: f.User, Tls: f.TLS}
	case "http":
		headers, err := parsePairs("--header", f.Header, "Accept=application/json")
		if err != nil {
			return err
		}
		conn.Http = &datagatewayv1.HttpParams{
			Url: f.URL, Format: httpFormats[f.Format], RecordsPath: f.RecordsPath, Pagination: paginations[f.Pagination],
			PageSize: f.PageSize, NextUrlPath: f.NextURLPath, Headers: headers,
		}
	default:
		return errors.New("missing flags: --kind=postgres, mysql or http")
	}
	return nil
}

// credentials reads the secrets the flags point at (and the environment's, when no flag
// names a source for them). It returns nil when there are none.
func (f *secretFlags) credentials(kind string, stdin io.Reader) (*datagatewayv1.Credentials, error) {
	creds := &datagatewayv1.Credentials{}
	var err error
	if creds.Password, err = readSecret("password", f.PasswordStdin, f.PasswordFile, passwordEnv, stdin); err != nil {
		return nil, err
	}
	if kind == "http" {
		if f.PasswordStdin && f.BearerTokenStdin {
			return nil, errors.New("--password-stdin and --bearer-token-stdin cannot both read stdin")
		}
		if creds.BearerToken, err = readSecret("bearer token", f.BearerTokenStdin, f.BearerTokenFile, bearerTokenEnv, stdin); err != nil {
			return nil, err
		}
		if f.SecretHeadersFile != "" {
			if creds.Headers, err = readHeadersFile(f.SecretHeadersFile); err != nil {
				return nil, err
			}
		}
	}
	if proto.Equal(creds, &datagatewayv1.Credentials{}) {
		return nil, nil
	}
	return creds, nil
}

// readSecret reads one secret from stdin, a file, or an environment variable, in that
// order of preference. One trailing newline is dropped: files and `echo` end with one.
func readSecret(what string, fromStdin bool, file, env string, stdin io.Reader) (string, error) {
	var raw string
	switch {
	case fromStdin:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the %s from stdin: %w", what, err)
		}
		raw = line
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", what, err)
		}
		raw = string(b)
	default:
		raw = os.Getenv(env)
	}
	raw = strings.TrimSuffix(strings.TrimSuffix(raw, "\n"), "\r")
	if (fromStdin || file != "") && raw == "" {
		return "", fmt.Errorf("the %s read from %s is empty", what, map[bool]string{true: "stdin", false: file}[fromStdin])
	}
	return raw, nil
}

// readHeadersFile reads NAME=VALUE lines; blank lines and # comments are skipped.
func readHeadersFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the secret headers: %w", err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			// The line may be a secret: say where it is, not what it holds.
			return nil, fmt.Errorf("%s, line %d: want NAME=VALUE", path, i+1)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ConnectionsCreateCmd is `oriel connections create`.
type ConnectionsCreateCmd struct {
	Tenant      string      `arg:"" help:"The tenant: acme or tenants/acme."`
	ID          string      `arg:"" help:"The connection's id (last segment of its name): 3 to 63 lowercase letters, digits and hyphens."`
	DisplayName string      `name:"display-name" required:"" placeholder:"NAME" env:"-" help:"Human-readable name, 1 to 200 characters."`
	AgentPool   string      `name:"agent-pool" placeholder:"POOL" env:"-" help:"Reach the source through a connected agent of this pool (e.g. default); directly from the datagateway when empty."`
	Source      sourceFlags `embed:""`
	Secrets     secretFlags `embed:""`
}

// Validate asks for a kind and refuses flags of another one.
func (c *ConnectionsCreateCmd) Validate(kctx *kong.Context) error {
	if c.Source.Kind == "" {
		return errors.New("missing flags: --kind=postgres, mysql or http")
	}
	return checkKindFlags(c.Source.Kind, flagsGiven(kctx))
}

// Run creates the connection.
func (c *ConnectionsCreateCmd) Run(s *Session, stdin io.Reader) error {
	conn := &datagatewayv1.Connection{DisplayName: c.DisplayName, AgentPool: c.AgentPool}
	if err := c.Source.params(c.Source.Kind, conn); err != nil {
		return err
	}
	creds, err := c.Secrets.credentials(c.Source.Kind, stdin)
	if err != nil {
		return err
	}
	conn.Credentials = creds
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateConnection(ctx, &datagatewayv1.CreateConnectionRequest{
		Parent: tenantName(c.Tenant), ConnectionId: c.ID, Connection: conn,
	})
	if err != nil {
		return err
	}
	return s.printConnection(resp.GetConnection())
}

// ConnectionsGetCmd is `oriel connections get`.
type ConnectionsGetCmd struct{ connectionArg }

// Run shows the connection.
func (c *ConnectionsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printConnection(resp.GetConnection())
}

// ConnectionsListCmd is `oriel connections list`.
type ConnectionsListCmd struct {
	Tenant string      `arg:"" help:"The tenant: acme or tenants/acme."`
	Paging pagingFlags `embed:""`
}

// Run lists the tenant's connections.
func (c *ConnectionsListCmd) Run(kctx *kong.Context, s *Session) error {
	return listing(kctx, s, c.Paging, "connections",
		func(ctx context.Context, size int32, token string) ([]*datagatewayv1.Connection, string, error) {
			resp, err := s.Client.ListConnections(ctx, &datagatewayv1.ListConnectionsRequest{Parent: tenantName(c.Tenant), PageSize: size, PageToken: token})
			return resp.GetConnections(), resp.GetNextPageToken(), err
		},
		func(items []*datagatewayv1.Connection, next string) proto.Message {
			return &datagatewayv1.ListConnectionsResponse{Connections: items, NextPageToken: next}
		},
		printConnectionTable)
}

// ConnectionsUpdateCmd is `oriel connections update`. A kind's parameters are one field
// of the update mask: changing any of them sends them all, read from the connection as it
// is and changed by the flags given.
type ConnectionsUpdateCmd struct {
	connectionArg
	DisplayName string      `name:"display-name" placeholder:"NAME" env:"-" help:"New human-readable name."`
	AgentPool   string      `name:"agent-pool" placeholder:"POOL" env:"-" help:"New agent pool (\"\" to reach the source directly)."`
	Source      sourceFlags `embed:""`
	Secrets     secretFlags `embed:""`
	Etag        string      `name:"etag" placeholder:"ETAG" env:"-" help:"Update only if the connection still has this etag (from get)."`
}

// sourceFlagNames are the flags that change a kind's parameters.
var sourceFlagNames = []string{"host", "port", "database", "user", "ssl-mode", "tls", "url", "format", "records-path",
	"pagination", "page-size", "next-url-path", "header"}

// secretFlagNames are the flags that change the credentials.
var secretFlagNames = []string{"password-stdin", "password-file", "bearer-token-stdin", "bearer-token-file", "secret-headers-file"}

func anyGiven(given map[string]bool, names []string) bool {
	for _, n := range names {
		if given[n] {
			return true
		}
	}
	return false
}

// Validate refuses an update that would change nothing, and a change of kind.
func (c *ConnectionsUpdateCmd) Validate(kctx *kong.Context) error {
	given := flagsGiven(kctx)
	if given["kind"] {
		return errors.New("--kind cannot change: create another connection")
	}
	if !given["display-name"] && !given["agent-pool"] && !anyGiven(given, sourceFlagNames) && !anyGiven(given, secretFlagNames) {
		return errors.New("nothing to update: give --display-name, --agent-pool, a source flag (--host, --url, …) or a credential flag (--password-file, …)")
	}
	return nil
}

// Run reads the connection when its parameters change, applies the flags given, and
// sends an update_mask naming exactly what they change.
func (c *ConnectionsUpdateCmd) Run(kctx *kong.Context, s *Session, stdin io.Reader) error {
	given := flagsGiven(kctx)
	ctx, cancel := s.context()
	defer cancel()
	conn := &datagatewayv1.Connection{Name: c.Name, DisplayName: c.DisplayName, AgentPool: c.AgentPool, Etag: c.Etag}
	var mask []string
	if given["display-name"] {
		mask = append(mask, "display_name")
	}
	if given["agent-pool"] {
		mask = append(mask, "agent_pool")
	}
	kind := ""
	if anyGiven(given, sourceFlagNames) || anyGiven(given, secretFlagNames) {
		resp, err := s.Client.GetConnection(ctx, &datagatewayv1.GetConnectionRequest{Name: c.Name})
		if err != nil {
			return err
		}
		current := resp.GetConnection()
		kind = kindOf(current)
		if err := checkKindFlags(kind, given); err != nil {
			return err
		}
		if c.Etag == "" {
			// The parameters sent are the ones just read: nobody's change in between is
			// overwritten unseen.
			conn.Etag = current.GetEtag()
		}
		if anyGiven(given, sourceFlagNames) {
			mergeSource(current, &c.Source, given, conn)
			mask = append(mask, kind)
		}
	}
	if anyGiven(given, secretFlagNames) {
		creds, err := c.Secrets.credentials(kind, stdin)
		if err != nil {
			return err
		}
		if creds == nil {
			creds = &datagatewayv1.Credentials{}
		}
		conn.Credentials = creds
		mask = append(mask, "credentials")
	}
	resp, err := s.Client.UpdateConnection(ctx, &datagatewayv1.UpdateConnectionRequest{
		Connection: conn, UpdateMask: &fieldmaskpb.FieldMask{Paths: mask},
	})
	if err != nil {
		return err
	}
	return s.printConnection(resp.GetConnection())
}

// mergeSource sets on out the parameters of current changed by the flags given.
func mergeSource(current *datagatewayv1.Connection, f *sourceFlags, given map[string]bool, out *datagatewayv1.Connection) {
	set := func(flag string, apply func()) {
		if given[flag] {
			apply()
		}
	}
	switch {
	case current.GetPostgres() != nil:
		p := proto.CloneOf(current.GetPostgres())
		set("host", func() { p.Host = f.Host })
		set("port", func() { p.Port = f.Port })
		set("database", func() { p.Database = f.Database })
		set("user", func() { p.User = f.User })
		set("ssl-mode", func() { p.SslMode = sslModes[f.SSLMode] })
		out.Postgres = p
	case current.GetMysql() != nil:
		m := proto.CloneOf(current.GetMysql())
		set("host", func() { m.Host = f.Host })
		set("port", func() { m.Port = f.Port })
		set("database", func() { m.Database = f.Database })
		set("user", func() { m.User = f.User })
		set("tls", func() { m.Tls = f.TLS })
		out.Mysql = m
	case current.GetHttp() != nil:
		h := proto.CloneOf(current.GetHttp())
		set("url", func() { h.Url = f.URL })
		set("format", func() { h.Format = httpFormats[f.Format] })
		set("records-path", func() { h.RecordsPath = f.RecordsPath })
		set("pagination", func() { h.Pagination = paginations[f.Pagination] })
		set("page-size", func() { h.PageSize = f.PageSize })
		set("next-url-path", func() { h.NextUrlPath = f.NextURLPath })
		if given["header"] {
			// Checked by kong's parse already; a bad pair was refused before any call.
			h.Headers, _ = parsePairs("--header", f.Header, "Accept=application/json")
		}
		out.Http = h
	}
}

// ConnectionsDeleteCmd is `oriel connections delete`.
type ConnectionsDeleteCmd struct {
	connectionArg
	Etag string `name:"etag" placeholder:"ETAG" env:"-" help:"Delete only if the connection still has this etag."`
}

// Run deletes the connection.
func (c *ConnectionsDeleteCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteConnection(ctx, &datagatewayv1.DeleteConnectionRequest{Name: c.Name, Etag: c.Etag})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s.", c.Name)
}

// ConnectionsTestCmd is `oriel connections test`.
type ConnectionsTestCmd struct{ connectionArg }

// Run tests the connection; a source that does not answer makes the command fail, after
// printing why.
func (c *ConnectionsTestCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.TestConnection(ctx, &datagatewayv1.TestConnectionRequest{Name: c.Name})
	if err != nil {
		return err
	}
	if err := s.printConnectionTest(resp); err != nil {
		return err
	}
	if !resp.GetOk() {
		return fmt.Errorf("%s did not answer: %s", c.Name, oneLine(resp.GetError()))
	}
	return nil
}

// queryTimeoutGrace is how much longer than the query's own timeout the command waits for
// the datagateway to say the query timed out, so that the answer is its error and not a
// connection cut by the client.
const queryTimeoutGrace = 5 * time.Second

// ConnectionsQueryCmd is `oriel connections query`.
type ConnectionsQueryCmd struct {
	connectionArg
	Statement     string `arg:"" optional:"" help:"One read-only statement (SQL), or for http a path and query string resolved against the connection's URL. Read from stdin when absent or -."`
	StatementFile string `name:"statement-file" type:"existingfile" placeholder:"FILE" env:"-" help:"Read the statement from this file."`
	RowLimit      int64  `name:"row-limit" placeholder:"N" env:"-" help:"Return at most this many rows; 0, the default, means the datagateway's limit."`
	Format        string `name:"format" enum:"table,csv,jsonl,yaml," default:"" placeholder:"FORMAT" env:"-" help:"table, csv, jsonl (a JSON object per row) or yaml (a list item per row); table by default, jsonl with --output json, yaml with --output yaml."`
}

// Validate checks the statement's sources and the limit.
func (c *ConnectionsQueryCmd) Validate() error {
	if c.StatementFile != "" && c.Statement != "" && c.Statement != "-" {
		return errors.New("give the statement as an argument or --statement-file, not both")
	}
	if c.RowLimit < 0 {
		return fmt.Errorf("--row-limit must not be negative, got %d", c.RowLimit)
	}
	return nil
}

// statement is the statement to run, from the argument, the file or stdin.
func (c *ConnectionsQueryCmd) statement(stdin io.Reader) (string, error) {
	switch {
	case c.StatementFile != "":
		b, err := os.ReadFile(c.StatementFile)
		return string(b), err
	case c.Statement != "" && c.Statement != "-":
		return c.Statement, nil
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 1<<20+1))
	if err != nil {
		return "", fmt.Errorf("read the statement from stdin: %w", err)
	}
	return string(b), nil
}

// Run streams the query's rows to stdout as they come (a table once they are all in),
// and its statistics to stderr. --timeout bounds the query at the source.
func (c *ConnectionsQueryCmd) Run(s *Session, stdin io.Reader) error {
	stmt, err := c.statement(stdin)
	if err != nil {
		return err
	}
	format := c.Format
	if format == "" {
		switch s.Output {
		case outputJSON:
			format = "jsonl"
		case outputYAML:
			format = "yaml"
		default:
			format = "table"
		}
	}
	req := &datagatewayv1.QueryRequest{Name: c.Name, Statement: stmt, RowLimit: c.RowLimit}
	ctx, cancel := context.WithCancel(context.Background())
	if s.timeout > 0 {
		req.Timeout = durationpb.New(s.timeout)
		ctx, cancel = context.WithTimeout(context.Background(), s.timeout+queryTimeoutGrace)
	}
	defer cancel()
	out := newRowWriter(s.Stdout, format)
	var stats *datagatewayv1.QueryStats
	for msg, err := range s.Client.Query(ctx, req) {
		if err != nil {
			// What was printed stays; the error says the result is incomplete.
			_ = out.flush()
			return err
		}
		switch r := msg.GetResult().(type) {
		case *datagatewayv1.QueryResponse_Header:
			if err := out.header(r.Header.GetColumns()); err != nil {
				return err
			}
		case *datagatewayv1.QueryResponse_Batch:
			if err := out.batch(r.Batch); err != nil {
				return err
			}
		case *datagatewayv1.QueryResponse_Stats:
			stats = r.Stats
		}
	}
	if err := out.flush(); err != nil {
		return err
	}
	if stats == nil {
		return fmt.Errorf("query %s: the stream ended before the query's statistics: the result may be incomplete", c.Name)
	}
	note := fmt.Sprintf("(%s in %s", plural(int(stats.GetRows()), "row"), formatDuration(stats.GetDuration().AsDuration().Round(time.Millisecond)))
	if stats.GetAgent() != "" {
		note += ", through " + stats.GetAgent()
	}
	note += ")"
	if stats.GetTruncated() {
		note += "; truncated at the row limit: --row-limit asks for fewer, the datagateway's --row-limit caps more"
	}
	fmt.Fprintln(s.Stderr, note)
	return nil
}
