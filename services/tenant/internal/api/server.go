// Package api implements oriel.tenant.v1.TenantService over the store.
package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.einride.tech/aip/fieldmask"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/pagination"
	"github.com/oriel-dev/oriel/services/tenant/internal/store"
)

// Region is an entry of the region catalog.
type Region struct {
	Code        string
	DisplayName string
}

// DefaultPurgeAfterDays is how long a deactivated tenant is kept when the caller does not
// say.
const DefaultPurgeAfterDays = 30

// Server implements TenantService.
type Server struct {
	tenantv1.UnimplementedTenantServiceServer
	store   store.Store
	regions []Region
	log     *slog.Logger
	now     func() time.Time
}

// New returns the service over st with the region catalog regions. now is the clock
// (time.Now in production).
func New(st store.Store, regions []Region, log *slog.Logger, now func() time.Time) *Server {
	return &Server{store: st, regions: regions, log: log, now: now}
}

// clock returns the current time at the precision both stores keep, so that what a call
// returns equals what a later read returns.
func (s *Server) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ListRegions returns the catalog. Any authenticated caller may read it.
func (s *Server) ListRegions(context.Context, *tenantv1.ListRegionsRequest) (*tenantv1.ListRegionsResponse, error) {
	resp := &tenantv1.ListRegionsResponse{}
	for _, r := range s.regions {
		resp.Regions = append(resp.Regions, &tenantv1.Region{Name: "regions/" + r.Code, Code: r.Code, DisplayName: r.DisplayName})
	}
	return resp, nil
}

// CreateTenant creates an ACTIVE tenant; see the proto for request_id semantics.
func (s *Server) CreateTenant(ctx context.Context, req *tenantv1.CreateTenantRequest) (*tenantv1.CreateTenantResponse, error) {
	p, err := auth.RequirePlatform(ctx, auth.ScopeTenantsWrite)
	if err != nil {
		return nil, err
	}
	in := req.GetTenant()
	if !slices.ContainsFunc(s.regions, func(r Region) bool { return r.Code == in.GetRegion() }) {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_UNKNOWN_REGION, apierr.FieldViolation{
			Field:       "tenant.region",
			Description: fmt.Sprintf("unknown region %q; one of %s (see ListRegions)", in.GetRegion(), strings.Join(s.regionCodes(), ", ")),
		})
	}
	id := req.GetTenantId()
	if id == "" {
		id = newTenantID()
	}
	now := s.clock()
	settings := in.GetSettings()
	if settings == nil {
		settings = &tenantv1.TenantSettings{}
	}
	t := &tenantv1.Tenant{
		Name:        store.TenantName(id),
		DisplayName: in.GetDisplayName(),
		Hostnames:   in.GetHostnames(),
		Region:      in.GetRegion(),
		State:       tenantv1.Tenant_STATE_ACTIVE,
		Labels:      in.GetLabels(),
		Settings:    settings,
		CreateTime:  timestamppb.New(now),
		UpdateTime:  timestamppb.New(now),
	}
	fingerprint := requestFingerprint(req)
	var out *tenantv1.Tenant
	create := func(ctx context.Context, tx store.Tx) error {
		if req.GetRequestId() != "" {
			prev, err := tx.GetRequest(ctx, p.ID, req.GetRequestId())
			switch {
			case err == nil && prev.Fingerprint != fingerprint:
				return apierr.New(codes.InvalidArgument, errorsv1.ErrorReason_ERROR_REASON_REQUEST_ID_CONFLICT,
					"request_id "+req.GetRequestId()+" was already used with a different request body; use a new request_id for a new request",
					"request_id", req.GetRequestId(), "resource", store.TenantName(prev.TenantID))
			case err == nil:
				out, err = tx.GetTenant(ctx, prev.TenantID)
				return err
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			// Recorded first: a concurrent retry blocks on this row and then finds it,
			// instead of colliding on the id or a hostname.
			if err := tx.PutRequest(ctx, &store.Request{
				Principal: p.ID, RequestID: req.GetRequestId(), Fingerprint: fingerprint, TenantID: id, CreateTime: now,
			}); err != nil {
				return err
			}
		}
		if err := tx.CreateTenant(ctx, t); err != nil {
			return err
		}
		out = t
		return tx.AppendEvent(ctx, store.NewEvent(newEventID(), "created", now, t))
	}
	err = s.store.ReadWriteTx(ctx, create)
	if errors.Is(err, store.ErrRequestExists) {
		// A concurrent call with the same request_id committed first: answer as its retry.
		err = s.store.ReadWriteTx(ctx, create)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, t.GetName())
	}
	return &tenantv1.CreateTenantResponse{Tenant: out}, nil
}

// GetTenant returns a tenant.
func (s *Server) GetTenant(ctx context.Context, req *tenantv1.GetTenantRequest) (*tenantv1.GetTenantResponse, error) {
	id := store.TenantID(req.GetName())
	if _, err := auth.RequireTenant(ctx, id, auth.ScopeTenantsRead, req.GetName()); err != nil {
		return nil, err
	}
	t, err := s.store.GetTenant(ctx, id)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &tenantv1.GetTenantResponse{Tenant: t}, nil
}

// ListTenants lists tenants by name.
func (s *Server) ListTenants(ctx context.Context, req *tenantv1.ListTenantsRequest) (*tenantv1.ListTenantsResponse, error) {
	if _, err := auth.RequirePlatform(ctx, auth.ScopeTenantsRead); err != nil {
		return nil, err
	}
	conds, err := parseFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	after, err := pagination.Decode(req, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	size := pagination.PageSize(req.GetPageSize())
	// One more than asked tells whether there is a next page.
	tenants, err := s.store.ListTenants(ctx, store.ListQuery{Conditions: conds, AfterID: after, Limit: size + 1})
	if err != nil {
		return nil, s.toStatus(ctx, err, "tenants")
	}
	resp := &tenantv1.ListTenantsResponse{Tenants: tenants}
	if len(tenants) > size {
		resp.Tenants = tenants[:size]
		resp.NextPageToken = pagination.Encode(req, store.TenantID(resp.Tenants[size-1].GetName()))
	}
	return resp, nil
}

// mutablePaths are the update_mask paths UpdateTenant accepts; "*" means the top-level ones.
var mutablePaths = []string{"display_name", "hostnames", "labels", "settings"}

// ignoredPaths are fields a mask may name but an update never changes (AIP-203: output
// only fields in a request are ignored), so that a client can PATCH back the tenant it read.
var ignoredPaths = []string{"name", "etag", "state", "purge_time", "create_time", "update_time", "deactivate_time"}

// UpdateTenant changes an ACTIVE tenant's mutable fields.
func (s *Server) UpdateTenant(ctx context.Context, req *tenantv1.UpdateTenantRequest) (*tenantv1.UpdateTenantResponse, error) {
	in := req.GetTenant()
	id := store.TenantID(in.GetName())
	if err := authorizePlatform(ctx, auth.ScopeTenantsWrite); err != nil {
		return nil, err
	}
	if in.GetName() == "" {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
			apierr.FieldViolation{Field: "tenant.name", Description: "is required: the name of the tenant to update"})
	}
	paths, err := updatePaths(req)
	if err != nil {
		return nil, err
	}
	var out *tenantv1.Tenant
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(cur, in.GetEtag()); err != nil {
			return err
		}
		if cur.GetState() != tenantv1.Tenant_STATE_ACTIVE {
			return notActive(cur)
		}
		if slices.Contains(paths, "region") && in.GetRegion() != cur.GetRegion() {
			return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_IMMUTABLE_FIELD, apierr.FieldViolation{
				Field: "tenant.region", Description: "cannot change after creation",
			})
		}
		next := proto.Clone(cur).(*tenantv1.Tenant)
		// region may be named only to restate it (checked above). The remaining mask is
		// never empty when passed on: an empty mask means "every set field" to Update.
		if changes := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "region" }); len(changes) > 0 {
			fieldmask.Update(&fieldmaskpb.FieldMask{Paths: changes}, next, in)
		}
		if next.Settings == nil {
			next.Settings = &tenantv1.TenantSettings{}
		}
		if proto.Equal(next, cur) {
			out = cur // nothing changes: no write, no event, same etag
			return nil
		}
		now := s.clock()
		next.UpdateTime = timestamppb.New(now)
		if err := tx.UpdateTenant(ctx, next); err != nil {
			return err
		}
		out = next
		return tx.AppendEvent(ctx, store.NewEvent(newEventID(), "updated", now, next))
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, in.GetName())
	}
	return &tenantv1.UpdateTenantResponse{Tenant: out}, nil
}

// updatePaths checks the update mask and returns the paths it names. An empty mask
// names the populated fields of the tenant, as a PATCH does over REST.
func updatePaths(req *tenantv1.UpdateTenantRequest) ([]string, error) {
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		req.GetTenant().ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			paths = append(paths, string(fd.Name()))
			return true
		})
	}
	var out []string
	for _, p := range paths {
		switch {
		case slices.Contains(ignoredPaths, p):
		case p == "*":
			out = append(out, mutablePaths...)
		case p == "region" || slices.Contains(mutablePaths, p) || strings.HasPrefix(p, "settings."):
			out = append(out, p)
		default:
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field:       "update_mask",
				Description: fmt.Sprintf("cannot update %q; updatable: %s, or settings.<field>", p, strings.Join(mutablePaths, ", ")),
			})
		}
	}
	if len(out) == 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: "names no updatable field: nothing to update",
		})
	}
	if err := fieldmask.Validate(&fieldmaskpb.FieldMask{Paths: out}, &tenantv1.Tenant{}); err != nil {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "update_mask", Description: err.Error(),
		})
	}
	return out, nil
}

// DeactivateTenant switches an ACTIVE tenant off and schedules its purge.
func (s *Server) DeactivateTenant(ctx context.Context, req *tenantv1.DeactivateTenantRequest) (*tenantv1.DeactivateTenantResponse, error) {
	if err := authorizePlatform(ctx, auth.ScopeTenantsWrite); err != nil {
		return nil, err
	}
	days := int32(DefaultPurgeAfterDays)
	if req.PurgeAfterDays != nil {
		days = req.GetPurgeAfterDays()
	}
	t, err := s.transition(ctx, req.GetName(), req.GetEtag(), "deactivated", func(cur *tenantv1.Tenant, now time.Time) error {
		if cur.GetState() != tenantv1.Tenant_STATE_ACTIVE {
			return notActive(cur)
		}
		if req.GetConfirmHostname() != cur.GetHostnames()[0] {
			return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_CONFIRMATION_MISMATCH,
				"confirm_hostname must equal the tenant's primary hostname (its first hostname) to deactivate it",
				"field", "confirm_hostname")
		}
		cur.State = tenantv1.Tenant_STATE_DEACTIVATED
		cur.DeactivateTime = timestamppb.New(now)
		cur.PurgeTime = timestamppb.New(now.Add(time.Duration(days) * 24 * time.Hour))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &tenantv1.DeactivateTenantResponse{Tenant: t}, nil
}

// ReactivateTenant brings a DEACTIVATED tenant back before its purge time.
func (s *Server) ReactivateTenant(ctx context.Context, req *tenantv1.ReactivateTenantRequest) (*tenantv1.ReactivateTenantResponse, error) {
	if err := authorizePlatform(ctx, auth.ScopeTenantsWrite); err != nil {
		return nil, err
	}
	t, err := s.transition(ctx, req.GetName(), req.GetEtag(), "reactivated", func(cur *tenantv1.Tenant, now time.Time) error {
		if cur.GetState() != tenantv1.Tenant_STATE_DEACTIVATED {
			return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_TENANT_NOT_DEACTIVATED,
				fmt.Sprintf("%s is %s; only a DEACTIVATED tenant can be reactivated", cur.GetName(), store.StateName(cur.GetState())),
				"resource", cur.GetName(), "state", store.StateName(cur.GetState()))
		}
		if !now.Before(cur.GetPurgeTime().AsTime()) {
			purge := cur.GetPurgeTime().AsTime().Format(time.RFC3339)
			return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_PURGE_TIME_PASSED,
				cur.GetName()+" passed its purge time "+purge+" and can no longer be reactivated",
				"resource", cur.GetName(), "purge_time", purge)
		}
		cur.State = tenantv1.Tenant_STATE_ACTIVE
		cur.DeactivateTime = nil
		cur.PurgeTime = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &tenantv1.ReactivateTenantResponse{Tenant: t}, nil
}

// transition applies change to the tenant under lock, writes it and its event.
func (s *Server) transition(ctx context.Context, name, etag, verb string, change func(cur *tenantv1.Tenant, now time.Time) error) (*tenantv1.Tenant, error) {
	var out *tenantv1.Tenant
	err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetTenant(ctx, store.TenantID(name))
		if err != nil {
			return err
		}
		if err := checkEtag(cur, etag); err != nil {
			return err
		}
		now := s.clock()
		if err := change(cur, now); err != nil {
			return err
		}
		cur.UpdateTime = timestamppb.New(now)
		if err := tx.UpdateTenant(ctx, cur); err != nil {
			return err
		}
		out = cur
		return tx.AppendEvent(ctx, store.NewEvent(newEventID(), verb, now, cur))
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return out, nil
}

// ListTenantEvents lists a tenant's events, or every tenant's for `tenants/-`.
func (s *Server) ListTenantEvents(ctx context.Context, req *tenantv1.ListTenantEventsRequest) (*tenantv1.ListTenantEventsResponse, error) {
	id := store.TenantID(req.GetParent())
	if id == "-" {
		id = ""
		if err := authorizePlatform(ctx, auth.ScopeTenantsRead); err != nil {
			return nil, err
		}
	} else {
		if _, err := auth.RequireTenant(ctx, id, auth.ScopeTenantsRead, req.GetParent()); err != nil {
			return nil, err
		}
		// A missing parent is NOT_FOUND, not an empty list.
		if _, err := s.store.GetTenant(ctx, id); err != nil {
			return nil, s.toStatus(ctx, err, req.GetParent())
		}
	}
	token, err := pagination.Decode(req, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	var after int64
	if token != "" {
		if after, err = strconv.ParseInt(token, 10, 64); err != nil {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN,
				apierr.FieldViolation{Field: "page_token", Description: "is not a page token issued by this method"})
		}
	}
	size := pagination.PageSize(req.GetPageSize())
	events, err := s.store.ListEvents(ctx, store.EventQuery{TenantID: id, AfterSeq: after, Limit: size + 1})
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &tenantv1.ListTenantEventsResponse{}
	for i, e := range events {
		if i == size {
			resp.NextPageToken = pagination.Encode(req, strconv.FormatInt(events[size-1].Seq, 10))
			break
		}
		resp.Events = append(resp.Events, e.Event)
	}
	return resp, nil
}

func authorizePlatform(ctx context.Context, scope auth.Scope) error {
	_, err := auth.RequirePlatform(ctx, scope)
	return err
}

func checkEtag(cur *tenantv1.Tenant, etag string) error {
	if etag == "" || etag == cur.GetEtag() {
		return nil
	}
	// The current etag is not disclosed: a client must read the tenant again, and see what
	// changed, before it retries.
	return apierr.New(codes.Aborted, errorsv1.ErrorReason_ERROR_REASON_ETAG_MISMATCH,
		cur.GetName()+" changed since the etag sent was read; read it again and retry",
		"resource", cur.GetName())
}

func notActive(cur *tenantv1.Tenant) error {
	state := store.StateName(cur.GetState())
	return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_TENANT_NOT_ACTIVE,
		fmt.Sprintf("%s is %s; only an ACTIVE tenant can be changed", cur.GetName(), state),
		"resource", cur.GetName(), "state", state)
}

func (s *Server) regionCodes() []string {
	codes := make([]string, len(s.regions))
	for i, r := range s.regions {
		codes[i] = r.Code
	}
	return codes
}

// requestFingerprint identifies a CreateTenant body, request_id aside.
func requestFingerprint(req *tenantv1.CreateTenantRequest) string {
	clone := proto.Clone(req).(*tenantv1.CreateTenantRequest)
	clone.RequestId = ""
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newTenantID makes an id for a tenant whose creator chose none: "t" and 96 random bits.
func newTenantID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "t" + idEncoding.EncodeToString(b)
}

// newEventID makes a CloudEvents id; UUIDv7 sorts by time.
func newEventID() string { return uuid.Must(uuid.NewV7()).String() }
