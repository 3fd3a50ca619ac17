package api

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"go.einride.tech/aip/fieldmask"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	errorsv1 "github.com/oriel-dev/oriel/gen/pb/oriel/errors/v1"
	"github.com/oriel-dev/oriel/platform/apierr"
	"github.com/oriel-dev/oriel/platform/validation"
	"github.com/oriel-dev/oriel/services/content/internal/authz"
	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// AppServer implements AppService.
type AppServer struct {
	contentv1.UnimplementedAppServiceServer
	*Server
}

// appRetention is how long a deleted app can be undeleted; the purge worker deletes it
// for good after that.
const appRetention = 14 * 24 * time.Hour

// bundleFormat is the one AppBundle format this service writes and reads.
const bundleFormat = 1

// sees reports whether the caller may view app: view its space and, with an embed token
// bound to some apps, open this one. An embed token's allowed resources bind it for
// every call about an app, not only reads: an app it may not open does not exist for it.
func (a access) sees(app *contentv1.App) bool {
	return a.in(spaceIDOf(app.GetSpace())) >= authz.View && a.CanOpenApp(app.GetName())
}

// visibleApp reads the app name, which the caller must be able to see (NOT_FOUND
// otherwise), with the caller's access to its tenant.
func (s *Server) visibleApp(ctx context.Context, name string) (*contentv1.App, access, error) {
	ids := segments(name)
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return nil, a, err
	}
	if !a.InTenant(ids["tenants"]) {
		return nil, a, notFound(name)
	}
	app, err := s.store.GetApp(ctx, ids["tenants"], ids["apps"])
	if err != nil {
		return nil, a, s.toStatus(ctx, err, name)
	}
	if !a.sees(app) {
		return nil, a, notFound(name)
	}
	return app, a, nil
}

// editApp runs change in a transaction on the app name, read and locked, once the caller
// is known to be allowed to edit it (verb says what, for the PERMISSION_DENIED message).
func (s AppServer) editApp(ctx context.Context, name, verb string, change func(ctx context.Context, tx store.Tx, a access, cur *contentv1.App) error) error {
	ids := segments(name)
	a, err := s.access(ctx, ids["tenants"])
	if err != nil {
		return err
	}
	if !a.InTenant(ids["tenants"]) {
		return notFound(name)
	}
	err = s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetApp(ctx, ids["tenants"], ids["apps"])
		if err != nil {
			return err
		}
		if !a.sees(cur) {
			return notFound(name)
		}
		if !a.CanEditApp(a.in(spaceIDOf(cur.GetSpace())), cur.GetOwner()) {
			return denied(verb + " " + name)
		}
		return change(ctx, tx, a, cur)
	})
	return s.toStatus(ctx, err, name)
}

// appDeleted refuses to change a deleted app.
func appDeleted(name string) error {
	return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_APP_DELETED,
		name+" is deleted; undelete it first", "resource", name)
}

// wrongSpaceType refuses a space of the wrong type for a move (publishing).
func wrongSpaceType(space *contentv1.Space, want contentv1.Space_Type, why string) error {
	return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST,
		space.GetName()+" is a "+spaceTypeName(space.GetType())+" space; "+why,
		"resource", space.GetName(), "want_type", spaceTypeName(want))
}

// definitionOf returns a copy of d, never nil: an app always has a definition, if empty,
// so that revisions compare and read alike.
func definitionOf(d *contentv1.AppDefinition) *contentv1.AppDefinition {
	if d == nil {
		return &contentv1.AppDefinition{}
	}
	return proto.Clone(d).(*contentv1.AppDefinition)
}

// newApp returns an active app with its owner and times set, for CreateApp to store.
func newApp(tenant, id string, now time.Time, owner, space, title, description string, labels map[string]string, def *contentv1.AppDefinition) *contentv1.App {
	return &contentv1.App{
		Name:        store.AppName(tenant, id),
		Title:       title,
		Description: description,
		Space:       space,
		Owner:       owner,
		Labels:      labels,
		Definition:  definitionOf(def),
		State:       contentv1.App_STATE_ACTIVE,
		CreateTime:  timestamppb.New(now),
		UpdateTime:  timestamppb.New(now),
	}
}

// addApp stores app as a new app in the space of its tenant that the caller adds it to,
// as its first revision made by source. The space must exist: a space missing by the time
// the app is written is NOT_FOUND, naming the space.
func (s AppServer) addApp(ctx context.Context, tenant, id string, app *contentv1.App, author string, source contentv1.AppRevision_Source) error {
	rev := store.Revision{Source: source, Author: author, Time: app.GetCreateTime().AsTime()}
	err := s.store.ReadWriteTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CreateApp(ctx, tenant, id, app, rev)
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound(app.GetSpace())
	}
	return s.toStatus(ctx, err, app.GetName())
}

// spaceIn checks that space names a space of tenant and returns its id; field is where
// the request carried it. A space of another tenant is NOT_FOUND, for the caller's tenant
// has none such.
func spaceIn(tenant, space, field string) (string, error) {
	id := spaceIDOf(space)
	if id == "" || space != store.SpaceName(tenantOfName(space), id) {
		return "", apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: field, Description: "must be a space name such as tenants/acme/spaces/sales",
		})
	}
	if tenantOfName(space) != tenant {
		return "", notFound(space)
	}
	return id, nil
}

// CreateApp creates an app in a space where the caller may contribute, owned by the caller.
func (s AppServer) CreateApp(ctx context.Context, req *contentv1.CreateAppRequest) (*contentv1.CreateAppResponse, error) {
	tenant := tenantOfName(req.GetParent())
	in := req.GetApp()
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !a.InTenant(tenant) {
		return nil, notFound(req.GetParent())
	}
	space, err := spaceIn(tenant, in.GetSpace(), "app.space")
	if err != nil {
		return nil, err
	}
	if err := require(a.in(space), authz.Contribute, in.GetSpace(), "add apps to "+in.GetSpace()); err != nil {
		return nil, err
	}
	id := req.GetAppId()
	if id == "" {
		id = newContentID("a")
	}
	app := newApp(tenant, id, s.clock(), a.ID, in.GetSpace(), in.GetTitle(), in.GetDescription(), in.GetLabels(), in.GetDefinition())
	if err := s.addApp(ctx, tenant, id, app, a.ID, contentv1.AppRevision_SOURCE_SAVE); err != nil {
		return nil, err
	}
	return &contentv1.CreateAppResponse{App: app}, nil
}

// GetApp returns an app at its latest revision; a deleted one too, in state DELETED.
func (s AppServer) GetApp(ctx context.Context, req *contentv1.GetAppRequest) (*contentv1.GetAppResponse, error) {
	app, _, err := s.visibleApp(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &contentv1.GetAppResponse{App: app}, nil
}

// ListApps lists the apps the caller may see, of one space or of all it may view.
func (s AppServer) ListApps(ctx context.Context, req *contentv1.ListAppsRequest) (*contentv1.ListAppsResponse, error) {
	tenant := tenantOfName(req.GetParent())
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !a.InTenant(tenant) {
		return nil, notFound(req.GetParent())
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	q := store.AppQuery{ShowDeleted: req.GetShowDeleted(), Page: page}
	if req.GetSpace() != "" {
		space, err := spaceIn(tenant, req.GetSpace(), "space")
		if err != nil {
			return nil, err
		}
		if err := require(a.in(space), authz.View, req.GetSpace(), ""); err != nil {
			return nil, err
		}
		q.Space = space
	} else {
		q.Spaces = a.visibleSpaces()
	}
	if a.AllowedApps != nil {
		q.Apps = []string{}
		for _, name := range a.AllowedApps {
			if tenantOfName(name) == tenant && appIDOf(name) != "" {
				q.Apps = append(q.Apps, appIDOf(name))
			}
		}
	}
	list, err := s.store.ListApps(ctx, tenant, q)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListAppsResponse{}
	resp.Apps, resp.NextPageToken = trimPage(req, list, size, func(app *contentv1.App) string { return appIDOf(app.GetName()) })
	return resp, nil
}

// appPaths are the update_mask paths UpdateApp accepts, besides definition's subfields.
var appPaths = []string{"title", "description", "labels", "definition"}

// appOutputOnly are the App fields a client may send back as it read them, never updated.
var appOutputOnly = []string{
	"owner", "revision", "template_version", "published_from", "state", "purge_time", "create_time", "update_time",
}

// UpdateApp saves an app's title, description, labels or definition as a new revision.
// An update that changes nothing writes nothing: no revision, the same etag.
func (s AppServer) UpdateApp(ctx context.Context, req *contentv1.UpdateAppRequest) (*contentv1.UpdateAppResponse, error) {
	in := req.GetApp()
	tenant, id := tenantOfName(in.GetName()), appIDOf(in.GetName())
	if tenant == "" || id == "" || in.GetName() != store.AppName(tenant, id) {
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "app.name", Description: "must be an app name such as tenants/acme/apps/sales",
		})
	}
	paths, err := updateMaskPaths(req.GetUpdateMask(), in, appPaths, appOutputOnly, []string{"space"},
		func(p string) bool { return strings.HasPrefix(p, "definition.") })
	if err != nil {
		return nil, err
	}
	var out *contentv1.App
	err = s.editApp(ctx, in.GetName(), "change", func(ctx context.Context, tx store.Tx, a access, cur *contentv1.App) error {
		if cur.GetState() == contentv1.App_STATE_DELETED {
			return appDeleted(cur.GetName())
		}
		if in.GetEtag() != "" && in.GetEtag() != cur.GetEtag() {
			return store.ErrEtagMismatch
		}
		if err := unchanged(paths, "app.space", in.GetSpace() == cur.GetSpace(),
			"an app stays in its space; copy it to another one (CopyApp), or publish it (PublishApp)"); err != nil {
			return err
		}
		cur.Definition = definitionOf(cur.GetDefinition())
		next := proto.Clone(cur).(*contentv1.App)
		fieldmask.Update(&fieldmaskpb.FieldMask{Paths: without(paths, "space")}, next, in)
		next.Definition = definitionOf(next.GetDefinition())
		if err := validation.Resource(ctx, s.log, next, "app"); err != nil {
			return err
		}
		if proto.Equal(next, cur) {
			out = cur
			return nil
		}
		rev := store.Revision{Source: contentv1.AppRevision_SOURCE_SAVE, Author: a.ID, Time: s.clock()}
		if err := tx.SaveApp(ctx, tenant, id, cur.GetEtag(), next, rev); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.UpdateAppResponse{App: out}, nil
}

// DeleteApp deletes an app softly: it stays, in state DELETED, until its purge time.
func (s AppServer) DeleteApp(ctx context.Context, req *contentv1.DeleteAppRequest) (*contentv1.DeleteAppResponse, error) {
	var out *contentv1.App
	err := s.editApp(ctx, req.GetName(), "delete", func(ctx context.Context, tx store.Tx, a access, cur *contentv1.App) error {
		if cur.GetState() == contentv1.App_STATE_DELETED {
			return appDeleted(cur.GetName())
		}
		now := s.clock()
		purge := now.Add(appRetention)
		var err error
		out, err = tx.SetAppState(ctx, a.tenant, appIDOf(cur.GetName()), req.GetEtag(), contentv1.App_STATE_DELETED, &purge, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.DeleteAppResponse{App: out}, nil
}

// UndeleteApp restores a deleted app before its purge time.
func (s AppServer) UndeleteApp(ctx context.Context, req *contentv1.UndeleteAppRequest) (*contentv1.UndeleteAppResponse, error) {
	var out *contentv1.App
	err := s.editApp(ctx, req.GetName(), "undelete", func(ctx context.Context, tx store.Tx, a access, cur *contentv1.App) error {
		if cur.GetState() != contentv1.App_STATE_DELETED {
			// AIP-164: undeleting what is not deleted is ALREADY_EXISTS.
			return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
				cur.GetName()+" is not deleted; there is nothing to undelete", "resource", cur.GetName())
		}
		now := s.clock()
		if !now.Before(cur.GetPurgeTime().AsTime()) {
			purge := cur.GetPurgeTime().AsTime().Format(time.RFC3339)
			return apierr.New(codes.FailedPrecondition, errorsv1.ErrorReason_ERROR_REASON_PURGE_TIME_PASSED,
				cur.GetName()+" passed its purge time "+purge+" and can no longer be undeleted",
				"resource", cur.GetName(), "purge_time", purge)
		}
		var err error
		out, err = tx.SetAppState(ctx, a.tenant, appIDOf(cur.GetName()), "", contentv1.App_STATE_ACTIVE, nil, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.UndeleteAppResponse{App: out}, nil
}

// ListAppRevisions lists an app's revisions, newest first.
func (s AppServer) ListAppRevisions(ctx context.Context, req *contentv1.ListAppRevisionsRequest) (*contentv1.ListAppRevisionsResponse, error) {
	app, a, err := s.visibleApp(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	page, size, err := listPage(req, req.GetPageToken(), req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if page.AfterID != "" {
		if _, err := strconv.ParseInt(page.AfterID, 10, 64); err != nil {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_PAGE_TOKEN,
				apierr.FieldViolation{Field: "page_token", Description: "is not a page token issued by this method"})
		}
	}
	list, err := s.store.ListAppRevisions(ctx, a.tenant, appIDOf(app.GetName()), page)
	if err != nil {
		return nil, s.toStatus(ctx, err, req.GetParent())
	}
	resp := &contentv1.ListAppRevisionsResponse{}
	resp.Revisions, resp.NextPageToken = trimPage(req, list, size, func(r *contentv1.AppRevision) string {
		return segments(r.GetName())["revisions"]
	})
	return resp, nil
}

// RestoreAppRevision makes an old revision's title, description and definition the
// app's latest, as a new revision (labels are not revisioned and stay as they are). It
// always writes: the restore itself is worth a line in the app's history.
func (s AppServer) RestoreAppRevision(ctx context.Context, req *contentv1.RestoreAppRevisionRequest) (*contentv1.RestoreAppRevisionResponse, error) {
	ids := segments(req.GetName())
	appName := store.AppName(ids["tenants"], ids["apps"])
	number, err := strconv.ParseInt(ids["revisions"], 10, 64)
	if err != nil || number < 1 {
		return nil, notFound(req.GetName())
	}
	var out *contentv1.App
	err = s.editApp(ctx, appName, "change", func(ctx context.Context, tx store.Tx, a access, cur *contentv1.App) error {
		if cur.GetState() == contentv1.App_STATE_DELETED {
			return appDeleted(appName)
		}
		if req.GetEtag() != "" && req.GetEtag() != cur.GetEtag() {
			return store.ErrEtagMismatch
		}
		old, err := tx.GetAppRevision(ctx, a.tenant, ids["apps"], number)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(req.GetName())
		}
		if err != nil {
			return err
		}
		next := proto.Clone(cur).(*contentv1.App)
		next.Title, next.Description, next.Definition = old.GetTitle(), old.GetDescription(), definitionOf(old.GetDefinition())
		rev := store.Revision{Source: contentv1.AppRevision_SOURCE_RESTORE, Author: a.ID, Time: s.clock()}
		if err := tx.SaveApp(ctx, a.tenant, ids["apps"], cur.GetEtag(), next, rev); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &contentv1.RestoreAppRevisionResponse{App: out}, nil
}

// CopyApp copies an app the caller may view into a space where it may contribute, as a
// new app the caller owns. Only platform callers copy across tenants: a tenant's
// credential acts in its tenant alone.
func (s AppServer) CopyApp(ctx context.Context, req *contentv1.CopyAppRequest) (*contentv1.CopyAppResponse, error) {
	src, a, err := s.visibleApp(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if src.GetState() == contentv1.App_STATE_DELETED {
		return nil, appDeleted(src.GetName())
	}
	dest := req.GetDestinationSpace()
	destTenant := tenantOfName(dest)
	if destTenant != a.tenant && !a.Platform {
		return nil, denied("copy apps to another tenant: only platform callers may")
	}
	da := a
	if destTenant != a.tenant {
		if da, err = s.access(ctx, destTenant); err != nil {
			return nil, err
		}
	}
	space, err := spaceIn(destTenant, dest, "destination_space")
	if err != nil {
		return nil, err
	}
	if err := require(da.in(space), authz.Contribute, dest, "add apps to "+dest); err != nil {
		return nil, err
	}
	id := req.GetAppId()
	if id == "" {
		id = newContentID("a")
	}
	title := req.GetTitle()
	if title == "" {
		title = src.GetTitle()
	}
	app := newApp(destTenant, id, s.clock(), a.ID, dest, title, src.GetDescription(), src.GetLabels(), src.GetDefinition())
	if err := s.addApp(ctx, destTenant, id, app, a.ID, contentv1.AppRevision_SOURCE_COPY); err != nil {
		return nil, err
	}
	return &contentv1.CopyAppResponse{App: app}, nil
}

// ExportApp exports an app as a bundle: its content and where it came from, nothing of
// its identity or history in this tenant, and no credential (an app holds none: data
// connections live in the data gateway).
func (s AppServer) ExportApp(ctx context.Context, req *contentv1.ExportAppRequest) (*contentv1.ExportAppResponse, error) {
	app, _, err := s.visibleApp(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &contentv1.ExportAppResponse{Bundle: &contentv1.AppBundle{
		FormatVersion: bundleFormat,
		Title:         app.GetTitle(),
		Description:   app.GetDescription(),
		Labels:        app.GetLabels(),
		Definition:    definitionOf(app.GetDefinition()),
		ExportedFrom:  app.GetName(),
		ExportTime:    timestamppb.New(s.clock()),
	}}, nil
}

// ImportApp creates an app from a bundle in a space where the caller may contribute.
func (s AppServer) ImportApp(ctx context.Context, req *contentv1.ImportAppRequest) (*contentv1.ImportAppResponse, error) {
	b := req.GetBundle()
	if b.GetFormatVersion() != bundleFormat {
		// protovalidate refuses it first; this stays true if the rule is ever relaxed for a
		// format 2 that this code does not read yet.
		return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
			Field: "bundle.format_version", Description: "must be 1, the only bundle format this service reads",
		})
	}
	tenant := tenantOfName(req.GetParent())
	a, err := s.access(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if !a.InTenant(tenant) {
		return nil, notFound(req.GetParent())
	}
	space, err := spaceIn(tenant, req.GetSpace(), "space")
	if err != nil {
		return nil, err
	}
	if err := require(a.in(space), authz.Contribute, req.GetSpace(), "add apps to "+req.GetSpace()); err != nil {
		return nil, err
	}
	id := req.GetAppId()
	if id == "" {
		id = newContentID("a")
	}
	app := newApp(tenant, id, s.clock(), a.ID, req.GetSpace(), b.GetTitle(), b.GetDescription(), b.GetLabels(), b.GetDefinition())
	// A bundle may come from anywhere (or be written by hand): the app it makes must obey
	// every rule an app does, labels included, which the bundle's own rules leave open.
	if err := validation.Resource(ctx, s.log, app, "bundle"); err != nil {
		return nil, err
	}
	if err := s.addApp(ctx, tenant, id, app, a.ID, contentv1.AppRevision_SOURCE_IMPORT); err != nil {
		return nil, err
	}
	return &contentv1.ImportAppResponse{App: app}, nil
}

// PublishApp copies an app of a shared space into a managed space as its published copy,
// whose id is the source's id with "-published" (see publishedAppID). Publishing again
// saves the source's content as a new revision of that same copy, so its name, and every
// embed of it, stays; the copy may also move to another managed space then.
func (s AppServer) PublishApp(ctx context.Context, req *contentv1.PublishAppRequest) (*contentv1.PublishAppResponse, error) {
	src, a, err := s.visibleApp(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if src.GetState() == contentv1.App_STATE_DELETED {
		return nil, appDeleted(src.GetName())
	}
	if a.in(spaceIDOf(src.GetSpace())) < authz.Produce {
		return nil, denied("publish " + src.GetName())
	}
	srcSpace, err := s.store.GetSpace(ctx, a.tenant, spaceIDOf(src.GetSpace()))
	if err != nil {
		return nil, s.toStatus(ctx, err, src.GetSpace())
	}
	if srcSpace.GetType() != contentv1.Space_TYPE_SHARED {
		return nil, wrongSpaceType(srcSpace, contentv1.Space_TYPE_SHARED, "only apps of shared spaces are published")
	}
	target := req.GetTargetSpace()
	if target != "" {
		if !a.InTenant(tenantOfName(target)) {
			return nil, notFound(target)
		}
		if tenantOfName(target) != a.tenant {
			return nil, apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "target_space", Description: "must be a space of the app's tenant, " + store.TenantName(a.tenant),
			})
		}
		if _, err := spaceIn(a.tenant, target, "target_space"); err != nil {
			return nil, err
		}
	}
	id := publishedAppID(appIDOf(src.GetName()))
	name := store.AppName(a.tenant, id)
	var out *contentv1.App
	publish := func(ctx context.Context, tx store.Tx) error {
		cur, err := tx.GetApp(ctx, a.tenant, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			cur = nil
		case err != nil:
			return err
		case cur.GetPublishedFrom() != src.GetName():
			return apierr.New(codes.AlreadyExists, errorsv1.ErrorReason_ERROR_REASON_RESOURCE_ALREADY_EXISTS,
				name+", the name of the published copy of "+src.GetName()+", is taken by another app", "resource", name)
		case cur.GetState() == contentv1.App_STATE_DELETED:
			return appDeleted(name)
		case !a.CanEditApp(a.in(spaceIDOf(cur.GetSpace())), cur.GetOwner()):
			return denied("publish " + src.GetName() + " again: its published copy " + name + " is not yours to change")
		}
		dest := target
		switch {
		case dest == "" && cur == nil:
			return apierr.Invalid(errorsv1.ErrorReason_ERROR_REASON_INVALID_REQUEST, apierr.FieldViolation{
				Field: "target_space", Description: "is required the first time an app is published",
			})
		case dest == "":
			dest = cur.GetSpace()
		}
		if cur == nil || dest != cur.GetSpace() {
			if err := require(a.in(spaceIDOf(dest)), authz.Contribute, dest, "publish into "+dest); err != nil {
				return err
			}
			sp, err := tx.GetSpace(ctx, a.tenant, spaceIDOf(dest))
			if errors.Is(err, store.ErrNotFound) {
				return notFound(dest)
			}
			if err != nil {
				return err
			}
			if sp.GetType() != contentv1.Space_TYPE_MANAGED {
				return wrongSpaceType(sp, contentv1.Space_TYPE_MANAGED, "apps are published into managed spaces")
			}
		}
		now := s.clock()
		rev := store.Revision{Source: contentv1.AppRevision_SOURCE_PUBLISH, Author: a.ID, Time: now}
		if cur == nil {
			out = newApp(a.tenant, id, now, a.ID, dest, src.GetTitle(), src.GetDescription(), src.GetLabels(), src.GetDefinition())
			out.PublishedFrom = src.GetName()
			return tx.CreateApp(ctx, a.tenant, id, out, rev)
		}
		next := proto.Clone(cur).(*contentv1.App)
		next.Title, next.Description, next.Labels = src.GetTitle(), src.GetDescription(), src.GetLabels()
		next.Definition, next.Space, next.PublishedFrom = definitionOf(src.GetDefinition()), dest, src.GetName()
		if err := tx.SaveApp(ctx, a.tenant, id, "", next, rev); err != nil {
			return err
		}
		out = next
		return nil
	}
	err = s.store.ReadWriteTx(ctx, publish)
	if errors.Is(err, store.ErrAlreadyExists) {
		// A concurrent first publish created the copy first: this one republishes it.
		err = s.store.ReadWriteTx(ctx, publish)
	}
	if err != nil {
		return nil, s.toStatus(ctx, err, name)
	}
	return &contentv1.PublishAppResponse{App: out}, nil
}
