package commands

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// TokenCmd is `oriel token`.
type TokenCmd struct {
	ClientFlags `embed:""`

	Exchange     TokenExchangeCmd     `cmd:"" help:"Exchange a user's JWT for an embed token (the JWT is single-use)."`
	Introspect   TokenIntrospectCmd   `cmd:"" help:"Show who a credential belongs to: an embed token, or the caller's own key (exits 1 when it is not active)."`
	Refresh      TokenRefreshCmd      `cmd:"" help:"Issue a new embed token for a live session; the old one keeps working 30s more."`
	Revoke       TokenRevokeCmd       `cmd:"" help:"Revoke one embed token at once."`
	RevokeUser   TokenRevokeUserCmd   `cmd:"" name:"revoke-user" help:"Revoke every embed token a user was issued so far."`
	RevokeTenant TokenRevokeTenantCmd `cmd:"" name:"revoke-tenant" help:"Revoke every embed token of a tenant issued so far."`
	Sessions     TokenSessionsCmd     `cmd:"" help:"List a user's live embed sessions, soonest to expire first."`
}

// ttlFlag is an embed token's lifetime: the server's default when 0.
func ttlFlag(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// TokenExchangeCmd is `oriel token exchange`.
type TokenExchangeCmd struct {
	Tenant          string        `arg:"" help:"The tenant: acme or tenants/acme."`
	JWTFile         string        `name:"jwt-file" required:"" placeholder:"FILE" env:"-" help:"A file holding the user's JWT (oriel jwt sign writes one)."`
	TTL             time.Duration `name:"ttl" placeholder:"DURATION" env:"-" help:"How long the embed token lives, 30s to 1h (5m when not given)."`
	AllowedOrigin   string        `name:"allowed-origin" placeholder:"ORIGIN" env:"-" help:"The one web origin the token may be used from, e.g. https://app.example.com."`
	AllowedResource []string      `name:"allowed-resource" placeholder:"NAME" env:"-" help:"An app or sheet the token may open (repeatable); everything the user may see when none."`
	AsUser          bool          `name:"as-user" env:"-" help:"Send the JWT itself as the credential, as a user's browser would, and no API key. Without it, the API key (scope embed.mint) is the credential and the JWT travels in the body."`
}

// Run exchanges the JWT.
func (c *TokenExchangeCmd) Run(ks *KeylessSession) error {
	s := ks.Session
	if !c.AsUser && !s.hasKey {
		return fmt.Errorf("%w; or pass --as-user to send the JWT itself as the credential", errNoAPIKey)
	}
	jwt, err := readTokenFile("--jwt-file", c.JWTFile)
	if err != nil {
		return err
	}
	req := &identityv1.ExchangeTokenRequest{
		Parent: tenantName(c.Tenant), Jwt: jwt, Ttl: ttlFlag(c.TTL),
		AllowedOrigin: c.AllowedOrigin, AllowedResources: nonEmpty(c.AllowedResource),
	}
	cl := s.Client
	if c.AsUser {
		cl = cl.WithCredential(jwt)
		req.Jwt = ""
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := cl.ExchangeToken(ctx, req)
	if err != nil {
		return err
	}
	return s.printIssuedToken(resp)
}

// TokenIntrospectCmd is `oriel token introspect`.
type TokenIntrospectCmd struct {
	Token string `arg:"" optional:"" help:"The embed token or API key to look at (needs scope embed.mint or identity.admin); the caller's own credential when left out."`
}

// errInactive is what introspection of a credential that no longer works ends with.
var errInactive = errors.New("the token is not active: it is unknown, expired or revoked")

// Run introspects the credential, and fails when it is not active.
func (c *TokenIntrospectCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.IntrospectToken(ctx, &identityv1.IntrospectTokenRequest{Token: c.Token})
	if err != nil {
		return err
	}
	if err := s.printIntrospection(resp); err != nil {
		return err
	}
	if !resp.GetActive() {
		return errInactive
	}
	return nil
}

// TokenRefreshCmd is `oriel token refresh`.
type TokenRefreshCmd struct {
	Token string        `arg:"" optional:"" help:"The embed token to refresh (needs scope embed.mint or identity.admin); the caller's own, when it is an embed token, when left out."`
	TTL   time.Duration `name:"ttl" placeholder:"DURATION" env:"-" help:"How long the new token lives, 30s to 1h (the session's lifetime when not given)."`
}

// Run refreshes the token.
func (c *TokenRefreshCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RefreshToken(ctx, &identityv1.RefreshTokenRequest{Token: c.Token, Ttl: ttlFlag(c.TTL)})
	if err != nil {
		return err
	}
	return s.printIssuedToken(resp)
}

// TokenRevokeCmd is `oriel token revoke`.
type TokenRevokeCmd struct {
	Token string `arg:"" optional:"" help:"The embed token to revoke (needs scope embed.mint or identity.admin); the caller's own, when it is an embed token, when left out."`
}

// Run revokes the token.
func (c *TokenRevokeCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RevokeToken(ctx, &identityv1.RevokeTokenRequest{Token: c.Token})
	if err != nil {
		return err
	}
	return s.done(resp, "Revoked the embed token: it is refused from now on.")
}

// TokenRevokeUserCmd is `oriel token revoke-user`.
type TokenRevokeUserCmd struct {
	User string `arg:"" help:"The user, e.g. tenants/acme/users/u3k… (from oriel users list)."`
}

// Run revokes the user's tokens.
func (c *TokenRevokeUserCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RevokeUserTokens(ctx, &identityv1.RevokeUserTokensRequest{User: c.User})
	if err != nil {
		return err
	}
	return s.done(resp, "Revoked every embed token of %s issued so far.", c.User)
}

// TokenRevokeTenantCmd is `oriel token revoke-tenant`.
type TokenRevokeTenantCmd struct {
	Tenant string `arg:"" help:"The tenant: acme or tenants/acme."`
}

// Run revokes the tenant's tokens.
func (c *TokenRevokeTenantCmd) Run(s *Session) error {
	name := tenantName(c.Tenant)
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RevokeTenantTokens(ctx, &identityv1.RevokeTenantTokensRequest{Parent: name})
	if err != nil {
		return err
	}
	return s.done(resp, "Revoked every embed token of %s issued so far.", name)
}

// TokenSessionsCmd is `oriel token sessions`.
type TokenSessionsCmd struct {
	User string `arg:"" help:"The user, e.g. tenants/acme/users/u3k… (from oriel users list)."`
}

// Run lists the user's live sessions.
func (c *TokenSessionsCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.ListEmbedSessions(ctx, &identityv1.ListEmbedSessionsRequest{Parent: c.User})
	if err != nil {
		return err
	}
	if s.structured() {
		return s.printList(resp, "embedSessions", len(resp.GetEmbedSessions()), "")
	}
	return printSessionTable(s.Stdout, resp.GetEmbedSessions())
}
