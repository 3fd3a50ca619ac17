package client

import (
	"context"
	"net/http"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// GetChartData computes a chart of an app's definition, or an ad-hoc hypercube, over the
// app's loaded data under the caller's session's selections (or req's, for this call
// only), after the app's reductions removed the rows the session may not see.
func (c *Client) GetChartData(ctx context.Context, req *contentv1.GetChartDataRequest) (*contentv1.GetChartDataResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	body := proto.CloneOf(req)
	body.App = ""
	out := &contentv1.GetChartDataResponse{}
	return out, c.do(ctx, http.MethodPost, p+":chartData", nil, body, out)
}

// GetFieldValues lists the values of a field of an app with their states (selected,
// possible, alternative, excluded) and counts, as a list box shows them.
func (c *Client) GetFieldValues(ctx context.Context, req *contentv1.GetFieldValuesRequest) (*contentv1.GetFieldValuesResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	body := proto.CloneOf(req)
	body.App = ""
	out := &contentv1.GetFieldValuesResponse{}
	return out, c.do(ctx, http.MethodPost, p+":fieldValues", nil, body, out)
}

// GetDataModel describes an app's loaded data model: its tables, fields and memory, and
// the reload that produced it.
func (c *Client) GetDataModel(ctx context.Context, req *contentv1.GetDataModelRequest) (*contentv1.GetDataModelResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetDataModelResponse{}
	return out, c.do(ctx, http.MethodGet, p+":dataModel", nil, nil, out)
}

// GetSelections gets the caller's session's selections in an app (for an API key, the
// key's own).
func (c *Client) GetSelections(ctx context.Context, req *contentv1.GetSelectionsRequest) (*contentv1.GetSelectionsResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetSelectionsResponse{}
	return out, c.do(ctx, http.MethodGet, p+":selections", nil, nil, out)
}

// Select replaces a field's selection with req's values or, with toggle, toggles them in
// and out of it; it returns the session's selections after.
func (c *Client) Select(ctx context.Context, req *contentv1.SelectRequest) (*contentv1.SelectResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	body := proto.CloneOf(req)
	body.App = ""
	out := &contentv1.SelectResponse{}
	return out, c.do(ctx, http.MethodPost, p+":select", nil, body, out)
}

// ClearSelections clears one field's selection, or every field's when req names none.
func (c *Client) ClearSelections(ctx context.Context, req *contentv1.ClearSelectionsRequest) (*contentv1.ClearSelectionsResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ClearSelectionsResponse{}
	return out, c.do(ctx, http.MethodPost, p+":clearSelections", nil, &contentv1.ClearSelectionsRequest{Field: req.GetField()}, out)
}

// BackSelections steps the session's selections back to before their last change.
func (c *Client) BackSelections(ctx context.Context, req *contentv1.BackSelectionsRequest) (*contentv1.BackSelectionsResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	out := &contentv1.BackSelectionsResponse{}
	return out, c.do(ctx, http.MethodPost, p+":backSelections", nil, &contentv1.BackSelectionsRequest{}, out)
}

// ForwardSelections steps the session's selections forward again after BackSelections.
func (c *Client) ForwardSelections(ctx context.Context, req *contentv1.ForwardSelectionsRequest) (*contentv1.ForwardSelectionsResponse, error) {
	p, err := appNames.path(req.GetApp())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ForwardSelectionsResponse{}
	return out, c.do(ctx, http.MethodPost, p+":forwardSelections", nil, &contentv1.ForwardSelectionsRequest{}, out)
}
