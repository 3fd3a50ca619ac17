package client

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// CreateRollout starts deploying a template version to the tenants of req's selector; the
// tenants are fixed now (a filter is evaluated with the client's credential). The
// rollout comes back PENDING: follow it with GetRollout, WatchRollout or FollowRollout.
func (c *Client) CreateRollout(ctx context.Context, req *contentv1.CreateRolloutRequest) (*contentv1.CreateRolloutResponse, error) {
	q := url.Values{}
	setIf(q, "rolloutId", req.GetRolloutId())
	body := req.GetRollout()
	if body == nil {
		body = &contentv1.Rollout{}
	}
	out := &contentv1.CreateRolloutResponse{Rollout: &contentv1.Rollout{}}
	return out, c.do(ctx, http.MethodPost, "/v1/rollouts", q, body, out.Rollout)
}

// GetRollout gets a rollout and its progress, `rollouts/{rollout}`.
func (c *Client) GetRollout(ctx context.Context, req *contentv1.GetRolloutRequest) (*contentv1.GetRolloutResponse, error) {
	p, err := rolloutNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetRolloutResponse{Rollout: &contentv1.Rollout{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Rollout)
}

// ListRollouts returns one page of rollouts, newest first; see AllRollouts to follow every
// page.
func (c *Client) ListRollouts(ctx context.Context, req *contentv1.ListRolloutsRequest) (*contentv1.ListRolloutsResponse, error) {
	out := &contentv1.ListRolloutsResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/rollouts", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllRollouts yields every rollout, newest first, from req's page token on. It stops at the
// first error, which it yields.
func (c *Client) AllRollouts(ctx context.Context, req *contentv1.ListRolloutsRequest) iter.Seq2[*contentv1.Rollout, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.Rollout, string, error) {
		resp, err := c.ListRollouts(ctx, &contentv1.ListRolloutsRequest{PageSize: req.GetPageSize(), PageToken: token})
		return resp.GetRollouts(), resp.GetNextPageToken(), err
	})
}

// ListRolloutTargets returns one page of a rollout's tenants and how each fared, by tenant,
// only those with req's status if it has one; see AllRolloutTargets to follow every page.
func (c *Client) ListRolloutTargets(ctx context.Context, req *contentv1.ListRolloutTargetsRequest) (*contentv1.ListRolloutTargetsResponse, error) {
	p, err := rolloutNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	q := pageQuery(req.GetPageSize(), req.GetPageToken())
	if req.GetStatus() != contentv1.RolloutTarget_STATUS_UNSPECIFIED {
		q.Set("status", req.GetStatus().String())
	}
	out := &contentv1.ListRolloutTargetsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/targets", q, nil, out)
}

// AllRolloutTargets yields every target ListRolloutTargets would for req, from req's page
// token on. It stops at the first error, which it yields.
func (c *Client) AllRolloutTargets(ctx context.Context, req *contentv1.ListRolloutTargetsRequest) iter.Seq2[*contentv1.RolloutTarget, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.RolloutTarget, string, error) {
		page := proto.CloneOf(req)
		page.PageToken = token
		resp, err := c.ListRolloutTargets(ctx, page)
		return resp.GetTargets(), resp.GetNextPageToken(), err
	})
}

// CancelRollout stops a PENDING or RUNNING rollout: it becomes CANCELLING, and CANCELLED
// once the tenants being deployed to are done. Cancelling one already stopping is a no-op.
func (c *Client) CancelRollout(ctx context.Context, req *contentv1.CancelRolloutRequest) (*contentv1.CancelRolloutResponse, error) {
	p, err := rolloutNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.CancelRolloutResponse{Rollout: &contentv1.Rollout{}}
	return out, c.do(ctx, http.MethodPost, p+":cancel", nil, &contentv1.CancelRolloutRequest{}, out.Rollout)
}

// RollbackRollout returns every tenant a stopped rollout deployed to to the app it had
// before: it becomes ROLLING_BACK, then ROLLED_BACK. Rolling back one already rolling back
// is a no-op.
func (c *Client) RollbackRollout(ctx context.Context, req *contentv1.RollbackRolloutRequest) (*contentv1.RollbackRolloutResponse, error) {
	p, err := rolloutNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.RollbackRolloutResponse{Rollout: &contentv1.Rollout{}}
	return out, c.do(ctx, http.MethodPost, p+":rollback", nil, &contentv1.RollbackRolloutRequest{}, out.Rollout)
}

// WatchRollout streams a rollout: first as it is, then each time its state or progress
// changes, until it reaches a final state and the edge ends the stream. The edge serves
// the stream as one HTTP response of newline-delimited JSON objects, `{"result": …}` for
// each update and `{"error": …}` for a failure, which is yielded as an *APIError. The
// stream also ends, with an error or without, when the edge's call timeout passes (30 s
// by default): FollowRollout watches again until the rollout ends. Breaking out of the
// loop closes the connection.
func (c *Client) WatchRollout(ctx context.Context, req *contentv1.WatchRolloutRequest) iter.Seq2[*contentv1.WatchRolloutResponse, error] {
	p, err := rolloutNames.path(req.GetName())
	if err != nil {
		return func(yield func(*contentv1.WatchRolloutResponse, error) bool) { yield(nil, err) }
	}
	return stream(ctx, c, http.MethodGet, p+":watch", nil, func() *contentv1.WatchRolloutResponse { return &contentv1.WatchRolloutResponse{} })
}

// RolloutEnded reports whether a rollout is in a final state: COMPLETED, HALTED,
// CANCELLED or ROLLED_BACK.
func RolloutEnded(s contentv1.Rollout_State) bool {
	switch s {
	case contentv1.Rollout_STATE_COMPLETED, contentv1.Rollout_STATE_HALTED,
		contentv1.Rollout_STATE_CANCELLED, contentv1.Rollout_STATE_ROLLED_BACK:
		return true
	}
	return false
}

// FollowRollout yields a rollout as it is now and then each time its state or progress
// changes, until it reaches a final state (see RolloutEnded), watching it again whenever a
// watch ends early: a rollout may take longer than the edge lets one call last. It yields
// the first error that watching again would not cure (a rollout that does not exist, a
// credential refused, ctx ending, an edge that keeps failing), and stops.
func (c *Client) FollowRollout(ctx context.Context, name string) iter.Seq2[*contentv1.Rollout, error] {
	return follow(ctx, name, "rollout",
		func() iter.Seq2[*contentv1.Rollout, error] {
			return unwrap(c.WatchRollout(ctx, &contentv1.WatchRolloutRequest{Name: name}), (*contentv1.WatchRolloutResponse).GetRollout)
		},
		func(last, r *contentv1.Rollout) bool {
			return r.GetState() != last.GetState() || !proto.Equal(r.GetProgress(), last.GetProgress())
		},
		func(r *contentv1.Rollout) bool { return RolloutEnded(r.GetState()) })
}

// RetryableWatchError reports whether a watch (of a rollout, a reload, a replication)
// that ended with err may simply be started again: the edge's deadline, an edge or service
// that is briefly away, or a connection that broke; not an answer about the resource or
// the credential.
func RetryableWatchError(err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		var nameErr *nameError
		return !errors.As(err, &nameErr)
	}
	switch apiErr.Status {
	case "DEADLINE_EXCEEDED", "UNAVAILABLE", "ABORTED":
		return true
	case "":
		return apiErr.HTTPStatus == http.StatusBadGateway || apiErr.HTTPStatus == http.StatusServiceUnavailable ||
			apiErr.HTTPStatus == http.StatusGatewayTimeout
	}
	return false
}
