package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/content/internal/engine"
	"github.com/oriel-dev/oriel/services/content/internal/models"
	"github.com/oriel-dev/oriel/services/content/internal/selection"
)

// AppDataServer implements contentv1.AppDataServiceServer: chart data, field values and
// selections, for whoever may see the app, always through the session's reductions.
type AppDataServer struct {
	contentv1.UnimplementedAppDataServiceServer
	*Server
}

// Page sizes of chart data and field values.
const (
	defaultDataLimit = 100
)

// dataSession is what every data call works on: the app, its model as this caller may see
// it, and where the caller's selections live.
type dataSession struct {
	app        *contentv1.App
	loaded     *models.Loaded
	view       *engine.View
	reductions []engine.Reduction // nil: none apply to this caller
	key        selection.Key
}

// openData reads the app the caller may see and the view of its model the caller's
// reductions leave.
func (s AppDataServer) openData(ctx context.Context, name string) (*dataSession, error) {
	app, _, err := s.visibleApp(ctx, name)
	if err != nil {
		return nil, err
	}
	if app.GetState() == contentv1.App_STATE_DELETED {
		return nil, appDeleted(name)
	}
	ids := segments(name)
	loaded, err := s.models.Get(ctx, ids["tenants"], ids["apps"])
	switch {
	case errors.Is(err, models.ErrNotLoaded):
		return nil, apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_APP_NOT_LOADED,
			name+" has no data yet: reload it first", "resource", name)
	case err != nil:
		return nil, s.toStatus(ctx, err, name)
	}
	p := auth.FromContext(ctx)
	ds := &dataSession{app: app, loaded: loaded, reductions: reductionsFor(p, app.GetDefinition()),
		key: selection.Key{Tenant: ids["tenants"], Session: sessionOf(p), App: ids["apps"]}}
	ds.view, err = loaded.View(ds.reductions)
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		// Fail closed: a reduction the model cannot apply shows nothing.
		return nil, apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_FIELD_NOT_FOUND,
			fmt.Sprintf("the app reduces rows by field %q, which its data model does not have; fix the app's reductions or its load script", fe.Field),
			"field", fe.Field)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return ds, nil
}

// reductionsFor is the row-level security of a caller: an embed session's attributes
// decide, and a session without an attribute keeps no row. Service accounts are the ISV's
// own backend and see every row.
func reductionsFor(p *auth.Principal, def *contentv1.AppDefinition) []engine.Reduction {
	if p.Kind != auth.KindEmbedSession || len(def.GetReductions()) == 0 {
		return nil
	}
	var attrs map[string]string
	if p.EmbedSession != nil {
		attrs = p.EmbedSession.Attributes
	}
	out := make([]engine.Reduction, 0, len(def.GetReductions()))
	for _, r := range def.GetReductions() {
		values := []string{}
		if v, ok := attrs[r.GetAttribute()]; ok {
			// Identity joins a list claim with commas.
			for _, x := range strings.Split(v, ",") {
				if x = strings.TrimSpace(x); x != "" {
					values = append(values, x)
				}
			}
		}
		out = append(out, engine.Reduction{Field: r.GetField(), Values: values})
	}
	return out
}

// sessionOf is whose selections a call works on: an embed session's (stable across token
// refreshes), or an API key's.
func sessionOf(p *auth.Principal) string {
	if p.EmbedSession != nil && p.EmbedSession.Name != "" {
		return p.EmbedSession.Name
	}
	if p.Credential != "" {
		return p.Credential
	}
	return p.ID
}

// selectionsOf are the selections a call applies: the request's own when it sends some,
// else the session's, less whatever a reload since removed from the model. They are only
// checked here: the caller selects them once.
func (s AppDataServer) selectionsOf(ctx context.Context, ds *dataSession, set *contentv1.SelectionSet, field string) ([]engine.Selection, error) {
	if set != nil {
		sel := make([]engine.Selection, 0, len(set.GetFields()))
		for _, f := range set.GetFields() {
			sel = append(sel, engine.Selection{Field: f.GetField(), Values: f.GetValues()})
		}
		if err := ds.view.Check(sel); err != nil {
			return nil, selectionError(err, field+".fields", sel)
		}
		return sel, nil
	}
	st, err := s.selections.Get(ctx, ds.key)
	if err != nil {
		return nil, s.selectionStoreError(ctx, err)
	}
	return stillValid(ds.view, st.Current()), nil
}

// stillValid drops the fields and values of sel that the view no longer has (a reload
// changed the data since they were selected).
func stillValid(v *engine.View, sel []engine.Selection) []engine.Selection {
	sel = slices.Clone(sel)
	for {
		err := v.Check(sel)
		var fe *engine.FieldError
		var ve *engine.ValueError
		switch {
		case errors.As(err, &fe):
			sel = slices.DeleteFunc(sel, func(s engine.Selection) bool { return s.Field == fe.Field })
		case errors.As(err, &ve):
			for i := range sel {
				if sel[i].Field == ve.Field {
					sel[i].Values = slices.DeleteFunc(slices.Clone(sel[i].Values), func(x string) bool { return x == ve.Value })
				}
			}
			sel = slices.DeleteFunc(sel, func(s engine.Selection) bool { return len(s.Values) == 0 })
		default:
			// Each round removes a field or a value, so this ends.
			return sel
		}
	}
}

// selectionError is the INVALID_ARGUMENT for selections the view refuses. path prefixes
// the request field.
func selectionError(err error, path string, sel []engine.Selection) error {
	var fe *engine.FieldError
	var ve *engine.ValueError
	switch {
	case errors.As(err, &fe):
		for i, s := range sel {
			if s.Field == fe.Field {
				return fieldNotFound(fmt.Sprintf("%s[%d].field", path, i), fe)
			}
		}
		return fieldNotFound(path, fe)
	case errors.As(err, &ve):
		for i, s := range sel {
			if j := slices.Index(s.Values, ve.Value); s.Field == ve.Field && j >= 0 {
				return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
					apierr.FieldViolation{Field: fmt.Sprintf("%s[%d].values[%d]", path, i, j), Description: ve.Error()})
			}
		}
		return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			apierr.FieldViolation{Field: path, Description: ve.Error()})
	}
	return err
}

// fieldNotFound is the INVALID_ARGUMENT for a field the model does not have.
func fieldNotFound(path string, fe *engine.FieldError) error {
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_FIELD_NOT_FOUND,
		apierr.FieldViolation{Field: path, Description: fe.Error()})
}

// selectionStoreError maps the selection store's errors.
func (s AppDataServer) selectionStoreError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, selection.ErrUnavailable):
		return apierr.New(codes.Unavailable, errorsv1.ErrorReason_ERROR_REASON_UNAVAILABLE,
			"selections are unavailable for a moment; retry")
	case errors.Is(err, selection.ErrTooLarge):
		return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			apierr.FieldViolation{Field: "values", Description: err.Error()})
	}
	return apierr.FromError(ctx, s.log, err)
}

// GetChartData computes a chart of the definition, or an ad-hoc hypercube.
func (s AppDataServer) GetChartData(ctx context.Context, req *contentv1.GetChartDataRequest) (*contentv1.GetChartDataResponse, error) {
	ds, err := s.openData(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	dims, measures, live, path, err := chartOf(ds.app.GetDefinition(), req)
	if err != nil {
		return nil, err
	}
	sel, err := s.selectionsOf(ctx, ds, req.GetSelections(), "selections")
	if err != nil {
		return nil, err
	}
	h := engine.Hypercube{Dimensions: dims, Offset: int(req.GetOffset()), Limit: int(req.GetLimit())}
	if h.Limit == 0 {
		h.Limit = defaultDataLimit
	}
	for _, m := range measures {
		h.Measures = append(h.Measures, engine.Measure{Agg: engine.Aggregation(m.GetAggregation()), Field: m.GetField()})
	}
	ncols := len(dims) + len(measures)
	for i, k := range req.GetSort() {
		if int(k.GetColumn()) >= ncols {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: fmt.Sprintf("sort[%d].column", i), Description: fmt.Sprintf("the chart has %d columns", ncols)})
		}
		h.Sort = append(h.Sort, engine.SortKey{Column: int(k.GetColumn()), Descending: k.GetDescending()})
	}
	var res *engine.Result
	if live {
		res, err = s.liveHypercube(ctx, ds, h, sel)
	} else {
		var st *engine.State
		if st, err = ds.view.Select(sel); err == nil {
			res, err = st.Hypercube(h)
		}
	}
	if err != nil {
		var fe *engine.FieldError
		if errors.As(err, &fe) {
			return nil, fieldNotFound(path(fe.Field), fe)
		}
		return nil, s.toStatus(ctx, err, req.GetApp())
	}
	out := &contentv1.GetChartDataResponse{TotalRows: int64(res.TotalRows), Live: live,
		Totals: &contentv1.ChartRow{}}
	for _, d := range dims {
		out.Columns = append(out.Columns, &contentv1.ChartColumn{Label: d})
	}
	for _, m := range measures {
		out.Columns = append(out.Columns, &contentv1.ChartColumn{Label: measureLabel(m), Measure: true, NumberFormat: m.GetNumberFormat()})
	}
	for _, r := range res.Rows {
		out.Rows = append(out.Rows, &contentv1.ChartRow{Cells: cells(r)})
	}
	out.Totals.Cells = append(cells(make([]engine.Value, len(dims))), cells(res.Totals)...)
	for i := range dims {
		out.Totals.Cells[i] = &contentv1.Cell{Null: true}
	}
	return out, nil
}

// chartOf reads what a chart-data request asks for: the chart of the definition it names,
// or its hypercube; path names the request field holding a field name, for errors.
func chartOf(def *contentv1.AppDefinition, req *contentv1.GetChartDataRequest) (dims []string, measures []*contentv1.Measure, live bool, path func(string) string, err error) {
	if h := req.GetHypercube(); h != nil {
		path = func(field string) string {
			if i := slices.Index(h.GetDimensions(), field); i >= 0 {
				return fmt.Sprintf("hypercube.dimensions[%d]", i)
			}
			for i, m := range h.GetMeasures() {
				if m.GetField() == field {
					return fmt.Sprintf("hypercube.measures[%d].field", i)
				}
			}
			return "selections"
		}
		return h.GetDimensions(), h.GetMeasures(), h.GetLive() || def.GetLive(), path, nil
	}
	ref := req.GetChart()
	for _, sh := range def.GetSheets() {
		if sh.GetId() != ref.GetSheet() {
			continue
		}
		for _, c := range sh.GetCharts() {
			if c.GetId() == ref.GetChart() {
				path = func(field string) string { return "chart" }
				return c.GetDimensions(), c.GetMeasures(), c.GetLive() || def.GetLive(), path, nil
			}
		}
	}
	return nil, nil, false, nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
		Field: "chart", Description: fmt.Sprintf("the app has no chart %q on a sheet %q", ref.GetChart(), ref.GetSheet())})
}

// measureLabel is a measure's label, or its aggregation and field.
func measureLabel(m *contentv1.Measure) string {
	if m.GetLabel() != "" {
		return m.GetLabel()
	}
	agg := map[contentv1.Measure_Aggregation]string{
		contentv1.Measure_AGGREGATION_SUM: "sum", contentv1.Measure_AGGREGATION_COUNT: "count",
		contentv1.Measure_AGGREGATION_AVG: "avg", contentv1.Measure_AGGREGATION_MIN: "min",
		contentv1.Measure_AGGREGATION_MAX: "max", contentv1.Measure_AGGREGATION_COUNT_DISTINCT: "count distinct",
	}[m.GetAggregation()]
	return fmt.Sprintf("%s(%s)", agg, m.GetField())
}

// cell is a value as the API shows it.
func cell(v engine.Value) *contentv1.Cell {
	if v.Null {
		return &contentv1.Cell{Null: true}
	}
	c := &contentv1.Cell{Text: v.Text}
	if v.IsNum {
		n := v.Num
		c.Number = &n
	}
	return c
}

func cells(vs []engine.Value) []*contentv1.Cell {
	out := make([]*contentv1.Cell, len(vs))
	for i, v := range vs {
		out[i] = cell(v)
	}
	return out
}

// GetFieldValues lists a field's values with their states and counts.
func (s AppDataServer) GetFieldValues(ctx context.Context, req *contentv1.GetFieldValuesRequest) (*contentv1.GetFieldValuesResponse, error) {
	ds, err := s.openData(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	sel, err := s.selectionsOf(ctx, ds, req.GetSelections(), "selections")
	if err != nil {
		return nil, err
	}
	st, err := ds.view.Select(sel)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetApp())
	}
	q := engine.FieldQuery{Search: req.GetSearch(), Offset: int(req.GetOffset()), Limit: int(req.GetLimit())}
	if q.Limit == 0 {
		q.Limit = defaultDataLimit
	}
	fv, err := st.FieldValues(req.GetField(), q)
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		return nil, fieldNotFound("field", fe)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetApp())
	}
	out := &contentv1.GetFieldValuesResponse{TotalValues: int64(fv.Total)}
	for _, v := range fv.Values {
		out.Values = append(out.Values, &contentv1.FieldValue{Value: cell(v.Value), State: valueState(v.State), Count: v.Count})
	}
	return out, nil
}

func valueState(st engine.ValueState) contentv1.FieldValue_State {
	switch st {
	case engine.Selected:
		return contentv1.FieldValue_STATE_SELECTED
	case engine.Possible:
		return contentv1.FieldValue_STATE_POSSIBLE
	case engine.Alternative:
		return contentv1.FieldValue_STATE_ALTERNATIVE
	}
	return contentv1.FieldValue_STATE_EXCLUDED
}

// GetDataModel describes the model as the caller sees it: a reduced session's row and
// value counts are those of its own view.
func (s AppDataServer) GetDataModel(ctx context.Context, req *contentv1.GetDataModelRequest) (*contentv1.GetDataModelResponse, error) {
	ds, err := s.openData(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	st, err := ds.view.Select(nil)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetApp())
	}
	out := &contentv1.GetDataModelResponse{MemoryBytes: ds.loaded.Model.MemoryBytes(),
		Reload: ds.loaded.Reload, LoadTime: timestamppb.New(ds.loaded.LoadTime)}
	for _, t := range ds.view.Tables() {
		out.Tables = append(out.Tables, &contentv1.DataModelTable{Name: t.Name, Rows: int64(t.Rows), Fields: t.Fields})
	}
	for _, f := range ds.loaded.Model.Fields() {
		fv, err := st.FieldValues(f.Name, engine.FieldQuery{Limit: 1})
		if err != nil {
			return nil, s.toStatus(ctx, err, req.GetApp())
		}
		out.Fields = append(out.Fields, &contentv1.DataModelField{Name: f.Name, DistinctValues: int64(fv.Total), Tables: f.Tables})
	}
	return out, nil
}

// selectionState is a session's selections as the API shows them.
func selectionState(st selection.State) *contentv1.SelectionState {
	out := &contentv1.SelectionState{CanBack: st.CanBack(), CanForward: st.CanForward()}
	for _, s := range st.Current() {
		out.Fields = append(out.Fields, &contentv1.FieldSelection{Field: s.Field, Values: s.Values})
	}
	return out
}

// changeSelections applies change to the session's selections atomically; a change the
// view refuses (an unknown field or value) is INVALID_ARGUMENT and changes nothing.
func (s AppDataServer) changeSelections(ctx context.Context, app string, change func(selection.State) (selection.State, error)) (*contentv1.SelectionState, error) {
	ds, err := s.openData(ctx, app)
	if err != nil {
		return nil, err
	}
	st, err := s.selections.Update(ctx, ds.key, func(cur selection.State) (selection.State, error) {
		next, err := change(cur)
		if err != nil {
			return cur, err
		}
		if err := ds.view.Check(next.Current()); err != nil {
			return cur, err
		}
		return next, nil
	})
	var fe *engine.FieldError
	var ve *engine.ValueError
	switch {
	case errors.As(err, &fe):
		return nil, fieldNotFound("field", fe)
	case errors.As(err, &ve):
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			apierr.FieldViolation{Field: "values", Description: ve.Error()})
	case err != nil:
		return nil, s.selectionStoreError(ctx, err)
	}
	return selectionState(st), nil
}

// GetSelections reads the session's selections.
func (s AppDataServer) GetSelections(ctx context.Context, req *contentv1.GetSelectionsRequest) (*contentv1.GetSelectionsResponse, error) {
	ds, err := s.openData(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	st, err := s.selections.Get(ctx, ds.key)
	if err != nil {
		return nil, s.selectionStoreError(ctx, err)
	}
	return &contentv1.GetSelectionsResponse{Selections: selectionState(st)}, nil
}

// Select selects values of a field.
func (s AppDataServer) Select(ctx context.Context, req *contentv1.SelectRequest) (*contentv1.SelectResponse, error) {
	st, err := s.changeSelections(ctx, req.GetApp(), func(cur selection.State) (selection.State, error) {
		return cur.Select(req.GetField(), req.GetValues(), req.GetToggle()), nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.SelectResponse{Selections: st}, nil
}

// ClearSelections clears one field's selection, or all.
func (s AppDataServer) ClearSelections(ctx context.Context, req *contentv1.ClearSelectionsRequest) (*contentv1.ClearSelectionsResponse, error) {
	st, err := s.changeSelections(ctx, req.GetApp(), func(cur selection.State) (selection.State, error) {
		return cur.Clear(req.GetField()), nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.ClearSelectionsResponse{Selections: st}, nil
}

// BackSelections steps back; with nowhere to go it changes nothing.
func (s AppDataServer) BackSelections(ctx context.Context, req *contentv1.BackSelectionsRequest) (*contentv1.BackSelectionsResponse, error) {
	st, err := s.changeSelections(ctx, req.GetApp(), func(cur selection.State) (selection.State, error) {
		next, _ := cur.Back()
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.BackSelectionsResponse{Selections: st}, nil
}

// ForwardSelections steps forward; with nowhere to go it changes nothing.
func (s AppDataServer) ForwardSelections(ctx context.Context, req *contentv1.ForwardSelectionsRequest) (*contentv1.ForwardSelectionsResponse, error) {
	st, err := s.changeSelections(ctx, req.GetApp(), func(cur selection.State) (selection.State, error) {
		next, _ := cur.Forward()
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.ForwardSelectionsResponse{Selections: st}, nil
}
