package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

// CreateTemplate creates a template, without versions.
func (c *Client) CreateTemplate(ctx context.Context, req *contentv1.CreateTemplateRequest) (*contentv1.CreateTemplateResponse, error) {
	q := url.Values{}
	setIf(q, "templateId", req.GetTemplateId())
	body := req.GetTemplate()
	if body == nil {
		body = &contentv1.Template{}
	}
	out := &contentv1.CreateTemplateResponse{Template: &contentv1.Template{}}
	return out, c.do(ctx, http.MethodPost, "/v1/templates", q, body, out.Template)
}

// GetTemplate gets a template, `templates/{template}`.
func (c *Client) GetTemplate(ctx context.Context, req *contentv1.GetTemplateRequest) (*contentv1.GetTemplateResponse, error) {
	p, err := templateNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetTemplateResponse{Template: &contentv1.Template{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.Template)
}

// ListTemplates returns one page of templates; see AllTemplates to follow every page.
func (c *Client) ListTemplates(ctx context.Context, req *contentv1.ListTemplatesRequest) (*contentv1.ListTemplatesResponse, error) {
	out := &contentv1.ListTemplatesResponse{}
	return out, c.do(ctx, http.MethodGet, "/v1/templates", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllTemplates yields every template, from req's page token on. It stops at the first
// error, which it yields.
func (c *Client) AllTemplates(ctx context.Context, req *contentv1.ListTemplatesRequest) iter.Seq2[*contentv1.Template, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.Template, string, error) {
		resp, err := c.ListTemplates(ctx, &contentv1.ListTemplatesRequest{PageSize: req.GetPageSize(), PageToken: token})
		return resp.GetTemplates(), resp.GetNextPageToken(), err
	})
}

// CreateTemplateVersion adds an immutable version to a template.
func (c *Client) CreateTemplateVersion(ctx context.Context, req *contentv1.CreateTemplateVersionRequest) (*contentv1.CreateTemplateVersionResponse, error) {
	p, err := templateNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "versionId", req.GetVersionId())
	body := req.GetTemplateVersion()
	if body == nil {
		body = &contentv1.TemplateVersion{}
	}
	out := &contentv1.CreateTemplateVersionResponse{TemplateVersion: &contentv1.TemplateVersion{}}
	return out, c.do(ctx, http.MethodPost, p+"/versions", q, body, out.TemplateVersion)
}

// GetTemplateVersion gets a template version, `templates/{template}/versions/{version}`.
func (c *Client) GetTemplateVersion(ctx context.Context, req *contentv1.GetTemplateVersionRequest) (*contentv1.GetTemplateVersionResponse, error) {
	p, err := templateVersionNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &contentv1.GetTemplateVersionResponse{TemplateVersion: &contentv1.TemplateVersion{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.TemplateVersion)
}

// ListTemplateVersions returns one page of a template's versions, newest first; see
// AllTemplateVersions to follow every page.
func (c *Client) ListTemplateVersions(ctx context.Context, req *contentv1.ListTemplateVersionsRequest) (*contentv1.ListTemplateVersionsResponse, error) {
	p, err := templateNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListTemplateVersionsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/versions", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllTemplateVersions yields every version of req's template, newest first, from req's
// page token on. It stops at the first error, which it yields.
func (c *Client) AllTemplateVersions(ctx context.Context, req *contentv1.ListTemplateVersionsRequest) iter.Seq2[*contentv1.TemplateVersion, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.TemplateVersion, string, error) {
		page := &contentv1.ListTemplateVersionsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListTemplateVersions(ctx, page)
		return resp.GetTemplateVersions(), resp.GetNextPageToken(), err
	})
}

// ListDrift returns one page of the apps deployed from a template that were edited since
// (their tenants have drifted); see AllDrift to follow every page.
func (c *Client) ListDrift(ctx context.Context, req *contentv1.ListDriftRequest) (*contentv1.ListDriftResponse, error) {
	p, err := templateNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &contentv1.ListDriftResponse{}
	return out, c.do(ctx, http.MethodGet, p+":listDrift", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllDrift yields every drifted app of req's template, by app name, from req's page token
// on. It stops at the first error, which it yields.
func (c *Client) AllDrift(ctx context.Context, req *contentv1.ListDriftRequest) iter.Seq2[*contentv1.Drift, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*contentv1.Drift, string, error) {
		page := &contentv1.ListDriftRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListDrift(ctx, page)
		return resp.GetDrifts(), resp.GetNextPageToken(), err
	})
}
