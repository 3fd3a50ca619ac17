package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// ServiceAccountsCmd is `oriel service-accounts`.
type ServiceAccountsCmd struct {
	ClientFlags `embed:""`

	Create ServiceAccountsCreateCmd `cmd:"" help:"Create a service account with scopes; then give it a key with oriel keys create."`
	Get    ServiceAccountsGetCmd    `cmd:"" help:"Show a service account."`
	List   ServiceAccountsListCmd   `cmd:"" help:"List the platform's service accounts, or a tenant's (--tenant)."`
	Delete ServiceAccountsDeleteCmd `cmd:"" help:"Delete a service account and revoke its keys."`
}

// serviceAccountName accepts a platform account's id (backend) or any account's full
// name (serviceAccounts/backend, tenants/acme/serviceAccounts/admin).
func serviceAccountName(arg string) string {
	if strings.Contains(arg, "/") {
		return arg
	}
	return "serviceAccounts/" + arg
}

// serviceAccountArg is the positional name of a service account.
type serviceAccountArg struct {
	Name string `arg:"" help:"The service account: serviceAccounts/backend (or just backend) or tenants/acme/serviceAccounts/admin."`
}

// ServiceAccountsCreateCmd is `oriel service-accounts create`.
type ServiceAccountsCreateCmd struct {
	ID          string   `arg:"" help:"The account's id, e.g. backend: 3 to 63 lowercase letters, digits and hyphens."`
	Tenant      string   `name:"tenant" placeholder:"TENANT" env:"-" help:"Create it in this tenant (acme or tenants/acme), acting there only; a platform account, acting on every tenant, when empty."`
	Scope       []string `name:"scope" required:"" placeholder:"SCOPE" env:"-" help:"What its keys may do (repeatable): tenants.read, tenants.write, identity.admin, content.read, content.write, embed.mint, datagateway.admin."`
	DisplayName string   `name:"display-name" placeholder:"NAME" env:"-" help:"Human-readable name, at most 200 characters."`
}

// Run creates the account.
func (c *ServiceAccountsCreateCmd) Run(s *Session) error {
	parent := ""
	if c.Tenant != "" {
		parent = tenantName(c.Tenant)
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateServiceAccount(ctx, &identityv1.CreateServiceAccountRequest{
		Parent: parent, ServiceAccountId: c.ID,
		ServiceAccount: &identityv1.ServiceAccount{DisplayName: c.DisplayName, Scopes: nonEmpty(c.Scope)},
	})
	if err != nil {
		return err
	}
	return s.printServiceAccount(resp.GetServiceAccount())
}

// ServiceAccountsGetCmd is `oriel service-accounts get`.
type ServiceAccountsGetCmd struct{ serviceAccountArg }

// Run shows the account.
func (c *ServiceAccountsGetCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.GetServiceAccount(ctx, &identityv1.GetServiceAccountRequest{Name: serviceAccountName(c.Name)})
	if err != nil {
		return err
	}
	return s.printServiceAccount(resp.GetServiceAccount())
}

// ServiceAccountsListCmd is `oriel service-accounts list`.
type ServiceAccountsListCmd struct {
	Tenant string      `name:"tenant" placeholder:"TENANT" env:"-" help:"List this tenant's accounts (acme or tenants/acme); the platform's when empty."`
	Paging pagingFlags `embed:""`
}

// Run lists the accounts.
func (c *ServiceAccountsListCmd) Run(kctx *kong.Context, s *Session) error {
	parent := ""
	if c.Tenant != "" {
		parent = tenantName(c.Tenant)
	}
	return listing(kctx, s, c.Paging, "serviceAccounts",
		func(ctx context.Context, size int32, token string) ([]*identityv1.ServiceAccount, string, error) {
			resp, err := s.Client.ListServiceAccounts(ctx, &identityv1.ListServiceAccountsRequest{Parent: parent, PageSize: size, PageToken: token})
			return resp.GetServiceAccounts(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.ServiceAccount, next string) proto.Message {
			return &identityv1.ListServiceAccountsResponse{ServiceAccounts: items, NextPageToken: next}
		},
		printServiceAccountTable)
}

// ServiceAccountsDeleteCmd is `oriel service-accounts delete`.
type ServiceAccountsDeleteCmd struct{ serviceAccountArg }

// Run deletes the account.
func (c *ServiceAccountsDeleteCmd) Run(s *Session) error {
	name := serviceAccountName(c.Name)
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.DeleteServiceAccount(ctx, &identityv1.DeleteServiceAccountRequest{Name: name})
	if err != nil {
		return err
	}
	return s.done(resp, "Deleted %s and revoked its keys.", name)
}

// KeysCreateCmd is `oriel keys create`.
type KeysCreateCmd struct {
	ServiceAccount string        `arg:"" name:"service-account" help:"The service account: serviceAccounts/backend (or just backend) or tenants/acme/serviceAccounts/admin."`
	ExpireIn       time.Duration `name:"expire-in" placeholder:"DURATION" env:"-" help:"Make the key stop working after this long, e.g. 720h; it never expires when not given."`
	DisplayName    string        `name:"display-name" placeholder:"NAME" env:"-" help:"Human-readable name, e.g. where the key is used."`
}

// Validate refuses a key that would be born expired.
func (c *KeysCreateCmd) Validate() error {
	if c.ExpireIn < 0 {
		return fmt.Errorf("--expire-in must be positive, got %s", c.ExpireIn)
	}
	return nil
}

// Run creates the key and shows its secret, the only time it can be seen.
func (c *KeysCreateCmd) Run(s *Session) error {
	key := &identityv1.ApiKey{DisplayName: c.DisplayName}
	if c.ExpireIn > 0 {
		key.ExpireTime = timestamppb.New(time.Now().Add(c.ExpireIn).Truncate(time.Second))
	}
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.CreateApiKey(ctx, &identityv1.CreateApiKeyRequest{Parent: serviceAccountName(c.ServiceAccount), ApiKey: key})
	if err != nil {
		return err
	}
	return s.printNewAPIKey(resp)
}

// KeysListCmd is `oriel keys list`.
type KeysListCmd struct {
	ServiceAccount string      `arg:"" name:"service-account" help:"The service account: serviceAccounts/backend (or just backend) or tenants/acme/serviceAccounts/admin."`
	Paging         pagingFlags `embed:""`
}

// Run lists the account's keys, never their secrets.
func (c *KeysListCmd) Run(kctx *kong.Context, s *Session) error {
	parent := serviceAccountName(c.ServiceAccount)
	return listing(kctx, s, c.Paging, "apiKeys",
		func(ctx context.Context, size int32, token string) ([]*identityv1.ApiKey, string, error) {
			resp, err := s.Client.ListApiKeys(ctx, &identityv1.ListApiKeysRequest{Parent: parent, PageSize: size, PageToken: token})
			return resp.GetApiKeys(), resp.GetNextPageToken(), err
		},
		func(items []*identityv1.ApiKey, next string) proto.Message {
			return &identityv1.ListApiKeysResponse{ApiKeys: items, NextPageToken: next}
		},
		printAPIKeyTable)
}

// KeysRevokeCmd is `oriel keys revoke`.
type KeysRevokeCmd struct {
	Name string `arg:"" help:"The key, e.g. serviceAccounts/backend/keys/k3f… (from oriel keys list)."`
}

// Validate refuses what is obviously not a key's name, e.g. a secret pasted by mistake.
func (c *KeysRevokeCmd) Validate() error {
	if strings.HasPrefix(c.Name, "oriel_") {
		return errors.New("give the key's name (from oriel keys list), not its secret")
	}
	return nil
}

// Run revokes the key.
func (c *KeysRevokeCmd) Run(s *Session) error {
	ctx, cancel := s.context()
	defer cancel()
	resp, err := s.Client.RevokeApiKey(ctx, &identityv1.RevokeApiKeyRequest{Name: c.Name})
	if err != nil {
		return err
	}
	return s.printAPIKey(resp.GetApiKey())
}
