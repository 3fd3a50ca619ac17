package commands

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// aggregations are the CLI's names of a measure's aggregations.
var aggregations = map[string]contentv1.Measure_Aggregation{
	"sum": contentv1.Measure_AGGREGATION_SUM, "count": contentv1.Measure_AGGREGATION_COUNT,
	"avg": contentv1.Measure_AGGREGATION_AVG, "min": contentv1.Measure_AGGREGATION_MIN,
	"max": contentv1.Measure_AGGREGATION_MAX, "count-distinct": contentv1.Measure_AGGREGATION_COUNT_DISTINCT,
}

// aggregationNames lists them for errors, in the order of the enum.
const aggregationNames = "sum, count, avg, min, max, count-distinct"

// maxDataRows is the most rows or values one call returns.
const maxDataRows = 10000

// maxSortColumns is the most columns a chart has: 10 dimensions and 20 measures.
const maxSortColumns = 30

// parseMeasure reads AGG:FIELD or AGG:FIELD:LABEL; the label is everything after the
// field's colon, so it may hold colons of its own.
func parseMeasure(spec string) (*contentv1.Measure, error) {
	agg, rest, ok := strings.Cut(spec, ":")
	field, label, _ := strings.Cut(rest, ":")
	if !ok || agg == "" || field == "" {
		return nil, fmt.Errorf("--measure %q: want AGG:FIELD or AGG:FIELD:LABEL, e.g. sum:amount or sum:amount:Revenue", spec)
	}
	a, known := aggregations[strings.ToLower(agg)]
	if !known {
		return nil, fmt.Errorf("--measure %q: unknown aggregation %q; want one of %s", spec, agg, aggregationNames)
	}
	return &contentv1.Measure{Aggregation: a, Field: field, Label: label}, nil
}

// parseSelections reads FIELD=V1,V2 selections; nil when there are none, which leaves the
// session's selections in force.
func parseSelections(specs []string) (*contentv1.SelectionSet, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	set := &contentv1.SelectionSet{}
	for _, spec := range specs {
		field, list, ok := strings.Cut(spec, "=")
		values := strings.Split(list, ",")
		if !ok || field == "" || slices.Contains(values, "") {
			return nil, fmt.Errorf("--select %q: want FIELD=V1,V2 with no empty value, e.g. region=EU,US", spec)
		}
		if slices.ContainsFunc(set.Fields, func(f *contentv1.FieldSelection) bool { return f.GetField() == field }) {
			return nil, fmt.Errorf("--select %q: field %q is given twice; list all its values in one --select", spec, field)
		}
		set.Fields = append(set.Fields, &contentv1.FieldSelection{Field: field, Values: values})
	}
	return set, nil
}

// parseSort reads COL, COL:asc or COL:desc keys. COL is a column's number, counting from 0
// over the dimensions and then the measures, or, when columns is not nil (an ad-hoc
// hypercube, whose columns are known before the call), one of a column's names.
func parseSort(specs []string, columns [][]string) ([]*contentv1.SortKey, error) {
	var keys []*contentv1.SortKey
	for _, spec := range specs {
		col, desc := spec, false
		if i := strings.LastIndex(spec, ":"); i >= 0 {
			switch strings.ToLower(spec[i+1:]) {
			case "desc":
				col, desc = spec[:i], true
			case "asc":
				col = spec[:i]
			}
		}
		n, err := sortColumn(col, columns)
		if err != nil {
			return nil, fmt.Errorf("--sort %q: %w", spec, err)
		}
		keys = append(keys, &contentv1.SortKey{Column: int32(n), Descending: desc})
	}
	return keys, nil
}

// sortColumn finds the column col names.
func sortColumn(col string, columns [][]string) (int, error) {
	if col == "" {
		return 0, errors.New("want COL or COL:desc, COL a column's name or number (from 0), e.g. region or 1:desc")
	}
	if n, err := strconv.Atoi(col); err == nil {
		count := maxSortColumns
		if columns != nil {
			count = len(columns)
		}
		if n < 0 || n >= count {
			return 0, fmt.Errorf("column %d does not exist; the columns are numbered 0 to %d", n, count-1)
		}
		return n, nil
	}
	if columns == nil {
		return 0, errors.New("with --chart, name the column by its number: dimensions first, then measures, from 0")
	}
	for i, names := range columns {
		if slices.Contains(names, col) {
			return i, nil
		}
	}
	var known []string
	for _, names := range columns {
		known = append(known, names[0])
	}
	return 0, fmt.Errorf("no column %q; want its number (from 0) or one of %s", col, strings.Join(known, ", "))
}

// pageFlags bound the rows (or values) of a data call.
type pageFlags struct {
	Offset int32 `name:"offset" placeholder:"N" env:"-" help:"Skip this many."`
	Limit  int32 `name:"limit" placeholder:"N" env:"-" help:"Return at most this many, at most 10000 (100 when 0)."`
}

func (f pageFlags) validate() error {
	if f.Offset < 0 {
		return fmt.Errorf("--offset must not be negative, got %d", f.Offset)
	}
	if f.Limit < 0 || f.Limit > maxDataRows {
		return fmt.Errorf("--limit must be 0 to %d, got %d", maxDataRows, f.Limit)
	}
	return nil
}

// selectFlags set selections for one call instead of the session's.
type selectFlags struct {
	Select []string `name:"select" sep:"none" placeholder:"FIELD=V1,V2" env:"-" help:"Compute under these selections instead of the session's, for this call only (repeatable, a field once)."`
}

// AppsDataCmd is `oriel apps data`.
type AppsDataCmd struct {
	appArg
	Chart     string      `name:"chart" placeholder:"SHEET/CHART" env:"-" help:"A chart of the app's definition, by the ids of its sheet and itself, e.g. overview/by-region."`
	Dimension []string    `name:"dimension" sep:"none" placeholder:"FIELD" env:"-" help:"Instead of --chart, a dimension of an ad-hoc table: a field (repeatable, in order)."`
	Measure   []string    `name:"measure" sep:"none" placeholder:"AGG:FIELD[:LABEL]" env:"-" help:"Instead of --chart, a measure of an ad-hoc table (repeatable, in order); AGG is one of sum, count, avg, min, max, count-distinct, e.g. sum:amount:Revenue."`
	Live      bool        `name:"live" env:"-" help:"Query the ad-hoc table's source live instead of the loaded data."`
	Selection selectFlags `embed:""`
	Sort      []string    `name:"sort" sep:"none" placeholder:"COL[:desc]" env:"-" help:"Order rows by a column, its name (a dimension's field, a measure's label or AGG:FIELD) or number from 0, largest first with :desc (repeatable; by the dimensions when none)."`
	Page      pageFlags   `embed:""`
}

// request builds the call the flags describe, refusing what the server would refuse
// anyway so that a typo is a usage error.
func (c *AppsDataCmd) request() (*contentv1.GetChartDataRequest, error) {
	req := &contentv1.GetChartDataRequest{App: c.Name, Offset: c.Page.Offset, Limit: c.Page.Limit}
	adhoc := len(c.Dimension) > 0 || len(c.Measure) > 0
	var columns [][]string
	switch {
	case c.Chart != "" && (adhoc || c.Live):
		return nil, errors.New("--chart cannot be combined with --dimension, --measure or --live: a chart's definition says what it computes and where")
	case c.Chart != "":
		sheet, chart, ok := strings.Cut(c.Chart, "/")
		if !ok || sheet == "" || chart == "" || strings.Contains(chart, "/") {
			return nil, fmt.Errorf("--chart %q: want SHEET/CHART, the ids of a sheet and one of its charts, e.g. overview/by-region", c.Chart)
		}
		req.Chart = &contentv1.ChartRef{Sheet: sheet, Chart: chart}
	case !adhoc:
		return nil, errors.New("missing flags: --chart=SHEET/CHART, or --dimension=FIELD and --measure=AGG:FIELD")
	default:
		cube := &contentv1.Hypercube{Dimensions: c.Dimension, Live: c.Live}
		for _, d := range c.Dimension {
			if d == "" {
				return nil, errors.New("--dimension: a field name must not be empty")
			}
			columns = append(columns, []string{d})
		}
		for _, spec := range c.Measure {
			m, err := parseMeasure(spec)
			if err != nil {
				return nil, err
			}
			cube.Measures = append(cube.Measures, m)
			names := []string{lowerEnumName(m.GetAggregation(), "AGGREGATION_") + ":" + m.GetField()}
			if m.GetLabel() != "" {
				names = append([]string{m.GetLabel()}, names...)
			}
			columns = append(columns, names)
		}
		req.Hypercube = cube
	}
	var err error
	if req.Selections, err = parseSelections(c.Selection.Select); err != nil {
		return nil, err
	}
	if req.Sort, err = parseSort(c.Sort, columns); err != nil {
		return nil, err
	}
	return req, c.Page.validate()
}

// Validate checks every flag before anything is sent.
func (c *AppsDataCmd) Validate() error {
	_, err := c.request()
	return err
}

// Run computes the chart or the table.
func (c *AppsDataCmd) Run(s *Session) error {
	req, err := c.request()
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetChartData(ctx, req)
	if err != nil {
		return err
	}
	return s.printChartData(resp, c.Page.Offset)
}

// AppsValuesCmd is `oriel apps values`.
type AppsValuesCmd struct {
	appArg
	Field     string      `arg:"" help:"The field, e.g. region."`
	Search    string      `name:"search" placeholder:"TEXT" env:"-" help:"Only the values whose text contains this, ignoring case."`
	Selection selectFlags `embed:""`
	Page      pageFlags   `embed:""`
}

// Validate checks the selections and the page before anything is sent.
func (c *AppsValuesCmd) Validate() error {
	if _, err := parseSelections(c.Selection.Select); err != nil {
		return err
	}
	return c.Page.validate()
}

// Run lists the field's values.
func (c *AppsValuesCmd) Run(s *Session) error {
	sel, err := parseSelections(c.Selection.Select)
	if err != nil {
		return err
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetFieldValues(ctx, &contentv1.GetFieldValuesRequest{
		App: c.Name, Field: c.Field, Search: c.Search, Offset: c.Page.Offset, Limit: c.Page.Limit, Selections: sel,
	})
	if err != nil {
		return err
	}
	return s.printFieldValues(resp, c.Page.Offset)
}

// AppsModelCmd is `oriel apps model`.
type AppsModelCmd struct{ appArg }

// Run describes the app's data model.
func (c *AppsModelCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetDataModel(ctx, &contentv1.GetDataModelRequest{App: c.Name})
	if err != nil {
		return err
	}
	return s.printDataModel(resp)
}

// AppsSelectCmd is `oriel apps select`.
type AppsSelectCmd struct {
	appArg
	Field  string   `arg:"" help:"The field, e.g. region."`
	Values []string `arg:"" help:"The values, by their text, e.g. EU US."`
	Toggle bool     `name:"toggle" env:"-" help:"Toggle the values in and out of the field's selection instead of replacing it."`
}

// Run selects the values and shows the selections after.
func (c *AppsSelectCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.Select(ctx, &contentv1.SelectRequest{App: c.Name, Field: c.Field, Values: c.Values, Toggle: c.Toggle})
	if err != nil {
		return err
	}
	return s.printSelections(resp.GetSelections())
}

// AppsClearCmd is `oriel apps clear`.
type AppsClearCmd struct {
	appArg
	Field string `arg:"" optional:"" help:"Only this field's selection; every field's when left out."`
}

// Run clears the selections and shows them after.
func (c *AppsClearCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ClearSelections(ctx, &contentv1.ClearSelectionsRequest{App: c.Name, Field: c.Field})
	if err != nil {
		return err
	}
	return s.printSelections(resp.GetSelections())
}

// AppsBackCmd is `oriel apps back`.
type AppsBackCmd struct{ appArg }

// Run steps the selections back and shows them.
func (c *AppsBackCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.BackSelections(ctx, &contentv1.BackSelectionsRequest{App: c.Name})
	if err != nil {
		return err
	}
	return s.printSelections(resp.GetSelections())
}

// AppsForwardCmd is `oriel apps forward`.
type AppsForwardCmd struct{ appArg }

// Run steps the selections forward and shows them.
func (c *AppsForwardCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ForwardSelections(ctx, &contentv1.ForwardSelectionsRequest{App: c.Name})
	if err != nil {
		return err
	}
	return s.printSelections(resp.GetSelections())
}

// AppsSelectionsCmd is `oriel apps selections`.
type AppsSelectionsCmd struct{ appArg }

// Run shows the selections.
func (c *AppsSelectionsCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetSelections(ctx, &contentv1.GetSelectionsRequest{App: c.Name})
	if err != nil {
		return err
	}
	return s.printSelections(resp.GetSelections())
}
