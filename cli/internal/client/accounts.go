package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// serviceAccountsPath is the collection of a parent's service accounts: the platform's
// (parent empty) or a tenant's.
func serviceAccountsPath(parent string) (string, error) {
	if parent == "" {
		return "/v1/serviceAccounts", nil
	}
	p, err := tenantPath(parent, false)
	if err != nil {
		return "", err
	}
	return p + "/serviceAccounts", nil
}

// CreateServiceAccount creates a service account: at platform level when req's parent is
// empty (acting on any tenant), or in the tenant it names.
func (c *Client) CreateServiceAccount(ctx context.Context, req *identityv1.CreateServiceAccountRequest) (*identityv1.CreateServiceAccountResponse, error) {
	p, err := serviceAccountsPath(req.GetParent())
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setIf(q, "serviceAccountId", req.GetServiceAccountId())
	body := req.GetServiceAccount()
	if body == nil {
		body = &identityv1.ServiceAccount{}
	}
	out := &identityv1.CreateServiceAccountResponse{ServiceAccount: &identityv1.ServiceAccount{}}
	return out, c.do(ctx, http.MethodPost, p, q, body, out.ServiceAccount)
}

// GetServiceAccount gets a service account, `serviceAccounts/{sa}` or
// `tenants/{tenant}/serviceAccounts/{sa}`.
func (c *Client) GetServiceAccount(ctx context.Context, req *identityv1.GetServiceAccountRequest) (*identityv1.GetServiceAccountResponse, error) {
	p, err := serviceAccountNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.GetServiceAccountResponse{ServiceAccount: &identityv1.ServiceAccount{}}
	return out, c.do(ctx, http.MethodGet, p, nil, nil, out.ServiceAccount)
}

// ListServiceAccounts returns one page of the platform's (parent empty) or a tenant's
// service accounts; see AllServiceAccounts to follow every page.
func (c *Client) ListServiceAccounts(ctx context.Context, req *identityv1.ListServiceAccountsRequest) (*identityv1.ListServiceAccountsResponse, error) {
	p, err := serviceAccountsPath(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListServiceAccountsResponse{}
	return out, c.do(ctx, http.MethodGet, p, pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllServiceAccounts yields every service account of req's parent, from req's page token
// on. It stops at the first error, which it yields.
func (c *Client) AllServiceAccounts(ctx context.Context, req *identityv1.ListServiceAccountsRequest) iter.Seq2[*identityv1.ServiceAccount, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.ServiceAccount, string, error) {
		page := &identityv1.ListServiceAccountsRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListServiceAccounts(ctx, page)
		return resp.GetServiceAccounts(), resp.GetNextPageToken(), err
	})
}

// DeleteServiceAccount deletes a service account and revokes its keys.
func (c *Client) DeleteServiceAccount(ctx context.Context, req *identityv1.DeleteServiceAccountRequest) (*identityv1.DeleteServiceAccountResponse, error) {
	p, err := serviceAccountNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.DeleteServiceAccountResponse{}
	return out, c.do(ctx, http.MethodDelete, p, nil, nil, out)
}

// CreateApiKey creates an API key for a service account. The response carries the
// secret, which is never shown again.
func (c *Client) CreateApiKey(ctx context.Context, req *identityv1.CreateApiKeyRequest) (*identityv1.CreateApiKeyResponse, error) {
	p, err := serviceAccountNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	body := req.GetApiKey()
	if body == nil {
		body = &identityv1.ApiKey{}
	}
	out := &identityv1.CreateApiKeyResponse{}
	return out, c.do(ctx, http.MethodPost, p+"/keys", nil, body, out)
}

// ListApiKeys returns one page of a service account's keys (never their secrets); see
// AllApiKeys to follow every page.
func (c *Client) ListApiKeys(ctx context.Context, req *identityv1.ListApiKeysRequest) (*identityv1.ListApiKeysResponse, error) {
	p, err := serviceAccountNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListApiKeysResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/keys", pageQuery(req.GetPageSize(), req.GetPageToken()), nil, out)
}

// AllApiKeys yields every key of req's service account, from req's page token on. It
// stops at the first error, which it yields.
func (c *Client) AllApiKeys(ctx context.Context, req *identityv1.ListApiKeysRequest) iter.Seq2[*identityv1.ApiKey, error] {
	return allPages(ctx, req.GetPageToken(), func(ctx context.Context, token string) ([]*identityv1.ApiKey, string, error) {
		page := &identityv1.ListApiKeysRequest{Parent: req.GetParent(), PageSize: req.GetPageSize(), PageToken: token}
		resp, err := c.ListApiKeys(ctx, page)
		return resp.GetApiKeys(), resp.GetNextPageToken(), err
	})
}

// RevokeApiKey revokes a key at once (services that cached it may accept it for a few
// more seconds).
func (c *Client) RevokeApiKey(ctx context.Context, req *identityv1.RevokeApiKeyRequest) (*identityv1.RevokeApiKeyResponse, error) {
	p, err := apiKeyNames.path(req.GetName())
	if err != nil {
		return nil, err
	}
	out := &identityv1.RevokeApiKeyResponse{ApiKey: &identityv1.ApiKey{}}
	return out, c.do(ctx, http.MethodPost, p+":revoke", nil, &identityv1.RevokeApiKeyRequest{}, out.ApiKey)
}
