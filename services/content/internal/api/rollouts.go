package api

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	tenantv1 "github.com/oriel-dev/oriel/gen/pb/oriel/tenant/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/requestid"
	"github.com/oriel-dev/oriel/services/content/internal/rollout"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// RolloutServer implements RolloutService. It records what a rollout is to do and moves
// its state at the caller's request; the rollout engine (package rollout) does the work.
// Rollouts span tenants, so every method is for platform service accounts only.
type RolloutServer struct {
	contentv1.UnimplementedRolloutServiceServer
	*Server
}

const (
	// defaultRolloutSpace is the space apps go to when a rollout names none.
	defaultRolloutSpace = "templates"
	// maxRolloutTenants bounds a rollout's targets, a filter's as an explicit list's.
	maxRolloutTenants = 10_000
	// watchInterval is how often WatchRollout reads the rollout: progress is counted from
	// the targets, which the engine changes in another process as often as not, so there is
	// nothing to wait on but the store.
	watchInterval = 250 * time.Millisecond
)

// tenantNamePattern is the shape of `tenants/{tenant}` (as in the selector's validation
// rule, checked again here because a tenant id goes straight into the targets).
var tenantNamePattern = regexp.MustCompile(`^tenants/[a-z][a-z0-9-]{1,61}[a-z0-9]$`)

// CreateRollout fixes a rollout's tenants and stores it PENDING with its targets, for the
// engine to pick up.
//
// A template version that does not exist is NOT_FOUND naming the version (metadata
// `resource`), not the rollout: it is the one thing the request refers to that must
// already exist, and NOT_FOUND is what GetTemplateVersion would say about it too.
//
// Unknown variable names are request errors (a typo would otherwise be silently
// ignored); a tenant lacking a required variable is not: the engine fails just that
// tenant with the reason, and the others deploy.
func (s RolloutServer) CreateRollout(ctx context.Context, req *contentv1.CreateRolloutRequest) (*contentv1.CreateRolloutResponse, error) {
	if err := requirePlatform(ctx, true, "create rollouts"); err != nil {
		return nil, err
	}
	in := req.GetRollout()
	ids := segments(in.GetTemplateVersion())
	version, err := s.store.GetTemplateVersion(ctx, ids["templates"], ids["versions"])
	if err != nil {
		return nil, s.toStatus(ctx, err, in.GetTemplateVersion())
	}
	tenants, err := s.selectTenants(ctx, in.GetSelector())
	if err != nil {
		return nil, err
	}
	if violations := checkRolloutVariables(version, in, tenants); len(violations) > 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
	}
	missing := 0
	for _, t := range tenants {
		var m *rollout.MissingVariableError
		if _, err := rollout.Resolve(version, in, t); errors.As(err, &m) {
			missing++
		} else if err != nil {
			return nil, s.toStatus(ctx, err, in.GetTemplateVersion())
		}
	}

	id := req.GetRolloutId()
	if id == "" {
		id = newContentID("r")
	}
	name := store.RolloutName(id)
	now := timestamppb.New(s.clock())
	r := proto.Clone(in).(*contentv1.Rollout)
	r.Name = name
	// The defaults are written down, so that the rollout says where its apps went.
	if r.SpaceId == "" {
		r.SpaceId = defaultRolloutSpace
	}
	if r.AppId == "" {
		r.AppId = ids["templates"]
	}
	r.State = contentv1.Rollout_STATE_PENDING
	r.Progress = nil
	r.Creator = caller(ctx).ID
	r.CreateTime, r.UpdateTime, r.EndTime = now, now, nil

	waves := rollout.AssignWaves(len(tenants), r.GetStrategy().GetWaves())
	targets := make([]*store.Target, len(tenants))
	for i, t := range tenants {
		targets[i] = &store.Target{
			Rollout: id, Tenant: t, Wave: waves[i],
			Status: contentv1.RolloutTarget_STATUS_PENDING, App: r.AppId,
		}
	}
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateRollout(ctx, id, r, targets)
	})
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	s.log.InfoContext(ctx, "rollout created", "rollout", name, "template_version", r.GetTemplateVersion(),
		"tenants", len(tenants), "tenants_missing_variables", missing)
	r.Progress = &contentv1.Progress{Total: int32(len(tenants)), Pending: int32(len(tenants))}
	return &contentv1.CreateRolloutResponse{Rollout: r}, nil
}

// selectTenants returns the ids of the tenants a selector names: an explicit list in the
// order given (so an ISV can put its canaries first), or a filter's active tenants in name
// order.
func (s RolloutServer) selectTenants(ctx context.Context, sel *contentv1.TenantSelector) ([]string, error) {
	if sel.GetFilter() == "" {
		var ids []string
		var violations []apierr.FieldViolation
		seen := map[string]bool{}
		for i, name := range sel.GetTenants() {
			field := fmt.Sprintf("rollout.selector.tenants[%d]", i)
			switch {
			case !tenantNamePattern.MatchString(name):
				violations = append(violations, apierr.FieldViolation{Field: field, Description: "must be a tenant name such as tenants/acme"})
			case seen[name]:
				violations = append(violations, apierr.FieldViolation{Field: field, Description: name + " is listed more than once"})
			default:
				seen[name] = true
				ids = append(ids, strings.TrimPrefix(name, "tenants/"))
			}
		}
		if len(violations) > 0 {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, violations...)
		}
		if len(ids) == 0 {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "rollout.selector", Description: "selects no tenant: list tenants, or give a filter",
			})
		}
		return ids, nil
	}
	ids, err := s.filterTenants(ctx, sel.GetFilter())
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "rollout.selector.filter", Description: "selects no tenant: no ACTIVE tenant matches it",
		})
	}
	return ids, nil
}

// filterTenants asks the tenant service for the active tenants matching filter, page
// after page. It calls with the caller's own credential, never one of the content
// service's: a caller must not learn through a rollout which tenants exist when the
// tenant service would not tell it (it needs tenants.read).
func (s RolloutServer) filterTenants(ctx context.Context, filter string) ([]string, error) {
	if s.tenants == nil {
		return nil, apierr.Unavailable("tenant filters cannot be evaluated: this content service is not connected to the tenant service; list the tenants explicitly")
	}
	credential, err := auth.BearerCredential(ctx)
	if err != nil {
		return nil, err
	}
	// A fresh outgoing context: nothing of the caller's metadata travels on but its
	// credential and the request id that correlates the logs.
	md := metadata.Pairs("authorization", "Bearer "+credential)
	if id := requestid.FromContext(ctx); id != "" {
		md.Set(requestid.MetadataKey, id)
	}
	out := metadata.NewOutgoingContext(ctx, md)
	// The tenant filter language has AND only, and AND binds loosest, so appending the
	// caller's filter cannot widen the state condition.
	req := &tenantv1.ListTenantsRequest{Filter: "state = ACTIVE AND " + filter, PageSize: 1000}
	var ids []string
	for {
		resp, err := s.tenants.ListTenants(out, req)
		if err != nil {
			return nil, s.tenantServiceError(ctx, err)
		}
		for _, t := range resp.GetTenants() {
			ids = append(ids, strings.TrimPrefix(t.GetName(), "tenants/"))
		}
		if len(ids) > maxRolloutTenants {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field:       "rollout.selector.filter",
				Description: fmt.Sprintf("selects more than %d tenants, the most one rollout may target; narrow it, or split the rollout", maxRolloutTenants),
			})
		}
		if resp.GetNextPageToken() == "" {
			return ids, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// tenantServiceError says what a failed ListTenants means for the caller of CreateRollout.
func (s RolloutServer) tenantServiceError(ctx context.Context, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.InvalidArgument:
		why := st.Message()
		for _, v := range apierr.Violations(err) {
			if v.Field == "filter" {
				why = v.Description
			}
		}
		return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_FILTER, apierr.FieldViolation{
			Field: "rollout.selector.filter", Description: "the tenant service rejects it: " + why,
		})
	case codes.PermissionDenied, codes.Unauthenticated:
		return denied("select tenants by filter: the tenant service refuses this credential to list tenants (it needs a platform credential with tenants.read); list the tenants explicitly")
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return apierr.Unavailable("the tenant service cannot evaluate the filter right now; retry")
	case codes.Canceled:
		return apierr.FromError(ctx, s.log, context.Canceled)
	}
	return apierr.Internal(ctx, s.log, fmt.Errorf("list tenants for a rollout filter: %w", err))
}

// checkRolloutVariables finds variable names the template version does not declare, and
// per-tenant values for tenants the rollout does not target: both are mistakes that would
// otherwise change nothing, silently.
func checkRolloutVariables(v *contentv1.TemplateVersion, r *contentv1.Rollout, tenants []string) []apierr.FieldViolation {
	declared := map[string]bool{}
	var names []string
	for _, d := range v.GetVariables() {
		declared[d.GetName()] = true
		names = append(names, d.GetName())
	}
	unknown := func(field string) apierr.FieldViolation {
		why := "is not a variable of " + v.GetName()
		if len(names) == 0 {
			why += ", which declares none"
		} else {
			why += "; it declares " + strings.Join(names, ", ")
		}
		return apierr.FieldViolation{Field: field, Description: why}
	}
	var out []apierr.FieldViolation
	for _, name := range slices.Sorted(maps.Keys(r.GetVariables())) {
		if !declared[name] {
			out = append(out, unknown(fmt.Sprintf("rollout.variables[%q]", name)))
		}
	}
	selected := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		selected["tenants/"+t] = true
	}
	for _, tenant := range slices.Sorted(maps.Keys(r.GetTenantVariables())) {
		field := fmt.Sprintf("rollout.tenant_variables[%q]", tenant)
		if !selected[tenant] {
			out = append(out, apierr.FieldViolation{Field: field, Description: "is not a tenant the selector selects (keys are tenant names, tenants/{tenant})"})
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(r.GetTenantVariables()[tenant].GetValues())) {
			if !declared[name] {
				out = append(out, unknown(fmt.Sprintf("%s.values[%q]", field, name)))
			}
		}
	}
	return out
}

// GetRollout returns a rollout with its progress.
func (s RolloutServer) GetRollout(ctx context.Context, req *contentv1.GetRolloutRequest) (*contentv1.GetRolloutResponse, error) {
	if err := requirePlatform(ctx, false, "read rollouts"); err != nil {
		return nil, err
	}
	r, err := s.store.GetRollout(ctx, segments(req.GetName())["rollouts"])
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetName())
	}
	return &contentv1.GetRolloutResponse{Rollout: r}, nil
}

// ListRollouts lists rollouts, newest first.
func (s RolloutServer) ListRollouts(ctx context.Context, req *contentv1.ListRolloutsRequest) (*contentv1.ListRolloutsResponse, error) {
	if err := requirePlatform(ctx, false, "read rollouts"); err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListRollouts(ctx, page)
	if err != nil {
		return nil, s.toStatus(ctx, err, "rollouts")
	}
	resp := &contentv1.ListRolloutsResponse{}
	resp.Rollouts, resp.NextPageToken = trimPage(req, list, size, func(r *contentv1.Rollout) string { return segments(r.GetName())["rollouts"] })
	return resp, nil
}

// ListRolloutTargets lists a rollout's tenants by tenant, only those with the status asked
// for if any.
func (s RolloutServer) ListRolloutTargets(ctx context.Context, req *contentv1.ListRolloutTargetsRequest) (*contentv1.ListRolloutTargetsResponse, error) {
	if err := requirePlatform(ctx, false, "read rollouts"); err != nil {
		return nil, err
	}
	id := segments(req.GetParent())["rollouts"]
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListTargets(ctx, id, req.GetStatus(), page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	if len(list) == 0 {
		// A missing parent is NOT_FOUND, not an empty list.
		if _, err := s.store.GetRollout(ctx, id); err != nil {
			return nil, s.toStatus(ctx, err, req.GetParent())
		}
	}
	list, token := trimPage(req, list, size, func(t *store.Target) string { return t.Tenant })
	resp := &contentv1.ListRolloutTargetsResponse{NextPageToken: token}
	for _, t := range list {
		resp.Targets = append(resp.Targets, rolloutTarget(t))
	}
	return resp, nil
}

// rolloutTarget is how a target reads in the API: names, not store ids.
func rolloutTarget(t *store.Target) *contentv1.RolloutTarget {
	out := &contentv1.RolloutTarget{
		Name:   store.RolloutTargetName(t.Rollout, t.Tenant),
		Tenant: store.TenantName(t.Tenant),
		Wave:   int32(t.Wave),
		Status: t.Status,
		Reason: t.Reason,
	}
	if !t.UpdateTime.IsZero() {
		out.UpdateTime = timestamppb.New(t.UpdateTime)
	}
	if t.App != "" {
		out.App = store.AppName(t.Tenant, t.App)
		if t.PreviousRevision > 0 {
			out.PreviousRevision = store.AppRevisionName(t.Tenant, t.App, t.PreviousRevision)
		}
		if t.AppliedRevision > 0 {
			out.AppliedRevision = store.AppRevisionName(t.Tenant, t.App, t.AppliedRevision)
		}
	}
	return out
}

// CancelRollout asks the engine to stop a PENDING or RUNNING rollout (CANCELLING; the
// engine ends it CANCELLED). Cancelling one that is already stopping or stopped is a
// no-op, so a client may retry it freely.
func (s RolloutServer) CancelRollout(ctx context.Context, req *contentv1.CancelRolloutRequest) (*contentv1.CancelRolloutResponse, error) {
	if err := requirePlatform(ctx, true, "cancel rollouts"); err != nil {
		return nil, err
	}
	r, err := s.transition(ctx, req.GetName(), rolloutTransition{
		from: []contentv1.Rollout_State{contentv1.Rollout_STATE_PENDING, contentv1.Rollout_STATE_RUNNING},
		to:   contentv1.Rollout_STATE_CANCELLING,
		done: []contentv1.Rollout_State{contentv1.Rollout_STATE_CANCELLING, contentv1.Rollout_STATE_CANCELLED},
		refusal: func(state string) string {
			return req.GetName() + " is " + state + ": it has ended, so there is nothing to cancel; RollbackRollout undoes what it deployed"
		},
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.CancelRolloutResponse{Rollout: r}, nil
}

// RollbackRollout asks the engine to return every tenant a rollout deployed to to its
// previous app (ROLLING_BACK; the engine ends it ROLLED_BACK). Only a rollout that has
// stopped may be rolled back: one still deploying would race the rollback tenant by
// tenant. Rolling back one already rolling back or rolled back is a no-op.
func (s RolloutServer) RollbackRollout(ctx context.Context, req *contentv1.RollbackRolloutRequest) (*contentv1.RollbackRolloutResponse, error) {
	if err := requirePlatform(ctx, true, "roll back rollouts"); err != nil {
		return nil, err
	}
	r, err := s.transition(ctx, req.GetName(), rolloutTransition{
		from: []contentv1.Rollout_State{contentv1.Rollout_STATE_COMPLETED, contentv1.Rollout_STATE_HALTED, contentv1.Rollout_STATE_CANCELLED},
		to:   contentv1.Rollout_STATE_ROLLING_BACK,
		done: []contentv1.Rollout_State{contentv1.Rollout_STATE_ROLLING_BACK, contentv1.Rollout_STATE_ROLLED_BACK},
		refusal: func(state string) string {
			return req.GetName() + " is " + state + ": it is still deploying; cancel it first (CancelRollout) and roll it back once it is CANCELLED"
		},
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.RollbackRolloutResponse{Rollout: r}, nil
}

// rolloutTransition is a state change a caller asks for.
type rolloutTransition struct {
	from []contentv1.Rollout_State
	to   contentv1.Rollout_State
	// done are the states in which the change has been made already: asking again
	// returns the rollout as it is.
	done []contentv1.Rollout_State
	// refusal explains, for any other state, why the change cannot be made.
	refusal func(state string) string
}

// transition makes t and returns the rollout after it.
func (s RolloutServer) transition(ctx context.Context, name string, t rolloutTransition) (*contentv1.Rollout, error) {
	id := segments(name)["rollouts"]
	// The engine moves the rollout too, between our two reads: a state seen after a
	// conflict may be one the transition starts from again (CANCELLING became CANCELLED),
	// so try again then. A state never comes back to a from state twice.
	for range 3 {
		err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.TransitionRollout(ctx, id, t.from, t.to, s.clock(), nil)
			return err
		})
		switch {
		case err == nil:
			// Read again for the progress, which GetRollout counts.
			r, err := s.store.GetRollout(ctx, id)
			if err != nil {
				return nil, s.toStatus(ctx, err, name)
			}
			return r, nil
		case !errors.Is(err, store.ErrStateConflict):
			return nil, s.toStatus(ctx, err, name)
		}
		cur, err := s.store.GetRollout(ctx, id)
		if err != nil {
			return nil, s.toStatus(ctx, err, name)
		}
		if slices.Contains(t.done, cur.GetState()) {
			return cur, nil
		}
		if !slices.Contains(t.from, cur.GetState()) {
			state := rolloutStateName(cur.GetState())
			return nil, apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_ROLLOUT_STATE,
				t.refusal(state), "resource", name, "state", state)
		}
	}
	return nil, apierr.Unavailable(name + " is changing state under this call; retry")
}

// rolloutStateName is a state as error metadata carries it: "RUNNING".
func rolloutStateName(s contentv1.Rollout_State) string {
	return strings.TrimPrefix(s.String(), "STATE_")
}

// rolloutEnded reports whether a rollout is in a state the engine leaves alone.
func rolloutEnded(s contentv1.Rollout_State) bool {
	switch s {
	case contentv1.Rollout_STATE_COMPLETED, contentv1.Rollout_STATE_HALTED,
		contentv1.Rollout_STATE_CANCELLED, contentv1.Rollout_STATE_ROLLED_BACK:
		return true
	}
	return false
}

// WatchRollout sends the rollout at once and again whenever its state or progress
// changes, and ends the stream (OK) after sending it in a final state. A COMPLETED,
// HALTED or CANCELLED rollout may still be rolled back later; a new watch follows that.
func (s RolloutServer) WatchRollout(req *contentv1.WatchRolloutRequest, stream grpc.ServerStreamingServer[contentv1.WatchRolloutResponse]) error {
	ctx := stream.Context()
	if err := requirePlatform(ctx, false, "read rollouts"); err != nil {
		return err
	}
	id := segments(req.GetName())["rollouts"]
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	var last *contentv1.Rollout
	for {
		r, err := s.store.GetRollout(ctx, id)
		if err != nil {
			return s.toStatus(ctx, err, req.GetName())
		}
		if last == nil || r.GetState() != last.GetState() || !proto.Equal(r.GetProgress(), last.GetProgress()) {
			if err := stream.Send(&contentv1.WatchRolloutResponse{Rollout: r}); err != nil {
				return err
			}
			last = r
		}
		if rolloutEnded(r.GetState()) {
			return nil
		}
		select {
		case <-ctx.Done():
			// The client went away or its deadline passed.
			return apierr.FromError(ctx, s.log, ctx.Err())
		case <-tick.C:
		}
	}
}
