package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- apps ----

// appSelect reads apps with their latest revision's definition.
const appSelect = `SELECT a.id, a.space_id, a.title, a.description, a.owner, a.labels, a.template_version,
		a.published_from, a.state, a.purge_time, a.create_time, a.update_time, a.latest_revision,
		a.generation, r.definition
	FROM apps a JOIN app_revisions r
		ON r.tenant_id = a.tenant_id AND r.app_id = a.id AND r.revision = a.latest_revision`

func (s *sqlStore) GetApp(ctx context.Context, tenant, id string) (*contentv1.App, error) {
	return getApp(ctx, s.db, tenant, id, "")
}

func (tx *sqlTx) GetApp(ctx context.Context, tenant, id string) (*contentv1.App, error) {
	return getApp(ctx, tx.q, tenant, id, tx.sql.forUpdateOf("a"))
}

func getApp(ctx context.Context, q sqlstore.Queryer, tenant, id, lock string) (*contentv1.App, error) {
	a, err := scanApp(tenant, q.QueryRow(ctx, appSelect+` WHERE a.tenant_id = $1 AND a.id = $2`+lock, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return a, err
}

func (s *sqlStore) ListApps(ctx context.Context, tenant string, q AppQuery) ([]*contentv1.App, error) {
	if q.Page.Limit <= 0 {
		return nil, errLimit
	}
	if (q.Spaces != nil && len(q.Spaces) == 0) || (q.Apps != nil && len(q.Apps) == 0) {
		return nil, nil
	}
	a := args{tenant, q.Page.AfterID}
	query := appSelect + ` WHERE a.tenant_id = $1 AND a.id > $2`
	if q.Space != "" {
		query += ` AND a.space_id = ` + a.add(q.Space)
	}
	if q.Spaces != nil {
		query += ` AND a.space_id ` + a.in(q.Spaces)
	}
	if q.Apps != nil {
		query += ` AND a.id ` + a.in(q.Apps)
	}
	if !q.ShowDeleted {
		query += ` AND a.state <> 'DELETED'`
	}
	query += ` ORDER BY a.id LIMIT ` + a.add(q.Page.Limit)
	rows, err := s.db.Query(ctx, query, a...)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.App, error) { return scanApp(tenant, r) })
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

func (tx *sqlTx) CreateApp(ctx context.Context, tenant, id string, a *contentv1.App, rev Revision) error {
	space, ok := spaceIDIn(tenant, a.GetSpace())
	if !ok {
		return fmt.Errorf("store: space %q of app %s: %w", a.GetSpace(), AppName(tenant, id), ErrNotFound)
	}
	// The share lock keeps the space until the app commits, so a concurrent DeleteSpace
	// either sees the app or made this find the space missing; never a foreign-key error.
	if err := tx.lockSpace(ctx, tenant, space); err != nil {
		return err
	}
	labels, err := marshalLabels(a.GetLabels())
	if err != nil {
		return err
	}
	n, err := tx.q.Exec(ctx, `INSERT INTO apps (tenant_id, id, space_id, title, description, owner, labels,
			template_version, template_id, published_from, state, purge_time, create_time, update_time,
			latest_revision, generation)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, 1) ON CONFLICT DO NOTHING`,
		tenant, id, space, a.GetTitle(), a.GetDescription(), a.GetOwner(), labels,
		a.GetTemplateVersion(), templateOf(a.GetTemplateVersion()), a.GetPublishedFrom(),
		enumName(a.GetState(), "STATE_"), optionalTime(a.GetPurgeTime()),
		a.GetCreateTime().AsTime(), a.GetUpdateTime().AsTime())
	if err != nil {
		return fmt.Errorf("insert app: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	if err := tx.insertRevision(ctx, tenant, id, 1, a, rev); err != nil {
		return err
	}
	a.Revision = "1"
	a.Etag = appEtag(tenant, id, 1)
	return nil
}

func (tx *sqlTx) SaveApp(ctx context.Context, tenant, id, etag string, a *contentv1.App, rev Revision) error {
	cur, err := tx.checkAppEtag(ctx, tenant, id, etag)
	if err != nil {
		return err
	}
	space := cur.space
	if a.GetSpace() != "" {
		var ok bool
		if space, ok = spaceIDIn(tenant, a.GetSpace()); !ok {
			return fmt.Errorf("store: space %q of app %s: %w", a.GetSpace(), AppName(tenant, id), ErrNotFound)
		}
	}
	if space != cur.space {
		if err := tx.lockSpace(ctx, tenant, space); err != nil {
			return err
		}
	}
	labels, err := marshalLabels(a.GetLabels())
	if err != nil {
		return err
	}
	revision, generation := cur.latestRevision+1, cur.generation+1
	// The app's row is locked, so the revision number is this transaction's alone.
	if err := tx.insertRevision(ctx, tenant, id, revision, a, rev); err != nil {
		return err
	}
	_, err = tx.q.Exec(ctx, `UPDATE apps SET space_id = $3, title = $4, description = $5, labels = $6,
			template_version = $7, template_id = $8, published_from = $9, update_time = $10,
			latest_revision = $11, generation = $12
		WHERE tenant_id = $1 AND id = $2`,
		tenant, id, space, a.GetTitle(), a.GetDescription(), labels, a.GetTemplateVersion(),
		templateOf(a.GetTemplateVersion()), a.GetPublishedFrom(), rev.Time, revision, generation)
	if err != nil {
		return fmt.Errorf("update app: %w", err)
	}
	a.Revision = strconv.FormatInt(revision, 10)
	a.UpdateTime = ts(rev.Time)
	a.Etag = appEtag(tenant, id, generation)
	return nil
}

func (tx *sqlTx) SetAppState(ctx context.Context, tenant, id, etag string, state contentv1.App_State, purgeTime *time.Time, now time.Time) (*contentv1.App, error) {
	cur, err := tx.checkAppEtag(ctx, tenant, id, etag)
	if err != nil {
		return nil, err
	}
	if _, err := tx.q.Exec(ctx, `UPDATE apps SET state = $3, purge_time = $4, update_time = $5, generation = $6
		WHERE tenant_id = $1 AND id = $2`,
		tenant, id, enumName(state, "STATE_"), purgeTime, now, cur.generation+1); err != nil {
		return nil, fmt.Errorf("set app state: %w", err)
	}
	return getApp(ctx, tx.q, tenant, id, "")
}

// appCounters are what an etag check reads of an app.
type appCounters struct {
	space                      string
	latestRevision, generation int64
}

// checkAppEtag locks the app and returns its counters; its generation must still be the
// one etag was made from (unless etag is empty).
func (tx *sqlTx) checkAppEtag(ctx context.Context, tenant, id, etag string) (appCounters, error) {
	var c appCounters
	err := tx.q.QueryRow(ctx, `SELECT space_id, latest_revision, generation FROM apps
		WHERE tenant_id = $1 AND id = $2`+tx.sql.forUpdate(), tenant, id).Scan(&c.space, &c.latestRevision, &c.generation)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return appCounters{}, ErrNotFound
	}
	if err != nil {
		return appCounters{}, fmt.Errorf("read app: %w", err)
	}
	if etag != "" && etag != appEtag(tenant, id, c.generation) {
		return appCounters{}, ErrEtagMismatch
	}
	return c, nil
}

func (tx *sqlTx) insertRevision(ctx context.Context, tenant, app string, revision int64, a *contentv1.App, rev Revision) error {
	definition, err := marshalProto(a.GetDefinition())
	if err != nil {
		return err
	}
	_, err = tx.q.Exec(ctx, `INSERT INTO app_revisions (tenant_id, app_id, revision, title, description,
			definition, source, author, template_version, create_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		tenant, app, revision, a.GetTitle(), a.GetDescription(), definition,
		enumName(rev.Source, "SOURCE_"), rev.Author, rev.TemplateVersion, rev.Time)
	if err != nil {
		return fmt.Errorf("insert app revision: %w", err)
	}
	return nil
}

func scanApp(tenant string, r sqlstore.Row) (*contentv1.App, error) {
	var (
		id, space, title, description, owner, labels string
		templateVersion, publishedFrom, state        string
		purgeTime                                    *time.Time
		createTime, updateTime                       time.Time
		revision, generation                         int64
		definition                                   *string
	)
	if err := r.Scan(&id, &space, &title, &description, &owner, &labels, &templateVersion, &publishedFrom,
		&state, &purgeTime, &createTime, &updateTime, &revision, &generation, &definition); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan app: %w", err)
	}
	a := &contentv1.App{
		Name:            AppName(tenant, id),
		Title:           title,
		Description:     description,
		Space:           SpaceName(tenant, space),
		Owner:           owner,
		Revision:        strconv.FormatInt(revision, 10),
		TemplateVersion: templateVersion,
		PublishedFrom:   publishedFrom,
		State:           parseEnum[contentv1.App_State](contentv1.App_State_value, "STATE_", state),
		PurgeTime:       optionalTS(purgeTime),
		CreateTime:      ts(createTime),
		UpdateTime:      ts(updateTime),
		Etag:            appEtag(tenant, id, generation),
	}
	var err error
	if a.Labels, err = unmarshalLabels(labels); err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	def := &contentv1.AppDefinition{}
	if ok, err := unmarshalProto(definition, def); err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	} else if ok {
		a.Definition = def
	}
	return a, nil
}

func appEtag(tenant, id string, generation int64) string {
	return etag(AppName(tenant, id), generation)
}

// ---- revisions ----

const revisionColumns = `revision, title, description, definition, source, author, template_version, create_time`

func (s *sqlStore) ListAppRevisions(ctx context.Context, tenant, app string, page Page) ([]*contentv1.AppRevision, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	// Revision numbers are positive, so "before the largest int64" is the first page.
	before := int64(1<<63 - 1)
	if page.AfterID != "" {
		var err error
		if before, err = strconv.ParseInt(page.AfterID, 10, 64); err != nil {
			return nil, fmt.Errorf("store: revision page after %q: not a revision number", page.AfterID)
		}
	}
	rows, err := s.db.Query(ctx, `SELECT `+revisionColumns+` FROM app_revisions
		WHERE tenant_id = $1 AND app_id = $2 AND revision < $3 ORDER BY revision DESC LIMIT $4`,
		tenant, app, before, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.AppRevision, error) {
		return scanRevision(tenant, app, r)
	})
	if err != nil {
		return nil, fmt.Errorf("list app revisions: %w", err)
	}
	// Revisions die with their app, so only an empty page leaves the app in doubt.
	if len(out) == 0 {
		if err := s.appExists(ctx, tenant, app); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) GetAppRevision(ctx context.Context, tenant, app string, revision int64) (*contentv1.AppRevision, error) {
	return getRevision(ctx, s.db, tenant, app, revision)
}

func (tx *sqlTx) GetAppRevision(ctx context.Context, tenant, app string, revision int64) (*contentv1.AppRevision, error) {
	// Revisions never change, so there is nothing to lock.
	return getRevision(ctx, tx.q, tenant, app, revision)
}

func getRevision(ctx context.Context, q sqlstore.Queryer, tenant, app string, revision int64) (*contentv1.AppRevision, error) {
	r, err := scanRevision(tenant, app, q.QueryRow(ctx, `SELECT `+revisionColumns+` FROM app_revisions
		WHERE tenant_id = $1 AND app_id = $2 AND revision = $3`, tenant, app, revision))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

func scanRevision(tenant, app string, r sqlstore.Row) (*contentv1.AppRevision, error) {
	var (
		revision                                       int64
		title, description, source, author, tplVersion string
		definition                                     *string
		createTime                                     time.Time
	)
	if err := r.Scan(&revision, &title, &description, &definition, &source, &author, &tplVersion, &createTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan app revision: %w", err)
	}
	out := &contentv1.AppRevision{
		Name:            AppRevisionName(tenant, app, revision),
		Title:           title,
		Description:     description,
		Source:          parseEnum[contentv1.AppRevision_Source](contentv1.AppRevision_Source_value, "SOURCE_", source),
		Author:          author,
		TemplateVersion: tplVersion,
		CreateTime:      ts(createTime),
	}
	def := &contentv1.AppDefinition{}
	if ok, err := unmarshalProto(definition, def); err != nil {
		return nil, fmt.Errorf("app revision %s: %w", out.Name, err)
	} else if ok {
		out.Definition = def
	}
	return out, nil
}

// ---- purges ----

func (s *sqlStore) PurgeDeletedApps(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, errLimit
	}
	var purged int
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		purged = 0
		// Skipping locked rows lets purge workers on several replicas share the work, and
		// passes over an app being undeleted right now (the re-check after the lock drops
		// it if the undelete commits first).
		rows, err := q.Query(ctx, `SELECT tenant_id, id FROM apps
			WHERE state = 'DELETED' AND purge_time <= $1
			ORDER BY purge_time, tenant_id, id LIMIT $2`+s.sql.skipLocked(), now, limit)
		type key struct{ tenant, id string }
		due, err := collect(rows, err, func(r sqlstore.Row) (key, error) {
			var k key
			return k, r.Scan(&k.tenant, &k.id)
		})
		if err != nil {
			return fmt.Errorf("find deleted apps: %w", err)
		}
		for _, k := range due {
			if _, err := q.Exec(ctx, `DELETE FROM app_revisions WHERE tenant_id = $1 AND app_id = $2`, k.tenant, k.id); err != nil {
				return fmt.Errorf("purge app revisions: %w", err)
			}
			n, err := q.Exec(ctx, `DELETE FROM apps WHERE tenant_id = $1 AND id = $2`, k.tenant, k.id)
			if err != nil {
				return fmt.Errorf("purge app: %w", err)
			}
			purged += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return purged, nil
}

func (s *sqlStore) PurgeTenant(ctx context.Context, tenant string) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// Children first, so no foreign key is ever checked against a deleted parent.
		for _, table := range []string{"app_revisions", "apps", "space_members", "spaces"} {
			if _, err := q.Exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = $1`, tenant); err != nil {
				return fmt.Errorf("purge tenant %s: %w", table, err)
			}
		}
		return nil
	})
}

// appExists is ErrNotFound unless tenant has the app (deleted or not): what an empty page
// of something that dies with its app leaves in doubt.
func (s *sqlStore) appExists(ctx context.Context, tenant, app string) error {
	ok, err := exists(ctx, s.db, `SELECT 1 FROM apps WHERE tenant_id = $1 AND id = $2`, tenant, app)
	if err != nil {
		return fmt.Errorf("read app: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}
