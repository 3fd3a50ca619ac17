package api

import (
	"context"
	"slices"
	"strings"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/pagination"
	"github.com/oriel-dev/oriel/platform/validation"
	"github.com/oriel-dev/oriel/services/identity/internal/jwtauth"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

// ProviderServer implements IdentityProviderService.
type ProviderServer struct {
	identityv1.UnimplementedIdentityProviderServiceServer
	*Server
}

// checkProvider applies the checks the proto cannot express (keys parse and fit their
// algorithm, jwks_uri is allowed), naming fields from the request's root.
func (s ProviderServer) checkProvider(prefix string, p *identityv1.IdentityProvider) error {
	violations := jwtauth.CheckConfig(p.GetJwt(), s.devMode)
	if len(violations) == 0 {
		return nil
	}
	for i := range violations {
		violations[i].Field = prefix + "jwt." + violations[i].Field
	}
	return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
}

// CreateIdentityProvider registers a provider.
func (s ProviderServer) CreateIdentityProvider(ctx context.Context, req *identityv1.CreateIdentityProviderRequest) (*identityv1.CreateIdentityProviderResponse, error) {
	tenant := tenantOf(req.GetParent())
	name := req.GetParent() + "/identityProviders/" + req.GetIdentityProviderId()
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, name); err != nil {
		return nil, err
	}
	if err := s.checkProvider("identity_provider.", req.GetIdentityProvider()); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.clock())
	p := &identityv1.IdentityProvider{
		Name: name, DisplayName: req.GetIdentityProvider().GetDisplayName(), Jwt: req.GetIdentityProvider().GetJwt(),
		Disabled: req.GetIdentityProvider().GetDisabled(), CreateTime: now, UpdateTime: now,
	}
	if err := s.store.CreateIdentityProvider(ctx, tenant, req.GetIdentityProviderId(), p); err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &identityv1.CreateIdentityProviderResponse{IdentityProvider: p}, nil
}

// GetIdentityProvider returns a provider.
func (s ProviderServer) GetIdentityProvider(ctx context.Context, req *identityv1.GetIdentityProviderRequest) (*identityv1.GetIdentityProviderResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	p, err := s.store.GetIdentityProvider(ctx, ids["tenants"], ids["identityProviders"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.GetIdentityProviderResponse{IdentityProvider: p}, nil
}

// ListIdentityProviders lists a tenant's providers.
func (s ProviderServer) ListIdentityProviders(ctx context.Context, req *identityv1.ListIdentityProvidersRequest) (*identityv1.ListIdentityProvidersResponse, error) {
	tenant := tenantOf(req.GetParent())
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, req.GetParent()); err != nil {
		return nil, err
	}
	page, size, err := pageOf(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListIdentityProviders(ctx, tenant, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &identityv1.ListIdentityProvidersResponse{}
	resp.IdentityProviders, resp.NextPageToken = nextPage(req, list, size, func(p *identityv1.IdentityProvider) string { return p.GetName() })
	return resp, nil
}

// providerPaths are the update_mask paths UpdateIdentityProvider accepts.
var providerPaths = []string{"display_name", "jwt", "disabled"}

// UpdateIdentityProvider changes a provider.
func (s ProviderServer) UpdateIdentityProvider(ctx context.Context, req *identityv1.UpdateIdentityProviderRequest) (*identityv1.UpdateIdentityProviderResponse, error) {
	in := req.GetIdentityProvider()
	ids := segments(in.GetName())
	tenant, id := ids["tenants"], ids["identityProviders"]
	if tenant == "" || id == "" {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "identity_provider.name", Description: "must be a provider name such as tenants/acme/identityProviders/main",
		})
	}
	if _, err := auth.RequireTenant(ctx, tenant, auth.ScopeIdentityAdmin, in.GetName()); err != nil {
		return nil, err
	}
	paths, err := maskPaths(req.GetUpdateMask(), in, providerPaths, func(p string) bool { return strings.HasPrefix(p, "jwt.") })
	if err != nil {
		return nil, err
	}
	cur, err := s.store.GetIdentityProvider(ctx, tenant, id)
	if err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	next := proto.Clone(cur).(*identityv1.IdentityProvider)
	fieldmask.Update(&fieldmaskpb.FieldMask{Paths: paths}, next, in)
	if err := validation.Resource(ctx, s.log, next, "identity_provider"); err != nil {
		return nil, err
	}
	if err := s.checkProvider("identity_provider.", next); err != nil {
		return nil, err
	}
	next.UpdateTime = timestamppb.New(s.clock())
	if err := s.store.UpdateIdentityProvider(ctx, tenant, id, in.GetEtag(), next); err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	return &identityv1.UpdateIdentityProviderResponse{IdentityProvider: next}, nil
}

// DeleteIdentityProvider deletes a provider.
func (s ProviderServer) DeleteIdentityProvider(ctx context.Context, req *identityv1.DeleteIdentityProviderRequest) (*identityv1.DeleteIdentityProviderResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteIdentityProvider(ctx, ids["tenants"], ids["identityProviders"], req.GetEtag()); err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &identityv1.DeleteIdentityProviderResponse{}, nil
}

// TestToken reports every check of a sample JWT against a provider.
func (s ProviderServer) TestToken(ctx context.Context, req *identityv1.TestTokenRequest) (*identityv1.TestTokenResponse, error) {
	ids := segments(req.GetName())
	if _, err := auth.RequireTenant(ctx, ids["tenants"], auth.ScopeIdentityAdmin, req.GetName()); err != nil {
		return nil, err
	}
	p, err := s.store.GetIdentityProvider(ctx, ids["tenants"], ids["identityProviders"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return s.verifier.Test(ctx, req.GetToken(), p), nil
}

// maskPaths checks an update mask against the updatable top-level paths (plus nested ones
// sub accepts); an empty mask means the populated fields, as a PATCH does over REST, and
// name and etag are never updated (AIP-134, AIP-154).
func maskPaths(mask *fieldmaskpb.FieldMask, in proto.Message, updatable []string, sub func(string) bool) ([]string, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		in.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var out []string
	for _, p := range paths {
		switch {
		case p == "name" || p == "etag" || p == "create_time" || p == "update_time":
		case p == "*":
			out = append(out, updatable...)
		case slices.Contains(updatable, p) || sub(p):
			out = append(out, p)
		default:
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "update_mask", Description: "cannot update " + p + "; updatable: " + strings.Join(updatable, ", "),
			})
		}
	}
	if len(out) == 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: "names no updatable field: nothing to update",
		})
	}
	if err := fieldmask.Validate(&fieldmaskpb.FieldMask{Paths: out}, in); err != nil {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: err.Error(),
		})
	}
	return out, nil
}

// pageOf decodes a list request's page token and size.
func pageOf(req proto.Message, token string, size int32) (store.Page, int, error) {
	after, err := pagination.Decode(req, token)
	if err != nil {
		return store.Page{}, 0, err
	}
	n := pagination.PageSize(size)
	// One more than asked tells whether there is a next page.
	return store.Page{AfterID: after, Limit: n + 1}, n, nil
}

// nextPage trims a listing to size and makes the token for the rest.
func nextPage[T any](req proto.Message, list []T, size int, name func(T) string) ([]T, string) {
	if len(list) <= size {
		return list, ""
	}
	list = list[:size]
	return list, pagination.Encode(req, lastSegment(name(list[size-1])))
}
