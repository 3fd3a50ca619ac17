package commands

import (
	"fmt"
	"strconv"
	"strings"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// countText is how many of a result a page shows: "2 of 2 rows", "10 of 35 rows, from 20".
func countText(shown int, total int64, offset int32, noun string) string {
	text := fmt.Sprintf("%d of %s", shown, plural(int(total), noun))
	if offset > 0 {
		text += fmt.Sprintf(", from %d", offset)
	}
	return text
}

// printChartData writes chart data: the columns, the rows, a totals row (when there are
// dimensions to total over) and how many rows there are.
func (s *Session) printChartData(resp *contentv1.GetChartDataResponse, offset int32) error {
	if s.structured() {
		return s.print(resp)
	}
	tw := newTable(s.Stdout)
	header := make([]string, len(resp.GetColumns()))
	dimensions := 0
	for i, c := range resp.GetColumns() {
		header[i] = c.GetLabel()
		if !c.GetMeasure() {
			dimensions++
		}
	}
	writeRow(tw, header)
	for _, r := range resp.GetRows() {
		writeRow(tw, cellTexts(r))
	}
	if totals := resp.GetTotals(); dimensions > 0 && totals != nil {
		cells := cellTexts(totals)
		if len(cells) > 0 {
			cells[0] = "Total"
		}
		writeRow(tw, cells)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := countText(len(resp.GetRows()), resp.GetTotalRows(), offset, "row")
	if resp.GetLive() {
		summary += ", queried live"
	}
	_, err := fmt.Fprintln(s.Stdout, summary)
	return err
}

// cellTexts are a row's cells as text; a null is empty, which a table shows as "-".
func cellTexts(r *contentv1.ChartRow) []string {
	out := make([]string, len(r.GetCells()))
	for i, c := range r.GetCells() {
		out[i] = c.GetText()
	}
	return out
}

// printFieldValues writes a field's values with their states and counts, then how many
// match in all.
func (s *Session) printFieldValues(resp *contentv1.GetFieldValuesResponse, offset int32) error {
	if s.structured() {
		return s.print(resp)
	}
	tw := newTable(s.Stdout)
	fmt.Fprintln(tw, "VALUE\tSTATE\tCOUNT")
	for _, v := range resp.GetValues() {
		writeRow(tw, []string{v.GetValue().GetText(), enumName(v.GetState(), "STATE_"), strconv.FormatInt(v.GetCount(), 10)})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(s.Stdout, countText(len(resp.GetValues()), resp.GetTotalValues(), offset, "value"))
	return err
}

// printDataModel writes the tables, then the fields, then the model's memory and origin.
func (s *Session) printDataModel(m *contentv1.GetDataModelResponse) error {
	if s.structured() {
		return s.print(m)
	}
	tw := newTable(s.Stdout)
	fmt.Fprintln(tw, "TABLE\tROWS\tFIELDS")
	for _, t := range m.GetTables() {
		writeRow(tw, []string{t.GetName(), strconv.FormatInt(t.GetRows(), 10), strings.Join(t.GetFields(), ", ")})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Stdout)
	tw = newTable(s.Stdout)
	fmt.Fprintln(tw, "FIELD\tDISTINCT VALUES\tTABLES")
	for _, f := range m.GetFields() {
		writeRow(tw, []string{f.GetName(), strconv.FormatInt(f.GetDistinctValues(), 10), strings.Join(f.GetTables(), ", ")})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(s.Stdout)
	b := newBlock(s.Stdout)
	b.row("Memory", byteSize(m.GetMemoryBytes()))
	b.row("Reload", m.GetReload())
	b.row("Loaded", formatTime(m.GetLoadTime()))
	return b.flush()
}

// printSelections writes a session's selections, a field a row in the order they were
// made, then whether back and forward have somewhere to go.
func (s *Session) printSelections(st *contentv1.SelectionState) error {
	if s.structured() {
		return s.print(st)
	}
	tw := newTable(s.Stdout)
	fmt.Fprintln(tw, "FIELD\tVALUES")
	for _, f := range st.GetFields() {
		writeRow(tw, []string{f.GetField(), strings.Join(f.GetValues(), ", ")})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.Stdout, "back: %s, forward: %s\n", yesNo(st.GetCanBack()), yesNo(st.GetCanForward()))
	return err
}
