package authz

import (
	"fmt"
	"strings"
)

// Outcome is what one kind of caller gets from one RPC.
type Outcome int

// The outcomes.
const (
	// Allowed: the call succeeds.
	Allowed Outcome = iota + 1
	// Denied: PERMISSION_DENIED; the caller may see the resource but not do this.
	Denied
	// Invisible: NOT_FOUND, as for a resource that does not exist; in a listing, the
	// resource is left out.
	Invisible
)

// Symbol is how the README's matrix writes an outcome.
func (o Outcome) Symbol() string {
	switch o {
	case Allowed:
		return "✓"
	case Denied:
		return "✗"
	case Invisible:
		return "—"
	}
	return "?"
}

// Column is a kind of caller, a column of the matrix.
type Column struct {
	// Key names the column in tests.
	Key string
	// Title heads the column in the README.
	Title string
}

// Columns are the kinds of caller, in the matrix's order. Developers and viewers hold the
// named role in every space of the fixture; "viewer, with role" and "no tenant role" hold
// facilitator there, which proves that their space roles do not raise them.
var Columns = []Column{
	{"platform-write", "platform SA `content.write`"},
	{"platform-read", "platform SA `content.read`"},
	{"tenant-write", "tenant SA `content.write`"},
	{"tenant-read", "tenant SA `content.read`"},
	{"admin", "tenant admin"},
	{"dev-facilitator", "developer, facilitator"},
	{"dev-producer", "developer, producer"},
	{"dev-contributor", "developer, contributor"},
	{"dev-consumer", "developer, consumer"},
	{"dev-none", "developer, no space role"},
	{"viewer-role", "viewer, with space role"},
	{"viewer-none", "viewer, no space role"},
	{"no-role", "no tenant role"},
}

// Row is an RPC, or a variant of one where the answer depends on more than the caller.
type Row struct {
	// Service is the gRPC service, e.g. "AppService".
	Service string
	// Method is the RPC, e.g. "UpdateApp".
	Method string
	// Variant says which case of the RPC, e.g. "another's app"; "" when there is one.
	Variant string
	// Cells are the outcomes by column, in the order of Columns.
	Cells []Outcome
}

// Key names the row in tests: the method, and the variant after a slash.
func (r Row) Key() string {
	if r.Variant == "" {
		return r.Method
	}
	return r.Method + "/" + r.Variant
}

// Cell is the outcome for the column with key; it panics for an unknown key.
func (r Row) Cell(column string) Outcome {
	for i, c := range Columns {
		if c.Key == column {
			return r.Cells[i]
		}
	}
	panic("authz: no column " + column)
}

// The matrix, written out cell by cell: it is the specification, and the content service's
// tests call every RPC as every kind of caller and expect exactly these answers. Columns:
//
//	PW PR TW TR AD | FA PR CO CS -- | VR V- NR
//
// (platform write/read, tenant SA write/read, admin | developer as facilitator, producer,
// contributor, consumer, no role | viewer with/without a role, no tenant role).
var matrix = []Row{
	row("SpaceService", "CreateSpace", "shared", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✓ ✓ ✗ ✗ ✗"),
	row("SpaceService", "CreateSpace", "managed", "✓ ✗ ✓ ✗ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("SpaceService", "GetSpace", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("SpaceService", "ListSpaces", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("SpaceService", "UpdateSpace", "", "✓ ✗ ✓ ✗ ✓ ✓ ✗ ✗ ✗ — ✗ — —"),
	row("SpaceService", "DeleteSpace", "", "✓ ✗ ✓ ✗ ✓ ✓ ✗ ✗ ✗ — ✗ — —"),
	row("SpaceService", "CreateSpaceMember", "", "✓ ✗ ✓ ✗ ✓ ✓ ✗ ✗ ✗ — ✗ — —"),
	row("SpaceService", "ListSpaceMembers", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("SpaceService", "DeleteSpaceMember", "", "✓ ✗ ✓ ✗ ✓ ✓ ✗ ✗ ✗ — ✗ — —"),

	row("AppService", "CreateApp", "", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "GetApp", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppService", "ListApps", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppService", "UpdateApp", "own app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "UpdateApp", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("AppService", "DeleteApp", "own app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "DeleteApp", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("AppService", "UndeleteApp", "own app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "UndeleteApp", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("AppService", "ListAppRevisions", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppService", "RestoreAppRevision", "own app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "RestoreAppRevision", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("AppService", "CopyApp", "same tenant", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "CopyApp", "other tenant", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ — ✗ — —"),
	row("AppService", "ExportApp", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppService", "ImportApp", "", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("AppService", "PublishApp", "", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),

	row("TemplateService", "CreateTemplate", "", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "GetTemplate", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "ListTemplates", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "CreateTemplateVersion", "", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "GetTemplateVersion", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "ListTemplateVersions", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("TemplateService", "ListDrift", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),

	row("RolloutService", "CreateRollout", "", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "GetRollout", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "ListRollouts", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "ListRolloutTargets", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "CancelRollout", "", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "RollbackRollout", "", "✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),
	row("RolloutService", "WatchRollout", "", "✓ ✓ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗ ✗"),

	row("ReloadService", "CreateReload", "own app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✓ ✗ — ✗ — —"),
	row("ReloadService", "CreateReload", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("ReloadService", "GetReload", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("ReloadService", "ListReloads", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("ReloadService", "CancelReload", "another's app", "✓ ✗ ✓ ✗ ✓ ✓ ✓ ✗ ✗ — ✗ — —"),
	row("ReloadService", "WatchReload", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),

	row("AppDataService", "GetChartData", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "GetFieldValues", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "GetDataModel", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "GetSelections", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "Select", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "ClearSelections", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "BackSelections", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
	row("AppDataService", "ForwardSelections", "", "✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓ — ✓ — —"),
}

// row parses a row's cells from their symbols, so the matrix above reads like the table.
func row(service, method, variant, cells string) Row {
	r := Row{Service: service, Method: method, Variant: variant}
	for _, sym := range strings.Fields(cells) {
		switch sym {
		case "✓":
			r.Cells = append(r.Cells, Allowed)
		case "✗":
			r.Cells = append(r.Cells, Denied)
		case "—":
			r.Cells = append(r.Cells, Invisible)
		default:
			panic(fmt.Sprintf("authz: %s: unknown cell %q", r.Key(), sym))
		}
	}
	if len(r.Cells) != len(Columns) {
		panic(fmt.Sprintf("authz: %s has %d cells for %d columns", r.Key(), len(r.Cells), len(Columns)))
	}
	return r
}

// Matrix returns every row: each RPC of SpaceService, AppService, TemplateService,
// RolloutService, ReloadService and AppDataService, with its variants.
func Matrix() []Row { return append([]Row(nil), matrix...) }

// MatrixMarkdown renders the matrix as the Markdown table the README shows.
func MatrixMarkdown() string {
	var b strings.Builder
	b.WriteString("| RPC |")
	for _, c := range Columns {
		b.WriteString(" " + c.Title + " |")
	}
	b.WriteString("\n|---|")
	for range Columns {
		b.WriteString(":-:|")
	}
	b.WriteString("\n")
	for _, r := range matrix {
		label := "`" + r.Service + "." + r.Method + "`"
		if r.Variant != "" {
			label += " (" + r.Variant + ")"
		}
		b.WriteString("| " + label + " |")
		for _, o := range r.Cells {
			b.WriteString(" " + o.Symbol() + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
