package client

import (
	"context"
	"net/http"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// WithCredential returns a client for the same edge that sends credential instead of its
// API key: an embed token, to call the API as its user, or the user's JWT, which
// ExchangeToken accepts as its credential. An empty credential sends none.
func (c *Client) WithCredential(credential string) *Client {
	cp := *c
	cp.apiKey = credential
	return &cp
}

// ExchangeToken exchanges a user's JWT for an embed token of req's tenant. Called with an
// API key holding scope embed.mint, the JWT travels in req.Jwt; called by a client whose
// credential is the JWT itself (see WithCredential), req.Jwt stays empty. A JWT is
// single-use: a second exchange of it fails with JWT_REPLAYED.
func (c *Client) ExchangeToken(ctx context.Context, req *identityv1.ExchangeTokenRequest) (*identityv1.ExchangeTokenResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	body := &identityv1.ExchangeTokenRequest{
		Jwt: req.GetJwt(), Ttl: req.GetTtl(), AllowedResources: req.GetAllowedResources(), AllowedOrigin: req.GetAllowedOrigin(),
	}
	out := &identityv1.ExchangeTokenResponse{}
	return out, c.do(ctx, http.MethodPost, p+"/embedSessions:exchange", nil, body, out)
}

// IntrospectToken says who a credential (an API key or an embed token) belongs to: the
// client's own when req.Token is empty. Another's needs scope embed.mint or
// identity.admin, and is then answered with active false when it is not valid.
func (c *Client) IntrospectToken(ctx context.Context, req *identityv1.IntrospectTokenRequest) (*identityv1.IntrospectTokenResponse, error) {
	out := &identityv1.IntrospectTokenResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/tokens:introspect", nil, &identityv1.IntrospectTokenRequest{Token: req.GetToken()}, out)
}

// RefreshToken issues a new embed token for the session of req.Token (the client's own
// when empty) before it expires; the old token keeps working for 30 seconds.
func (c *Client) RefreshToken(ctx context.Context, req *identityv1.RefreshTokenRequest) (*identityv1.RefreshTokenResponse, error) {
	out := &identityv1.RefreshTokenResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/tokens:refresh", nil, &identityv1.RefreshTokenRequest{Token: req.GetToken(), Ttl: req.GetTtl()}, out)
}

// RevokeToken revokes one embed token (the client's own when req.Token is empty) at once.
func (c *Client) RevokeToken(ctx context.Context, req *identityv1.RevokeTokenRequest) (*identityv1.RevokeTokenResponse, error) {
	out := &identityv1.RevokeTokenResponse{}
	return out, c.do(ctx, http.MethodPost, "/v1/tokens:revoke", nil, &identityv1.RevokeTokenRequest{Token: req.GetToken()}, out)
}

// RevokeUserTokens revokes every embed token a user was issued so far.
func (c *Client) RevokeUserTokens(ctx context.Context, req *identityv1.RevokeUserTokensRequest) (*identityv1.RevokeUserTokensResponse, error) {
	p, err := userNames.path(req.GetUser())
	if err != nil {
		return nil, err
	}
	out := &identityv1.RevokeUserTokensResponse{}
	return out, c.do(ctx, http.MethodPost, p+":revokeTokens", nil, &identityv1.RevokeUserTokensRequest{}, out)
}

// RevokeTenantTokens revokes every embed token of a tenant issued so far.
func (c *Client) RevokeTenantTokens(ctx context.Context, req *identityv1.RevokeTenantTokensRequest) (*identityv1.RevokeTenantTokensResponse, error) {
	p, err := tenantPath(req.GetParent(), false)
	if err != nil {
		return nil, err
	}
	out := &identityv1.RevokeTenantTokensResponse{}
	return out, c.do(ctx, http.MethodPost, p+"/embedSessions:revokeAll", nil, &identityv1.RevokeTenantTokensRequest{}, out)
}

// ListEmbedSessions lists a user's live embed sessions, soonest to expire first.
func (c *Client) ListEmbedSessions(ctx context.Context, req *identityv1.ListEmbedSessionsRequest) (*identityv1.ListEmbedSessionsResponse, error) {
	p, err := userNames.path(req.GetParent())
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListEmbedSessionsResponse{}
	return out, c.do(ctx, http.MethodGet, p+"/embedSessions", nil, nil, out)
}
