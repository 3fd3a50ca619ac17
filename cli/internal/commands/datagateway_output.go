package commands

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	datagatewayv1 "github.com/oriel-dev/oriel/gen/pb/oriel/datagateway/v1"
)

// route is how a connection's source is reached: directly, or through an agent pool.
func route(c *datagatewayv1.Connection) string {
	if c.GetAgentPool() == "" {
		return "direct"
	}
	return "agent pool " + c.GetAgentPool()
}

// sourceSummary says where a connection's data is on one line: user@host:port/database,
// or the URL and format.
func sourceSummary(c *datagatewayv1.Connection) string {
	hostPort := func(host string, port, def int32) string {
		if port == 0 {
			port = def
		}
		return host + ":" + strconv.Itoa(int(port))
	}
	switch {
	case c.GetPostgres() != nil:
		p := c.GetPostgres()
		return p.GetUser() + "@" + hostPort(p.GetHost(), p.GetPort(), 5432) + "/" + p.GetDatabase()
	case c.GetMysql() != nil:
		m := c.GetMysql()
		return m.GetUser() + "@" + hostPort(m.GetHost(), m.GetPort(), 3306) + "/" + m.GetDatabase()
	case c.GetHttp() != nil:
		return c.GetHttp().GetUrl() + " (" + lowerEnumName(c.GetHttp().GetFormat(), "FORMAT_") + ")"
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (s *Session) printConnection(c *datagatewayv1.Connection) error {
	if s.structured() {
		return s.print(c)
	}
	b := newBlock(s.Stdout)
	b.row("Name", c.GetName())
	b.row("Display name", c.GetDisplayName())
	b.row("Kind", kindOf(c))
	b.row("Route", route(c))
	switch {
	case c.GetPostgres() != nil:
		p := c.GetPostgres()
		b.row("Host", p.GetHost())
		b.row("Port", orDefault(portText(p.GetPort()), "5432"))
		b.row("Database", p.GetDatabase())
		b.row("User", p.GetUser())
		b.row("SSL mode", orDefault(lowerEnumName(p.GetSslMode(), "SSL_MODE_"), "verify-full"))
	case c.GetMysql() != nil:
		m := c.GetMysql()
		b.row("Host", m.GetHost())
		b.row("Port", orDefault(portText(m.GetPort()), "3306"))
		b.row("Database", m.GetDatabase())
		b.row("User", m.GetUser())
		b.row("TLS", yesNo(m.GetTls()))
	case c.GetHttp() != nil:
		h := c.GetHttp()
		b.row("URL", h.GetUrl())
		b.row("Format", lowerEnumName(h.GetFormat(), "FORMAT_"))
		b.row("Records path", h.GetRecordsPath())
		b.row("Pagination", orDefault(lowerEnumName(h.GetPagination(), "PAGINATION_"), "none"))
		if h.GetPagination() == datagatewayv1.HttpParams_PAGINATION_OFFSET {
			b.row("Page size", orDefault(portText(h.GetPageSize()), "100"))
		}
		if h.GetPagination() == datagatewayv1.HttpParams_PAGINATION_NEXT_URL {
			b.row("Next URL path", h.GetNextUrlPath())
		}
		b.row("Headers", labelList(h.GetHeaders(), ", "))
	}
	b.row("Credentials", map[bool]string{true: "stored (encrypted; never shown)", false: "none"}[c.GetHasCredentials()])
	b.row("Created", formatTime(c.GetCreateTime()))
	b.row("Updated", formatTime(c.GetUpdateTime()))
	b.row("Etag", c.GetEtag())
	return b.flush()
}

// portText is a port or a count, "" for 0 so that orDefault shows the default.
func portText(n int32) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(int(n))
}

func printConnectionTable(w io.Writer, conns []*datagatewayv1.Connection) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tKIND\tSOURCE\tROUTE\tUPDATED")
	for _, c := range conns {
		writeRow(tw, []string{c.GetName(), c.GetDisplayName(), kindOf(c), sourceSummary(c), route(c), formatTime(c.GetUpdateTime())})
	}
	return tw.Flush()
}

func (s *Session) printConnectionTest(r *datagatewayv1.TestConnectionResponse) error {
	if s.structured() {
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	b.row("OK", yesNo(r.GetOk()))
	if !r.GetOk() {
		b.row("Error", r.GetError())
	}
	b.row("Server version", r.GetServerVersion())
	b.row("Latency", formatDuration(r.GetLatency().AsDuration().Round(time.Millisecond)))
	if r.GetAgent() != "" {
		b.row("Agent", r.GetAgent())
	}
	return b.flush()
}

func agentStateName(s datagatewayv1.Agent_State) string { return enumName(s, "STATE_") }

func (s *Session) printAgent(a *datagatewayv1.Agent) error {
	if s.structured() {
		return s.print(a)
	}
	b := newBlock(s.Stdout)
	b.row("Name", a.GetName())
	b.row("Display name", a.GetDisplayName())
	b.row("Pool", a.GetPool())
	b.row("State", agentStateName(a.GetState()))
	b.row("Version", a.GetVersion())
	b.row("Hostname", a.GetHostname())
	b.row("Connected", formatTime(a.GetConnectTime()))
	b.row("Last heartbeat", formatTime(a.GetLastHeartbeatTime()))
	b.row("In-flight queries", strconv.Itoa(int(a.GetInFlightQueries())))
	b.row("Enrolled", formatTime(a.GetEnrollTime()))
	b.row("Created", formatTime(a.GetCreateTime()))
	return b.flush()
}

func printAgentTable(w io.Writer, agents []*datagatewayv1.Agent) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tPOOL\tSTATE\tVERSION\tHOSTNAME\tLAST HEARTBEAT\tIN FLIGHT")
	for _, a := range agents {
		writeRow(tw, []string{a.GetName(), a.GetDisplayName(), a.GetPool(), agentStateName(a.GetState()), a.GetVersion(),
			a.GetHostname(), formatTime(a.GetLastHeartbeatTime()), strconv.Itoa(int(a.GetInFlightQueries()))})
	}
	return tw.Flush()
}

func replicationStateName(s datagatewayv1.Replication_State) string { return enumName(s, "STATE_") }

// lagText is a replication's lag in bytes and seconds, e.g. "1.5 MiB, 0.8s".
func lagText(r *datagatewayv1.Replication) string {
	return byteSize(r.GetLagBytes()) + ", " + strconv.FormatFloat(r.GetLagSeconds(), 'f', 1, 64) + "s"
}

// byteSize writes a size in binary units: 512 B, 1.5 MiB.
func byteSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		unit = u
		if v < 1024 {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
}

func (s *Session) printReplication(r *datagatewayv1.Replication) error {
	if s.structured() {
		return s.print(r)
	}
	b := newBlock(s.Stdout)
	b.row("Name", r.GetName())
	b.row("Display name", r.GetDisplayName())
	b.row("Source", r.GetSourceConnection())
	b.row("Target", r.GetTargetConnection())
	b.row("Tables", strings.Join(r.GetTables(), ", "))
	b.row("State", replicationStateName(r.GetState()))
	b.row("Slot", r.GetSlotName())
	b.row("Applied LSN", r.GetAppliedLsn())
	b.row("Lag", lagText(r))
	b.row("Snapshot rows", strconv.FormatInt(r.GetSnapshotRows(), 10))
	b.row("Rows applied", strconv.FormatInt(r.GetRowsApplied(), 10))
	b.row("Retained WAL", byteSize(r.GetRetainedWalBytes()))
	if r.GetLastError() != "" {
		b.row("Last error", r.GetLastError())
	}
	for _, w := range r.GetWarnings() {
		b.row("Warning", w)
	}
	b.row("Created", formatTime(r.GetCreateTime()))
	b.row("Updated", formatTime(r.GetUpdateTime()))
	b.row("Etag", r.GetEtag())
	return b.flush()
}

func printReplicationTable(w io.Writer, reps []*datagatewayv1.Replication) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tDISPLAY NAME\tSTATE\tSOURCE\tTARGET\tTABLES\tLAG\tROWS APPLIED")
	for _, r := range reps {
		writeRow(tw, []string{r.GetName(), r.GetDisplayName(), replicationStateName(r.GetState()), lastSegment(r.GetSourceConnection()),
			lastSegment(r.GetTargetConnection()), strings.Join(r.GetTables(), ","), lagText(r), strconv.FormatInt(r.GetRowsApplied(), 10)})
	}
	return tw.Flush()
}

// replicationLine is one line of `replications watch` for a person or a log.
func replicationLine(r *datagatewayv1.Replication) string {
	line := fmt.Sprintf("%s  %s: %s, lag %s, %d rows applied, retained WAL %s", time.Now().UTC().Format(time.TimeOnly),
		r.GetName(), replicationStateName(r.GetState()), lagText(r), r.GetRowsApplied(), byteSize(r.GetRetainedWalBytes()))
	if r.GetState() == datagatewayv1.Replication_STATE_SNAPSHOTTING {
		line += fmt.Sprintf(", %d snapshot rows", r.GetSnapshotRows())
	}
	if r.GetLastError() != "" {
		line += "; error: " + r.GetLastError()
	}
	for _, w := range r.GetWarnings() {
		line += "; warning: " + w
	}
	return oneLine(line)
}

// rowWriter prints a query's result as it streams: a table (aligned once every row is
// in), CSV, JSON lines or a YAML list (written batch by batch).
type rowWriter struct {
	w       io.Writer
	format  string
	rows    int
	columns []*datagatewayv1.Column
	table   *tabwriter.Writer
	csv     *csv.Writer
	buf     bytes.Buffer
}

func newRowWriter(w io.Writer, format string) *rowWriter {
	return &rowWriter{w: w, format: format}
}

func (r *rowWriter) header(columns []*datagatewayv1.Column) error {
	r.columns = columns
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.GetName()
	}
	switch r.format {
	case "table":
		r.table = newTable(r.w)
		for i := range names {
			names[i] = strings.ToUpper(cell(names[i]))
		}
		_, err := fmt.Fprintln(r.table, strings.Join(names, "\t"))
		return err
	case "csv":
		r.csv = csv.NewWriter(r.w)
		return r.csv.Write(names)
	}
	return nil
}

func (r *rowWriter) batch(b *datagatewayv1.RowBatch) error {
	if len(b.GetColumns()) != len(r.columns) {
		return fmt.Errorf("the query's stream sent a batch of %d columns for a header of %d", len(b.GetColumns()), len(r.columns))
	}
	for i := range int(b.GetRowCount()) {
		switch r.format {
		case "table":
			cells := make([]string, len(r.columns))
			for c, col := range r.columns {
				if text, null := textValue(col, b.GetColumns()[c], i); null {
					cells[c] = "NULL"
				} else {
					cells[c] = cell(text)
				}
			}
			if _, err := fmt.Fprintln(r.table, strings.Join(cells, "\t")); err != nil {
				return err
			}
		case "csv":
			cells := make([]string, len(r.columns))
			for c, col := range r.columns {
				cells[c], _ = textValue(col, b.GetColumns()[c], i)
			}
			if err := r.csv.Write(cells); err != nil {
				return err
			}
		case "jsonl", "yaml":
			if r.format == "yaml" {
				// A JSON object is a YAML flow mapping: each row is one item of a list,
				// so the list streams and its values keep their JSON types.
				r.buf.WriteString("- ")
			}
			r.buf.WriteByte('{')
			for c, col := range r.columns {
				if c > 0 {
					r.buf.WriteByte(',')
				}
				name, _ := json.Marshal(col.GetName())
				r.buf.Write(name)
				r.buf.WriteByte(':')
				v, err := json.Marshal(jsonValue(col, b.GetColumns()[c], i))
				if err != nil {
					return err
				}
				r.buf.Write(v)
			}
			r.buf.WriteString("}\n")
		}
		r.rows++
	}
	// Rows go out batch by batch, so a long result shows up (and pipes on) as it comes.
	switch r.format {
	case "csv":
		r.csv.Flush()
		return r.csv.Error()
	case "jsonl", "yaml":
		_, err := r.buf.WriteTo(r.w)
		return err
	}
	return nil
}

func (r *rowWriter) flush() error {
	switch {
	case r.format == "yaml" && r.rows == 0:
		// No item is no document; an empty list says there were no rows.
		_, err := io.WriteString(r.w, "[]\n")
		return err
	case r.table != nil:
		return r.table.Flush()
	case r.csv != nil:
		r.csv.Flush()
		return r.csv.Error()
	}
	return nil
}

// isNull reports whether row i of a column is null.
func isNull(v *datagatewayv1.ColumnValues, i int) bool {
	return i < len(v.GetNulls()) && v.GetNulls()[i]
}

func at[T any](list []T, i int) T {
	var zero T
	if i < len(list) {
		return list[i]
	}
	return zero
}

// textValue is row i of a column as text, and whether it is null.
func textValue(col *datagatewayv1.Column, v *datagatewayv1.ColumnValues, i int) (string, bool) {
	if isNull(v, i) {
		return "", true
	}
	switch col.GetType() {
	case datagatewayv1.Column_TYPE_BOOL:
		return strconv.FormatBool(at(v.GetBoolValues(), i)), false
	case datagatewayv1.Column_TYPE_INT64:
		return strconv.FormatInt(at(v.GetInt64Values(), i), 10), false
	case datagatewayv1.Column_TYPE_FLOAT64:
		return strconv.FormatFloat(at(v.GetFloat64Values(), i), 'g', -1, 64), false
	case datagatewayv1.Column_TYPE_TIMESTAMP:
		return time.UnixMicro(at(v.GetInt64Values(), i)).UTC().Format(time.RFC3339Nano), false
	case datagatewayv1.Column_TYPE_DATE:
		return time.Unix(at(v.GetInt64Values(), i)*86400, 0).UTC().Format(time.DateOnly), false
	case datagatewayv1.Column_TYPE_BYTES:
		return `\x` + hex.EncodeToString(at(v.GetBytesValues(), i)), false
	}
	return at(v.GetStringValues(), i), false
}

// jsonValue is row i of a column as a JSON value: numbers and booleans as such, JSON as
// itself, times as RFC 3339 text, decimals as text (exact), bytes as base64, null as null.
func jsonValue(col *datagatewayv1.Column, v *datagatewayv1.ColumnValues, i int) any {
	if isNull(v, i) {
		return nil
	}
	switch col.GetType() {
	case datagatewayv1.Column_TYPE_BOOL:
		return at(v.GetBoolValues(), i)
	case datagatewayv1.Column_TYPE_INT64:
		return at(v.GetInt64Values(), i)
	case datagatewayv1.Column_TYPE_FLOAT64:
		f := at(v.GetFloat64Values(), i)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64) // JSON has no NaN or infinity
		}
		return f
	case datagatewayv1.Column_TYPE_BYTES:
		return base64.StdEncoding.EncodeToString(at(v.GetBytesValues(), i))
	case datagatewayv1.Column_TYPE_JSON:
		if raw := at(v.GetStringValues(), i); json.Valid([]byte(raw)) {
			return json.RawMessage(raw)
		}
	}
	text, _ := textValue(col, v, i)
	return text
}
