package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- templates ----

const templateColumns = `id, display_name, description, latest_version, create_time, update_time`

func (s *sqlStore) GetTemplate(ctx context.Context, id string) (*contentv1.Template, error) {
	t, err := scanTemplate(s.db.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE id = $1`, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return t, err
}

func (s *sqlStore) ListTemplates(ctx context.Context, page Page) ([]*contentv1.Template, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+templateColumns+` FROM templates WHERE id > $1 ORDER BY id LIMIT $2`,
		page.AfterID, page.Limit)
	out, err := collect(rows, err, scanTemplate)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	return out, nil
}

func (tx *sqlTx) CreateTemplate(ctx context.Context, id string, t *contentv1.Template) error {
	n, err := tx.q.Exec(ctx, `INSERT INTO templates (`+templateColumns+`)
		VALUES ($1, $2, $3, '', $4, $5) ON CONFLICT DO NOTHING`,
		id, t.GetDisplayName(), t.GetDescription(), t.GetCreateTime().AsTime(), t.GetUpdateTime().AsTime())
	if err != nil {
		return fmt.Errorf("insert template: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	return nil
}

func scanTemplate(r sqlstore.Row) (*contentv1.Template, error) {
	var (
		id, displayName, description, latest string
		createTime, updateTime               time.Time
	)
	if err := r.Scan(&id, &displayName, &description, &latest, &createTime, &updateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan template: %w", err)
	}
	t := &contentv1.Template{
		Name:        TemplateName(id),
		DisplayName: displayName,
		Description: description,
		CreateTime:  ts(createTime),
		UpdateTime:  ts(updateTime),
	}
	if latest != "" {
		t.LatestVersion = TemplateVersionName(id, latest)
	}
	return t, nil
}

// ---- versions ----

const versionColumns = `id, title, definition, variables, notes, create_time`

func (s *sqlStore) GetTemplateVersion(ctx context.Context, template, version string) (*contentv1.TemplateVersion, error) {
	v, err := scanVersion(template, s.db.QueryRow(ctx, `SELECT `+versionColumns+` FROM template_versions
		WHERE template_id = $1 AND id = $2`, template, version))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

func (s *sqlStore) ListTemplateVersions(ctx context.Context, template string, page Page) ([]*contentv1.TemplateVersion, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	// Newest first by creation; a page after a version holds those created before it.
	rows, err := s.db.Query(ctx, `SELECT `+versionColumns+` FROM template_versions
		WHERE template_id = $1
			AND ($2 = '' OR seq < (SELECT seq FROM template_versions WHERE template_id = $1 AND id = $2))
		ORDER BY seq DESC LIMIT $3`, template, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.TemplateVersion, error) {
		return scanVersion(template, r)
	})
	if err != nil {
		return nil, fmt.Errorf("list template versions: %w", err)
	}
	if len(out) == 0 {
		if _, err := s.GetTemplate(ctx, template); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (tx *sqlTx) CreateTemplateVersion(ctx context.Context, template, version string, v *contentv1.TemplateVersion) error {
	// The template's row lock makes versions of one template take turns, so each gets the
	// next seq and the latest version is the one committed last.
	ok, err := exists(ctx, tx.q, `SELECT 1 FROM templates WHERE id = $1`+tx.sql.forUpdate(), template)
	if err != nil {
		return fmt.Errorf("read template: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	definition, err := marshalProto(v.GetDefinition())
	if err != nil {
		return err
	}
	variables, err := marshalVariables(v.GetVariables())
	if err != nil {
		return err
	}
	var seq int64
	if err := tx.q.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM template_versions WHERE template_id = $1`,
		template).Scan(&seq); err != nil {
		return fmt.Errorf("number template version: %w", err)
	}
	createTime := v.GetCreateTime().AsTime()
	n, err := tx.q.Exec(ctx, `INSERT INTO template_versions (template_id, seq, `+versionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		template, seq, version, v.GetTitle(), definition, variables, v.GetNotes(), createTime)
	if err != nil {
		return fmt.Errorf("insert template version: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	if _, err := tx.q.Exec(ctx, `UPDATE templates SET latest_version = $2, update_time = $3 WHERE id = $1`,
		template, version, createTime); err != nil {
		return fmt.Errorf("update template: %w", err)
	}
	return nil
}

func scanVersion(template string, r sqlstore.Row) (*contentv1.TemplateVersion, error) {
	var (
		id, title, variables, notes string
		definition                  *string
		createTime                  time.Time
	)
	if err := r.Scan(&id, &title, &definition, &variables, &notes, &createTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan template version: %w", err)
	}
	v := &contentv1.TemplateVersion{
		Name:       TemplateVersionName(template, id),
		Title:      title,
		Notes:      notes,
		CreateTime: ts(createTime),
	}
	def := &contentv1.AppDefinition{}
	if ok, err := unmarshalProto(definition, def); err != nil {
		return nil, fmt.Errorf("template version %s: %w", v.Name, err)
	} else if ok {
		v.Definition = def
	}
	var err error
	if v.Variables, err = unmarshalVariables(variables); err != nil {
		return nil, fmt.Errorf("template version %s: %w", v.Name, err)
	}
	return v, nil
}

// marshalVariables stores variables as a JSON array of their protojson, [] for none.
func marshalVariables(vars []*contentv1.TemplateVariable) (string, error) {
	raw := make([]json.RawMessage, 0, len(vars))
	for _, v := range vars {
		b, err := protojson.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("marshal template variable: %w", err)
		}
		raw = append(raw, b)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return "", fmt.Errorf("marshal template variables: %w", err)
	}
	return string(b), nil
}

// unmarshalVariables reverses marshalVariables; none reads back nil.
func unmarshalVariables(s string) ([]*contentv1.TemplateVariable, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("variables: %w", err)
	}
	var out []*contentv1.TemplateVariable
	for _, r := range raw {
		v := &contentv1.TemplateVariable{}
		if err := protojson.Unmarshal(r, v); err != nil {
			return nil, fmt.Errorf("variable: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// ---- drift ----

func (s *sqlStore) ListDrift(ctx context.Context, template string, page Page) ([]*contentv1.Drift, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	// Pages are by app name, across tenants, so the order is that of the names themselves:
	// ordering by (tenant, app) would put "tenants/a-b/…" and "tenants/a/…" the other way.
	name := `('tenants/' || a.tenant_id || '/apps/' || a.id)` + s.sql.byteOrder()
	// A revision a rollout made (or its rollback put back) is the template's; any other
	// source on top of the deployed one means the app was changed since.
	rows, err := s.db.Query(ctx, `SELECT a.tenant_id, a.id, a.template_version, a.latest_revision,
			(SELECT MAX(d.revision) FROM app_revisions d
				WHERE d.tenant_id = a.tenant_id AND d.app_id = a.id AND d.source = 'ROLLOUT'
					AND d.template_version = a.template_version)
		FROM apps a JOIN app_revisions r
			ON r.tenant_id = a.tenant_id AND r.app_id = a.id AND r.revision = a.latest_revision
		WHERE a.template_id = $1 AND a.state = 'ACTIVE' AND r.source NOT IN ('ROLLOUT', 'ROLLBACK')
			AND `+name+` > $2
		ORDER BY `+name+` LIMIT $3`, template, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.Drift, error) {
		var (
			tenant, app, version string
			current              int64
			deployed             *int64
		)
		if err := r.Scan(&tenant, &app, &version, &current, &deployed); err != nil {
			return nil, fmt.Errorf("scan drift: %w", err)
		}
		d := &contentv1.Drift{
			App:             AppName(tenant, app),
			TemplateVersion: version,
			CurrentRevision: AppRevisionName(tenant, app, current),
		}
		if deployed != nil {
			d.DeployedRevision = AppRevisionName(tenant, app, *deployed)
		}
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list drift: %w", err)
	}
	return out, nil
}
