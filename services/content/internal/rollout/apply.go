package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"

	"github.com/oriel-dev/oriel/services/content/internal/store"
)

// restoredNote is the reason a SUCCEEDED target carries when the rollout restored a deleted
// app: the target records only the previous revision, and rolling back must know to delete
// the app again.
const restoredNote = "restored a deleted app"

// Reasons of SKIPPED targets.
const (
	reasonDrift   = "edited since deployed; overwrite_drift to replace"
	reasonForeign = "an app with this id exists that no rollout deployed; overwrite_drift to replace"
)

// domainError reports whether err says something about the tenant (safe and useful as a
// target's reason) rather than about the database or driver (logged, never shown).
func domainError(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyExists) ||
		errors.Is(err, store.ErrEtagMismatch) || errors.Is(err, store.ErrSpaceNotEmpty)
}

// attempt runs one tenant's transaction until it succeeds, up to `attempts` times (a race
// with another rollout creating the same space or app is over by the next try), then fails
// the target with a short reason, unless the store cannot even record that: then it is an
// outage, and the target is left for a later try.
func (d *driver) attempt(ctx context.Context, tenant string, once func(ctx context.Context) (contentv1.RolloutTarget_Status, error),
	failable []contentv1.RolloutTarget_Status, prefix string) outcome {
	var err error
	for i := range attempts {
		if i > 0 {
			if serr := sleep(ctx, time.Duration(i*i)*50*time.Millisecond); serr != nil {
				return outcome{tenant: tenant, err: serr}
			}
		}
		var status contentv1.RolloutTarget_Status
		status, err = once(ctx)
		if err == nil {
			return outcome{tenant: tenant, status: status}
		}
		if cause := context.Cause(ctx); cause != nil {
			return outcome{tenant: tenant, err: cause}
		}
	}
	reason := prefix + err.Error()
	if !domainError(err) {
		d.log.ErrorContext(ctx, "a tenant's transaction failed", "tenant", tenant, "error", err)
		reason = prefix + "internal error; see the content service's log"
	}
	status, ferr := d.fail(ctx, tenant, failable, reason)
	if ferr != nil {
		return outcome{tenant: tenant, err: fmt.Errorf("tenant %s: %w (then: %v)", tenant, err, ferr)}
	}
	return outcome{tenant: tenant, status: status}
}

// fail marks a target FAILED with reason if it still has one of the statuses in from, and
// returns its status.
func (d *driver) fail(ctx context.Context, tenant string, from []contentv1.RolloutTarget_Status, reason string) (contentv1.RolloutTarget_Status, error) {
	var status contentv1.RolloutTarget_Status
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		t, err := tx.GetTarget(ctx, d.id, tenant)
		if err != nil {
			return err
		}
		status = t.Status
		if !slices.Contains(from, t.Status) {
			return nil
		}
		t.Status, t.Reason, status = contentv1.RolloutTarget_STATUS_FAILED, reason, contentv1.RolloutTarget_STATUS_FAILED
		return tx.UpdateTarget(ctx, t, d.e.clock())
	})
	return status, err
}

// applicable are the statuses a target is deployed from: APPLYING once picked, PENDING
// when a worker reset it after this one picked it (whoever locks it first deploys it).
var applicable = []contentv1.RolloutTarget_Status{contentv1.RolloutTarget_STATUS_PENDING, contentv1.RolloutTarget_STATUS_APPLYING}

// apply deploys the version to one tenant.
func (d *driver) apply(ctx context.Context, tenant string) outcome {
	return d.attempt(ctx, tenant, func(ctx context.Context) (contentv1.RolloutTarget_Status, error) {
		return d.applyOnce(ctx, tenant)
	}, applicable, "")
}

// applyOnce deploys to one tenant in ONE transaction: the target's final status commits
// with the app's revision or not at all, so a crash never applies a tenant twice or half.
// It returns the target's status, which another worker may have set already.
func (d *driver) applyOnce(ctx context.Context, tenant string) (contentv1.RolloutTarget_Status, error) {
	var status contentv1.RolloutTarget_Status
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		t, err := tx.GetTarget(ctx, d.id, tenant)
		if err != nil {
			return err
		}
		status = t.Status
		if !slices.Contains(applicable, t.Status) {
			return nil
		}
		now := d.e.clock()
		t.App, t.Reason, t.PreviousRevision, t.AppliedRevision = d.appID, "", 0, 0
		if err := d.deployTo(ctx, tx, t, now); err != nil {
			return err
		}
		status = t.Status
		return tx.UpdateTarget(ctx, t, now)
	})
	return status, err
}

// deployTo writes the tenant's app and sets t's status, reason and revisions; an error
// rolls everything back.
func (d *driver) deployTo(ctx context.Context, tx store.Tx, t *store.Target, now time.Time) error {
	if d.version == nil {
		t.Status, t.Reason = contentv1.RolloutTarget_STATUS_FAILED, "template version "+d.versionName+" not found"
		return nil
	}
	values, err := Resolve(d.version, d.r, t.Tenant)
	if err != nil {
		// Nothing else is written: the tenant keeps whatever app it had.
		t.Status, t.Reason = contentv1.RolloutTarget_STATUS_FAILED, err.Error()
		return nil
	}
	app, err := tx.GetApp(ctx, t.Tenant, d.appID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		app = nil
	case err != nil:
		return fmt.Errorf("read app %s: %w", d.appID, err)
	}
	if app != nil && app.GetState() == contentv1.App_STATE_ACTIVE {
		skip, err := d.skipReason(ctx, tx, t.Tenant, app)
		if err != nil {
			return err
		}
		if skip != "" {
			t.Status, t.Reason = contentv1.RolloutTarget_STATUS_SKIPPED, skip
			return nil
		}
	}
	if err := d.ensureSpace(ctx, tx, t.Tenant, now); err != nil {
		return err
	}
	def := proto.CloneOf(d.version.GetDefinition())
	if def == nil {
		def = &contentv1.AppDefinition{}
	}
	def.Variables = values
	rev := store.Revision{
		Source:          contentv1.AppRevision_SOURCE_ROLLOUT,
		Author:          d.r.GetCreator(),
		TemplateVersion: d.versionName,
		Time:            now,
	}
	if app == nil {
		a := &contentv1.App{
			Name:            store.AppName(t.Tenant, d.appID),
			Title:           d.version.GetTitle(),
			Description:     d.description,
			Space:           store.SpaceName(t.Tenant, d.spaceID),
			Owner:           d.r.GetCreator(),
			Definition:      def,
			TemplateVersion: d.versionName,
			State:           contentv1.App_STATE_ACTIVE,
			CreateTime:      timestamp(now),
			UpdateTime:      timestamp(now),
		}
		if err := tx.CreateApp(ctx, t.Tenant, d.appID, a, rev); err != nil {
			return fmt.Errorf("create app %s: %w", d.appID, err)
		}
		applied, err := revisionNumber(a.GetRevision())
		if err != nil {
			return err
		}
		t.Status, t.AppliedRevision = contentv1.RolloutTarget_STATUS_SUCCEEDED, applied
		return nil
	}
	previous, err := revisionNumber(app.GetRevision())
	if err != nil {
		return err
	}
	if app.GetState() == contentv1.App_STATE_DELETED {
		// Deleted since it was deployed (or before): the rollout says the tenant has the
		// app, so it comes back, and a rollback deletes it again.
		if app, err = tx.SetAppState(ctx, t.Tenant, d.appID, app.GetEtag(), contentv1.App_STATE_ACTIVE, nil, now); err != nil {
			return fmt.Errorf("restore app %s: %w", d.appID, err)
		}
		t.Reason = restoredNote
	}
	a := proto.CloneOf(app)
	a.Title, a.Description, a.Definition = d.version.GetTitle(), d.description, def
	a.Space, a.TemplateVersion = store.SpaceName(t.Tenant, d.spaceID), d.versionName
	// The row is locked since GetApp, so the etag check would only repeat that.
	if err := tx.SaveApp(ctx, t.Tenant, d.appID, "", a, rev); err != nil {
		return fmt.Errorf("save app %s: %w", d.appID, err)
	}
	applied, err := revisionNumber(a.GetRevision())
	if err != nil {
		return err
	}
	t.Status, t.PreviousRevision, t.AppliedRevision = contentv1.RolloutTarget_STATUS_SUCCEEDED, previous, applied
	return nil
}

// skipReason says why an active app is left alone, or "" to overwrite it. An app whose
// latest revision a rollout made (or a rollback made by restoring one) is what a rollout
// deployed: left alone only when it is this version already. Any other latest revision is
// a local edit (or an app no rollout made), which the rollout's overwrite_drift decides
// about, whatever version it was deployed from.
func (d *driver) skipReason(ctx context.Context, tx store.Tx, tenant string, app *contentv1.App) (string, error) {
	latest, err := revisionNumber(app.GetRevision())
	if err != nil {
		return "", err
	}
	rev, err := tx.GetAppRevision(ctx, tenant, d.appID, latest)
	if err != nil {
		return "", fmt.Errorf("read revision %d of app %s: %w", latest, d.appID, err)
	}
	deployed := rev.GetSource() == contentv1.AppRevision_SOURCE_ROLLOUT ||
		(rev.GetSource() == contentv1.AppRevision_SOURCE_ROLLBACK && rev.GetTemplateVersion() != "")
	switch {
	case deployed && app.GetTemplateVersion() == d.versionName:
		return "already at " + d.versionName, nil
	case deployed || d.r.GetOverwriteDrift():
		return "", nil
	case app.GetTemplateVersion() != "":
		return reasonDrift, nil
	default:
		return reasonForeign, nil
	}
}

// ensureSpace creates the target space, MANAGED, when the tenant does not have it.
func (d *driver) ensureSpace(ctx context.Context, tx store.Tx, tenant string, now time.Time) error {
	_, err := tx.GetSpace(ctx, tenant, d.spaceID)
	if !errors.Is(err, store.ErrNotFound) {
		if err != nil {
			return fmt.Errorf("read space %s: %w", d.spaceID, err)
		}
		return nil
	}
	s := &contentv1.Space{
		Name:        store.SpaceName(tenant, d.spaceID),
		DisplayName: DefaultSpaceDisplayName,
		Type:        contentv1.Space_TYPE_MANAGED,
		CreateTime:  timestamp(now),
		UpdateTime:  timestamp(now),
	}
	if err := tx.CreateSpace(ctx, tenant, d.spaceID, s); err != nil {
		return fmt.Errorf("create space %s: %w", d.spaceID, err)
	}
	return nil
}

// rollBackTarget returns one SUCCEEDED target's app to its previous revision.
func (d *driver) rollBackTarget(ctx context.Context, tenant string) outcome {
	succeeded := []contentv1.RolloutTarget_Status{contentv1.RolloutTarget_STATUS_SUCCEEDED}
	return d.attempt(ctx, tenant, func(ctx context.Context) (contentv1.RolloutTarget_Status, error) {
		return d.rollBackOnce(ctx, tenant)
	}, succeeded, "rollback: ")
}

// rollBackOnce rolls one tenant back in ONE transaction, the target's ROLLED_BACK status
// with the app's change.
func (d *driver) rollBackOnce(ctx context.Context, tenant string) (contentv1.RolloutTarget_Status, error) {
	var status contentv1.RolloutTarget_Status
	err := d.tx(ctx, func(ctx context.Context, tx store.Tx) error {
		t, err := tx.GetTarget(ctx, d.id, tenant)
		if err != nil {
			return err
		}
		status = t.Status
		if t.Status != contentv1.RolloutTarget_STATUS_SUCCEEDED {
			return nil
		}
		now := d.e.clock()
		reason, err := d.restore(ctx, tx, t, now)
		if err != nil {
			return err
		}
		t.Status, t.Reason, status = contentv1.RolloutTarget_STATUS_ROLLED_BACK, reason, contentv1.RolloutTarget_STATUS_ROLLED_BACK
		return tx.UpdateTarget(ctx, t, now)
	})
	return status, err
}

// restore puts back the app t's tenant had before the rollout: the previous revision's
// content as a new ROLLBACK revision, or, for an app the rollout created (or restored from
// deleted), the app deleted, restorably. It returns a note for the target's reason.
func (d *driver) restore(ctx context.Context, tx store.Tx, t *store.Target, now time.Time) (string, error) {
	app, err := tx.GetApp(ctx, t.Tenant, t.App)
	if errors.Is(err, store.ErrNotFound) {
		return "app no longer exists", nil // purged since: nothing to return to
	}
	if err != nil {
		return "", fmt.Errorf("read app %s: %w", t.App, err)
	}
	purge := now.Add(DeletedAppRetention)
	if t.PreviousRevision == 0 {
		if app.GetState() != contentv1.App_STATE_DELETED {
			if _, err := tx.SetAppState(ctx, t.Tenant, t.App, app.GetEtag(), contentv1.App_STATE_DELETED, &purge, now); err != nil {
				return "", fmt.Errorf("delete app %s: %w", t.App, err)
			}
		}
		return "", nil
	}
	prev, err := tx.GetAppRevision(ctx, t.Tenant, t.App, t.PreviousRevision)
	if err != nil {
		return "", fmt.Errorf("read revision %d of app %s: %w", t.PreviousRevision, t.App, err)
	}
	a := proto.CloneOf(app)
	a.Title, a.Description, a.Definition = prev.GetTitle(), prev.GetDescription(), prev.GetDefinition()
	a.TemplateVersion = prev.GetTemplateVersion()
	rev := store.Revision{
		Source:          contentv1.AppRevision_SOURCE_ROLLBACK,
		Author:          d.r.GetCreator(),
		TemplateVersion: prev.GetTemplateVersion(),
		Time:            now,
	}
	if err := tx.SaveApp(ctx, t.Tenant, t.App, "", a, rev); err != nil {
		return "", fmt.Errorf("save app %s: %w", t.App, err)
	}
	if t.Reason == restoredNote && app.GetState() != contentv1.App_STATE_DELETED {
		if _, err := tx.SetAppState(ctx, t.Tenant, t.App, a.GetEtag(), contentv1.App_STATE_DELETED, &purge, now); err != nil {
			return "", fmt.Errorf("delete app %s: %w", t.App, err)
		}
	}
	return "", nil
}

// timestamp is a stored time as a proto field.
func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
