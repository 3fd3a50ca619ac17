package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// CreateReload queues a reload of an app at its latest revision, with req's variables
// over the app's own. The reload comes back QUEUED: follow it with GetReload, WatchReload
// or FollowReload. Send a request_id to make retries safe: the edge answers a retry with
// the reload the first call queued.
func (c *Client) CreateReload(ctx context.Context, req *contentv1.CreateReloadRequest) (*contentv1.CreateReloadResponse, error) {
	p, err := appNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "requestId", req.GetRequestId())
	body := req.GetReload()
	if body == nil {
		body = &contentv1.Reload{}
	}
	out := &contentv1.CreateReloadResponse{Reload: &contentv1.Reload{}}
	return out, c.do(ctx, http.MethodPost, p+"/reloads", q, body, out.Reload)
}

// GetReload gets a reload with its log, `tenants/{tenant}/apps/{app}/reloads/{reload}`.
func (c *Client) GetReload(ctx context.Context, req *contentv1.GetReloadRequest) (*contentv1.GetReloadResponse, error) {
	p, err := reloadNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetReloadResponse{Reload: &contentv1.Reload{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Reload)
}

// ListReloads returns one page of an app's reloads, newest first, without their logs; see
// AllReloads to follow every page.
func (c *Client) ListReloads(ctx context.Context, req *contentv1.ListReloadsRequest) (*contentv1.ListReloadsResponse, error) {
	p, err := appNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListReloadsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/reloads", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllReloads yields every reload of req's app, newest first, from req's page token on. It
// stops at the first error, which it yields.
func (c *Client) AllReloads(ctx context.Context, req *contentv1.ListReloadsRequest) iter.Seq2[*contentv1.Reload, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.Reload, string, error) {
		page := &contentv1.ListReloadsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListReloads(ctx, page)
		return resp.GetReloads(), resp.GetNextPageToken(), err
	})
}

// CancelReload cancels a QUEUED or RUNNING reload: it comes back CANCELED (a running one
// within moments), and the data it would have replaced keeps serving. Cancelling one that
// has ended fails with RELOAD_STATE.
func (c *Client) CancelReload(ctx context.Context, req *contentv1.CancelReloadRequest) (*contentv1.CancelReloadResponse, error) {
	p, err := reloadNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.CancelReloadResponse{Reload: &contentv1.Reload{}}
	return out, c.do(ctx, http.MethodPost, p+":cancel", nil, &contentv1.CancelReloadRequest{}, out.Reload)
}

// WatchReload streams a reload, with its log: first as it is, then at every change (a
// state, a table loaded, a line logged), until it reaches a final state and the edge ends
// the stream. The edge serves the stream as one HTTP response of newline-delimited JSON
// objects, `{"result": …}` for each update and `{"error": …}` for a failure, which is
// yielded as an *APIError. The stream also ends, with an error or without, when the edge's
// call timeout passes (30 s by default): FollowReload watches again until the reload
// ends. Breaking out of the loop closes the connection.
func (c *Client) WatchReload(ctx context.Context, req *contentv1.WatchReloadRequest) iter.Seq2[*contentv1.WatchReloadResponse, error] {
	p, err := reloadNames.path(req.GetName())
	if err != nil {
		return func(yield func(*contentv1.WatchReloadResponse, error) bool) { yield(nil, err) }
	}
	return stream(ctx, c, http.MethodGet, p+":watch", nil, func() *contentv1.WatchReloadResponse { return &contentv1.WatchReloadResponse{} })
}

// ReloadEnded reports whether a reload is in a final state: SUCCEEDED, FAILED or CANCELED.
func ReloadEnded(s contentv1.Reload_State) bool {
	switch s {
	case contentv1.Reload_STATE_SUCCEEDED, contentv1.Reload_STATE_FAILED, contentv1.Reload_STATE_CANCELED:
		return true
	}
	return false
}

// FollowReload yields a reload as it is now and then each time it changes (its state, its
// tables, its log), until it reaches a final state (see ReloadEnded), watching it again
// whenever a watch ends early: a reload may take longer than the edge lets one call last.
// It yields the first error that watching again would not cure (a reload that does not
// exist, a credential refused, ctx ending, an edge that keeps failing), and stops.
func (c *Client) FollowReload(ctx context.Context, name string) iter.Seq2[*contentv1.Reload, error] {
	return follow(ctx, name, "reload",
		func() iter.Seq2[*contentv1.Reload, error] {
			return unwrap(c.WatchReload(ctx, &contentv1.WatchReloadRequest{Name: name}), (*contentv1.WatchReloadResponse).GetReload)
		},
		func(last, r *contentv1.Reload) bool { return !proto.Equal(last, r) },
		func(r *contentv1.Reload) bool { return ReloadEnded(r.GetState()) })
}
