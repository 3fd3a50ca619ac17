package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// CreateApp creates an app in a space of a tenant; its first revision.
func (c *Client) CreateApp(ctx context.Context, req *contentv1.CreateAppRequest) (*contentv1.CreateAppResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "appId", req.GetAppId())
	body := req.GetApp()
	if body == nil {
		body = &contentv1.App{}
	}
	out := &contentv1.CreateAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+"/apps", q, body, out.App)
}

// GetApp gets an app at its latest revision, `tenants/{tenant}/apps/{app}`.
func (c *Client) GetApp(ctx context.Context, req *contentv1.GetAppRequest) (*contentv1.GetAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.App)
}

// ListApps returns one page of the apps of a tenant the caller may see, only those of
// req's space if it names one, deleted ones too with show_deleted; see AllApps to follow
// every page.
func (c *Client) ListApps(ctx context.Context, req *contentv1.ListAppsRequest) (*contentv1.ListAppsResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	q := pageQuery(req.GetPageSize(), req.GetPageToken())
	setIf(q, "space", req.GetSpace())
	if req.GetShowDeleted() {
		q.Set("showDeleted", "true")
	}
	out := &contentv1.ListAppsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/apps", q, nil, out)
}

// AllApps yields every app ListApps would for req, from req's page token on. It stops at
// the first error, which it yields.
func (c *Client) AllApps(ctx context.Context, req *contentv1.ListAppsRequest) iter.Seq2[*contentv1.App, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.App, string, error) {
		page := proto.CloneOf(req)
		page.PageToken = token
		resp, err := c.ListApps(ctx, page)
		return resp.GetApps(), resp.GetNextPageToken(), err
	})
}

// UpdateApp saves the fields named in req's update_mask (`title`, `description`,
// `labels`, `definition`, or `*`) as a new revision; with an empty mask, the edge updates
// the fields present in the body. Set the app's etag to save only if nobody changed it
// since it was read.
func (c *Client) UpdateApp(ctx context.Context, req *contentv1.UpdateAppRequest) (*contentv1.UpdateAppResponse, error) {
	p, err := appNames.path(req.GetApp().GetName())
	if err != nil {
		return nil, err
	}
	// The path carries the name; the body carries only what changes (and the etag).
	body := proto.Clone(req.GetApp()).(*contentv1.App)
	body.Name = ""
	q := url.Values{}
	setIf(q, "updateMask", strings.Join(req.GetUpdateMask().GetPaths(), ","))
	out := &contentv1.UpdateAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPatch, p, q, body, out.App)
}

// DeleteApp deletes an app softly (UndeleteApp restores it until its purge time); with an
// etag, only if it is unchanged.
func (c *Client) DeleteApp(ctx context.Context, req *contentv1.DeleteAppRequest) (*contentv1.DeleteAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "etag", req.GetEtag())
	out := &contentv1.DeleteAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodDelete, p, q, nil, out.App)
}

// UndeleteApp restores a deleted app before it is purged.
func (c *Client) UndeleteApp(ctx context.Context, req *contentv1.UndeleteAppRequest) (*contentv1.UndeleteAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.UndeleteAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+":undelete", nil, &contentv1.UndeleteAppRequest{}, out.App)
}

// ListAppRevisions returns one page of an app's revisions, newest first; see
// AllAppRevisions to follow every page.
func (c *Client) ListAppRevisions(ctx context.Context, req *contentv1.ListAppRevisionsRequest) (*contentv1.ListAppRevisionsResponse, error) {
	p, err := appNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListAppRevisionsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/revisions", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllAppRevisions yields every revision of req's app, newest first, from req's page token
// on. It stops at the first error, which it yields.
func (c *Client) AllAppRevisions(ctx context.Context, req *contentv1.ListAppRevisionsRequest) iter.Seq2[*contentv1.AppRevision, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.AppRevision, string, error) {
		page := &contentv1.ListAppRevisionsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListAppRevisions(ctx, page)
		return resp.GetRevisions(), resp.GetNextPageToken(), err
	})
}

// RestoreAppRevision makes an old revision's content the app's latest, as a new revision;
// with an etag, only if the app is unchanged.
func (c *Client) RestoreAppRevision(ctx context.Context, req *contentv1.RestoreAppRevisionRequest) (*contentv1.RestoreAppRevisionResponse, error) {
	p, err := appRevisionNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.RestoreAppRevisionResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+":restore", nil, &contentv1.RestoreAppRevisionRequest{Etag: req.GetEtag()}, out.App)
}

// CopyApp copies an app into a space of the same tenant or, for platform callers, of
// another.
func (c *Client) CopyApp(ctx context.Context, req *contentv1.CopyAppRequest) (*contentv1.CopyAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	body := proto.CloneOf(req)
	body.Name = ""
	out := &contentv1.CopyAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+":copy", nil, body, out.App)
}

// ExportApp exports an app as a self-contained, versioned bundle that ImportApp reads.
func (c *Client) ExportApp(ctx context.Context, req *contentv1.ExportAppRequest) (*contentv1.ExportAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ExportAppResponse{Bundle: &contentv1.AppBundle{}}
	return out, c.do(ctx, http.MethodGet, p+":export", nil, nil, out.Bundle)
}

// ImportApp creates an app of a tenant from a bundle.
func (c *Client) ImportApp(ctx context.Context, req *contentv1.ImportAppRequest) (*contentv1.ImportAppResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	body := proto.CloneOf(req)
	body.Parent = ""
	out := &contentv1.ImportAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+"/apps:import", nil, body, out.App)
}

// PublishApp publishes an app of a shared space into a managed space; publishing again
// updates the published app in place.
func (c *Client) PublishApp(ctx context.Context, req *contentv1.PublishAppRequest) (*contentv1.PublishAppResponse, error) {
	p, err := appNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.PublishAppResponse{App: &contentv1.App{}}
	return out, c.do(ctx, http.MethodPost, p+":publish", nil, &contentv1.PublishAppRequest{TargetSpace: req.GetTargetSpace()}, out.App)
}
