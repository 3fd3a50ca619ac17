package commands

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"

	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
)

// jsonOptions are the one JSON format of the CLI: the edge's camelCase names, indented so
// that both people and diff tools can read it.
var jsonOptions = protojson.MarshalOptions{Multiline: true, Indent: "  "}

// Output formats of --output.
const (
	outputTable = "table"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// jsonDocument is m as indented JSON. protojson varies its whitespace on purpose from
// build to build (so nobody relies on its bytes); re-indenting with encoding/json makes
// the output byte-stable, which is what diffs and golden files of scripts need.
func jsonDocument(m proto.Message) ([]byte, error) {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return nil, err
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// printJSON writes m as indented JSON, whatever --output says (an export bundle is a file
// of the API's JSON).
func printJSON(w io.Writer, m proto.Message) error {
	doc, err := jsonDocument(m)
	if err != nil {
		return err
	}
	_, err = w.Write(doc)
	return err
}

// writeDocument writes a JSON document in format: as it is for json; for yaml, the same
// document converted, so that the field names are the API's JSON names in either.
func writeDocument(w io.Writer, format string, doc []byte) error {
	if format == outputYAML {
		y, err := yaml.JSONToYAML(doc)
		if err != nil {
			return fmt.Errorf("convert the output to YAML: %w", err)
		}
		doc = y
	}
	_, err := w.Write(doc)
	return err
}

// structured reports whether the output is a document for programs (json or yaml) rather
// than a table for people.
func (s *Session) structured() bool { return s.Output == outputJSON || s.Output == outputYAML }

// print writes m as a document in the output format, json or yaml.
func (s *Session) print(m proto.Message) error {
	doc, err := jsonDocument(m)
	if err != nil {
		return err
	}
	return writeDocument(s.Stdout, s.Output, doc)
}

// printList writes a list response in the output format. protojson leaves out an empty
// list; a script's `.tenants[]` should find an empty array rather than nothing, so that
// case is spelled out.
func (s *Session) printList(m proto.Message, field string, n int, nextPageToken string) error {
	if n > 0 {
		return s.print(m)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  %q: []", field)
	if nextPageToken != "" {
		fmt.Fprintf(&b, ",\n  \"nextPageToken\": %q", nextPageToken)
	}
	b.WriteString("\n}\n")
	return writeDocument(s.Stdout, s.Output, []byte(b.String()))
}

// noteNextPage tells a person paging in table mode how to continue. It goes to stderr so
// that stdout holds only the table.
func (s *Session) noteNextPage(token string) {
	if token != "" {
		fmt.Fprintf(s.Stderr, "next page token: %s\n", token)
	}
}

// printTenant writes one tenant: JSON, or a key: value block that also shows what the
// table leaves out (settings, times, the etag that --etag wants).
func (s *Session) printTenant(t *tenantv1.Tenant) error {
	if s.structured() {
		return s.print(t)
	}
	tw := newTable(s.Stdout)
	row := func(key, value string) { fmt.Fprintf(tw, "%s:\t%s\n", key, cell(value)) }
	row("Name", t.GetName())
	row("Display name", t.GetDisplayName())
	row("Region", t.GetRegion())
	row("State", stateName(t.GetState()))
	row("Hostnames", strings.Join(t.GetHostnames(), ", "))
	row("Labels", labelList(t.GetLabels(), ", "))
	st := t.GetSettings()
	row("Default locale", st.GetDefaultLocale())
	row("Allowed origins", strings.Join(st.GetAllowedWebOrigins(), ", "))
	row("Primary color", st.GetTheme().GetPrimaryColor())
	row("Background color", st.GetTheme().GetBackgroundColor())
	row("Text color", st.GetTheme().GetTextColor())
	row("Font family", st.GetTheme().GetFontFamily())
	row("Plan", st.GetPlan())
	row("Created", formatTime(t.GetCreateTime()))
	row("Updated", formatTime(t.GetUpdateTime()))
	if t.GetDeactivateTime() != nil {
		row("Deactivated", formatTime(t.GetDeactivateTime()))
	}
	if t.GetPurgeTime() != nil {
		row("Purge time", formatTime(t.GetPurgeTime()))
	}
	row("Etag", t.GetEtag())
	return tw.Flush()
}

// printTenantTable writes one row per tenant. The PURGE TIME column appears only when a
// tenant has one, to keep the common all-active table narrow.
func printTenantTable(w io.Writer, tenants []*tenantv1.Tenant) error {
	withPurge := slices.ContainsFunc(tenants, func(t *tenantv1.Tenant) bool { return t.GetPurgeTime() != nil })
	tw := newTable(w)
	header := "NAME\tDISPLAY NAME\tREGION\tSTATE\tHOSTNAMES\tLABELS"
	if withPurge {
		header += "\tPURGE TIME"
	}
	fmt.Fprintln(tw, header)
	for _, t := range tenants {
		cells := []string{
			t.GetName(), t.GetDisplayName(), t.GetRegion(), stateName(t.GetState()),
			strings.Join(t.GetHostnames(), ","), labelList(t.GetLabels(), ","),
		}
		if withPurge {
			cells = append(cells, formatTime(t.GetPurgeTime()))
		}
		writeRow(tw, cells)
	}
	return tw.Flush()
}

func printEventTable(w io.Writer, events []*tenantv1.TenantEvent) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "TIME\tTYPE\tSUBJECT\tID")
	for _, e := range events {
		writeRow(tw, []string{formatTime(e.GetTime()), e.GetType(), e.GetSubject(), e.GetId()})
	}
	return tw.Flush()
}

func printRegionTable(w io.Writer, regions []*tenantv1.Region) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "CODE\tNAME")
	for _, r := range regions {
		writeRow(tw, []string{r.GetCode(), r.GetDisplayName()})
	}
	return tw.Flush()
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

func writeRow(tw io.Writer, cells []string) {
	for i := range cells {
		cells[i] = cell(cells[i])
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// cell makes a value safe for one table cell: "-" for empty, and no tabs, newlines or
// terminal escape sequences from server data (a display name is whatever a caller sent).
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return oneLine(s)
}

// oneLine replaces control characters with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// stateName drops the enum prefix: ACTIVE reads better than STATE_ACTIVE.
func stateName(s tenantv1.Tenant_State) string {
	return strings.TrimPrefix(s.String(), "STATE_")
}

// labelList writes labels as k=v sorted by key, so that output is stable.
func labelList(labels map[string]string, sep string) string {
	pairs := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		pairs = append(pairs, k+"="+labels[k])
	}
	return strings.Join(pairs, sep)
}

func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}
