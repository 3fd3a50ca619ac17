package api

import (
	"context"
	"crypto/sha256"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// ServiceAccountServer implements ServiceAccountService.
type ServiceAccountServer struct {
	identityv1.UnimplementedServiceAccountServiceServer
	*Server
}

// requireAccounts authorises managing the accounts of tenant ("" for the platform's,
// which only platform principals may touch).
func requireAccounts(ctx context.Context, tenant, resource string) error {
	if tenant == "" {
		_, err := auth.RequirePlatform(ctx, auth.ScopeIdentityAdmin)
		return err
	}
	_, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, resource)
	return err
}

// accountOf splits an account name into tenant ("" for platform) and id.
func accountOf(name string) (tenant, id string) {
	ids := segments(name)
	return ids["tenants"], ids["serviceAccounts"]
}

// CreateServiceAccount creates an account.
func (s ServiceAccountServer) CreateServiceAccount(ctx context.Context, req *identityv1.CreateServiceAccountRequest) (*identityv1.CreateServiceAccountResponse, error) {
	tenant := ""
	if req.GetParent() != "" {
		tenant = tenantOf(req.GetParent())
	}
	name := store.ServiceAccountName(tenant, req.GetServiceAccountId())
	if err := requireAccounts(ctx, tenant, name); err != nil {
		return nil, err
	}
	a := &identityv1.ServiceAccount{
		Name: name, DisplayName: req.GetServiceAccount().GetDisplayName(),
		Scopes: req.GetServiceAccount().GetScopes(), CreateTime: timestamppb.New(s.clock()),
	}
	if err := s.store.CreateServiceAccount(ctx, tenant, req.GetServiceAccountId(), a); err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &identityv1.CreateServiceAccountResponse{ServiceAccount: a}, nil
}

// GetServiceAccount returns an account.
func (s ServiceAccountServer) GetServiceAccount(ctx context.Context, req *identityv1.GetServiceAccountRequest) (*identityv1.GetServiceAccountResponse, error) {
	tenant, id := accountOf(req.GetName())
	if err := requireAccounts(ctx, tenant, req.GetName()); err != nil {
		return nil, err
	}
	a, err := s.store.GetServiceAccount(ctx, tenant, id)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.GetServiceAccountResponse{ServiceAccount: a}, nil
}

// ListServiceAccounts lists the platform's or a tenant's accounts.
func (s ServiceAccountServer) ListServiceAccounts(ctx context.Context, req *identityv1.ListServiceAccountsRequest) (*identityv1.ListServiceAccountsResponse, error) {
	tenant := ""
	if req.GetParent() != "" {
		tenant = tenantOf(req.GetParent())
	}
	if err := requireAccounts(ctx, tenant, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListServiceAccounts(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListServiceAccountsResponse{}
	resp.ServiceAccounts, resp.NextPageToken = nextPage(req, list, size, func(a *identityv1.ServiceAccount) string { return a.GetName() })
	return resp, nil
}

// DeleteServiceAccount deletes an account and revokes its keys.
func (s ServiceAccountServer) DeleteServiceAccount(ctx context.Context, req *identityv1.DeleteServiceAccountRequest) (*identityv1.DeleteServiceAccountResponse, error) {
	tenant, id := accountOf(req.GetName())
	if err := requireAccounts(ctx, tenant, req.GetName()); err != nil {
		return nil, err
	}
	keys, err := s.store.ListAPIKeys(ctx, tenant, id, store.Page{Limit: 10_000})
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	if err := s.store.DeleteServiceAccount(ctx, tenant, id, s.clock()); err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	for _, k := range keys {
		s.authn.forget(k.Hash)
	}
	return &identityv1.DeleteServiceAccountResponse{}, nil
}

// CreateApiKey creates a key and returns its secret, once.
func (s ServiceAccountServer) CreateApiKey(ctx context.Context, req *identityv1.CreateApiKeyRequest) (*identityv1.CreateApiKeyResponse, error) {
	tenant, account := accountOf(req.GetParent())
	if err := requireAccounts(ctx, tenant, req.GetParent()); err != nil {
		return nil, err
	}
	secret := auth.GenerateAPIKey()
	hash := sha256.Sum256([]byte(secret))
	k := &store.APIKey{
		Tenant: tenant, ServiceAccount: account, ID: randomID(10), DisplayName: req.GetApiKey().GetDisplayName(),
		Prefix: secret[:len(auth.APIKeyPrefix)+4], Hash: hash[:], CreateTime: s.clock(),
	}
	if t := req.GetApiKey().GetExpireTime(); t != nil {
		expire := t.AsTime()
		k.ExpireTime = &expire
	}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	return &identityv1.CreateApiKeyResponse{ApiKey: apiKeyProto(k), Secret: secret}, nil
}

// ListApiKeys lists an account's keys.
func (s ServiceAccountServer) ListApiKeys(ctx context.Context, req *identityv1.ListApiKeysRequest) (*identityv1.ListApiKeysResponse, error) {
	tenant, account := accountOf(req.GetParent())
	if err := requireAccounts(ctx, tenant, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListAPIKeys(ctx, tenant, account, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListApiKeysResponse{}
	for _, k := range list {
		resp.ApiKeys = append(resp.ApiKeys, apiKeyProto(k))
	}
	resp.ApiKeys, resp.NextPageToken = nextPage(req, resp.ApiKeys, size, func(k *identityv1.ApiKey) string { return k.GetName() })
	return resp, nil
}

// RevokeApiKey revokes a key.
func (s ServiceAccountServer) RevokeApiKey(ctx context.Context, req *identityv1.RevokeApiKeyRequest) (*identityv1.RevokeApiKeyResponse, error) {
	ids := segments(req.GetName())
	tenant, account, id := ids["tenants"], ids["serviceAccounts"], ids["keys"]
	if err := requireAccounts(ctx, tenant, req.GetName()); err != nil {
		return nil, err
	}
	k, err := s.store.RevokeAPIKey(ctx, tenant, account, id, s.clock())
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	s.authn.forget(k.Hash)
	return &identityv1.RevokeApiKeyResponse{ApiKey: apiKeyProto(k)}, nil
}

func apiKeyProto(k *store.APIKey) *identityv1.ApiKey {
	out := &identityv1.ApiKey{
		Name:        store.ServiceAccountName(k.Tenant, k.ServiceAccount) + "/keys/" + k.ID,
		DisplayName: k.DisplayName, Prefix: k.Prefix, CreateTime: timestamppb.New(k.CreateTime),
		ExpireTime: optionalTimestamp(k.ExpireTime), LastUseTime: optionalTimestamp(k.LastUseTime),
		RevokeTime: optionalTimestamp(k.RevokeTime),
	}
	return out
}

func optionalTimestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}
