package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- spaces ----

const spaceColumns = `id, display_name, description, type, revision, create_time, update_time`

func (s *sqlStore) GetSpace(ctx context.Context, tenant, id string) (*contentv1.Space, error) {
	return getSpace(ctx, s.db, tenant, id, "")
}

func (tx *sqlTx) GetSpace(ctx context.Context, tenant, id string) (*contentv1.Space, error) {
	return getSpace(ctx, tx.q, tenant, id, tx.sql.forUpdate())
}

func getSpace(ctx context.Context, q sqlstore.Queryer, tenant, id, lock string) (*contentv1.Space, error) {
	sp, err := scanSpace(tenant, q.QueryRow(ctx, `SELECT `+spaceColumns+` FROM spaces
		WHERE tenant_id = $1 AND id = $2`+lock, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return sp, err
}

func (s *sqlStore) ListSpaces(ctx context.Context, tenant string, ids []string, page Page) ([]*contentv1.Space, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	if ids != nil && len(ids) == 0 {
		return nil, nil
	}
	a := args{tenant, page.AfterID}
	query := `SELECT ` + spaceColumns + ` FROM spaces WHERE tenant_id = $1 AND id > $2`
	if ids != nil {
		query += ` AND id ` + a.in(ids)
	}
	query += ` ORDER BY id LIMIT ` + a.add(page.Limit)
	rows, err := s.db.Query(ctx, query, a...)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.Space, error) { return scanSpace(tenant, r) })
	if err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	return out, nil
}

func (tx *sqlTx) CreateSpace(ctx context.Context, tenant, id string, sp *contentv1.Space) error {
	n, err := tx.q.Exec(ctx, `INSERT INTO spaces (tenant_id, `+spaceColumns+`)
		VALUES ($1, $2, $3, $4, $5, 1, $6, $7) ON CONFLICT DO NOTHING`,
		tenant, id, sp.GetDisplayName(), sp.GetDescription(), enumName(sp.GetType(), "TYPE_"),
		sp.GetCreateTime().AsTime(), sp.GetUpdateTime().AsTime())
	if err != nil {
		return fmt.Errorf("insert space: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	sp.Etag = spaceEtag(tenant, id, 1)
	return nil
}

func (tx *sqlTx) UpdateSpace(ctx context.Context, tenant, id, etag string, sp *contentv1.Space) error {
	revision, err := tx.checkSpaceEtag(ctx, tenant, id, etag)
	if err != nil {
		return err
	}
	revision++
	if _, err := tx.q.Exec(ctx, `UPDATE spaces SET display_name = $3, description = $4, update_time = $5,
		revision = $6 WHERE tenant_id = $1 AND id = $2`,
		tenant, id, sp.GetDisplayName(), sp.GetDescription(), sp.GetUpdateTime().AsTime(), revision); err != nil {
		return fmt.Errorf("update space: %w", err)
	}
	sp.Etag = spaceEtag(tenant, id, revision)
	return nil
}

func (tx *sqlTx) DeleteSpace(ctx context.Context, tenant, id, etag string) error {
	// The space's row lock makes a concurrent CreateApp in it (which takes a share lock on
	// the space first) either finish before this counts the apps, or find the space gone.
	if _, err := tx.checkSpaceEtag(ctx, tenant, id, etag); err != nil {
		return err
	}
	hasApps, err := exists(ctx, tx.q, `SELECT 1 FROM apps WHERE tenant_id = $1 AND space_id = $2 LIMIT 1`, tenant, id)
	if err != nil {
		return fmt.Errorf("count space apps: %w", err)
	}
	if hasApps {
		return ErrSpaceNotEmpty
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM space_members WHERE tenant_id = $1 AND space_id = $2`, tenant, id); err != nil {
		return fmt.Errorf("delete space members: %w", err)
	}
	if _, err := tx.q.Exec(ctx, `DELETE FROM spaces WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
		return fmt.Errorf("delete space: %w", err)
	}
	return nil
}

// checkSpaceEtag locks the space and returns its revision, which must still be the one
// etag was made from (unless etag is empty).
func (tx *sqlTx) checkSpaceEtag(ctx context.Context, tenant, id, etag string) (int64, error) {
	var revision int64
	err := tx.q.QueryRow(ctx, `SELECT revision FROM spaces WHERE tenant_id = $1 AND id = $2`+tx.sql.forUpdate(),
		tenant, id).Scan(&revision)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("read space: %w", err)
	}
	if etag != "" && etag != spaceEtag(tenant, id, revision) {
		return 0, ErrEtagMismatch
	}
	return revision, nil
}

// lockSpace returns ErrNotFound unless the space exists, and keeps it from being deleted
// until the transaction ends.
func (tx *sqlTx) lockSpace(ctx context.Context, tenant, id string) error {
	ok, err := exists(ctx, tx.q, `SELECT 1 FROM spaces WHERE tenant_id = $1 AND id = $2`+tx.sql.forShare(), tenant, id)
	if err != nil {
		return fmt.Errorf("read space: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

func scanSpace(tenant string, r sqlstore.Row) (*contentv1.Space, error) {
	var (
		id, displayName, description, typ string
		revision                          int64
		createTime, updateTime            time.Time
	)
	if err := r.Scan(&id, &displayName, &description, &typ, &revision, &createTime, &updateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan space: %w", err)
	}
	return &contentv1.Space{
		Name:        SpaceName(tenant, id),
		DisplayName: displayName,
		Description: description,
		Type:        parseEnum[contentv1.Space_Type](contentv1.Space_Type_value, "TYPE_", typ),
		CreateTime:  ts(createTime),
		UpdateTime:  ts(updateTime),
		Etag:        spaceEtag(tenant, id, revision),
	}, nil
}

func spaceEtag(tenant, id string, revision int64) string {
	return etag(SpaceName(tenant, id), revision)
}

// ---- members ----

const memberColumns = `space_id, member_id, principal, kind, role, update_time`

func (s *sqlStore) ListSpaceMembers(ctx context.Context, tenant, space string, page Page) ([]*contentv1.SpaceMember, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+memberColumns+` FROM space_members
		WHERE tenant_id = $1 AND space_id = $2 AND member_id > $3 ORDER BY member_id LIMIT $4`,
		tenant, space, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*contentv1.SpaceMember, error) { return scanMember(tenant, r) })
	if err != nil {
		return nil, fmt.Errorf("list space members: %w", err)
	}
	// Members die with their space, so only an empty page leaves the space in doubt; a
	// missing one (or another tenant's) is not found, not an empty list.
	if len(out) == 0 {
		if _, err := getSpace(ctx, s.db, tenant, space, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) SpaceRoles(ctx context.Context, tenant string, members []string) (map[string]contentv1.SpaceRole, error) {
	out := map[string]contentv1.SpaceRole{}
	if len(members) == 0 {
		return out, nil
	}
	a := args{tenant}
	rows, err := s.db.Query(ctx, `SELECT space_id, role FROM space_members
		WHERE tenant_id = $1 AND principal `+a.in(members), a...)
	type grant struct {
		space string
		role  contentv1.SpaceRole
	}
	grants, err := collect(rows, err, func(r sqlstore.Row) (grant, error) {
		var g grant
		var role string
		if err := r.Scan(&g.space, &role); err != nil {
			return grant{}, fmt.Errorf("scan space role: %w", err)
		}
		g.role = parseEnum[contentv1.SpaceRole](contentv1.SpaceRole_value, "SPACE_ROLE_", role)
		return g, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read space roles: %w", err)
	}
	// The enum is ordered by what a role allows, each role allowing all below it.
	for _, g := range grants {
		if g.role > out[g.space] {
			out[g.space] = g.role
		}
	}
	return out, nil
}

func (tx *sqlTx) PutSpaceMember(ctx context.Context, tenant, space string, m *contentv1.SpaceMember) error {
	principal, kind := m.GetUser(), "USER"
	if principal == "" {
		principal, kind = m.GetGroup(), "GROUP"
	}
	if principal == "" {
		return errors.New("store: a space member needs a user or a group")
	}
	if m.GetName() == "" {
		m.Name = SpaceMemberName(tenant, space, MemberID(principal))
	}
	id := lastSegment(m.GetName())
	if id == "" {
		return fmt.Errorf("store: space member %q has no member id", m.GetName())
	}
	if err := tx.lockSpace(ctx, tenant, space); err != nil {
		return err
	}
	_, err := tx.q.Exec(ctx, `INSERT INTO space_members (tenant_id, `+memberColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant_id, space_id, member_id) DO UPDATE SET principal = excluded.principal,
			kind = excluded.kind, role = excluded.role, update_time = excluded.update_time`,
		tenant, space, id, principal, kind, enumName(m.GetRole(), "SPACE_ROLE_"), m.GetUpdateTime().AsTime())
	if err != nil {
		return fmt.Errorf("put space member: %w", err)
	}
	return nil
}

func (tx *sqlTx) DeleteSpaceMember(ctx context.Context, tenant, space, member string) error {
	n, err := tx.q.Exec(ctx, `DELETE FROM space_members WHERE tenant_id = $1 AND space_id = $2 AND member_id = $3`,
		tenant, space, member)
	if err != nil {
		return fmt.Errorf("delete space member: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func scanMember(tenant string, r sqlstore.Row) (*contentv1.SpaceMember, error) {
	var (
		space, id, principal, kind, role string
		updateTime                       time.Time
	)
	if err := r.Scan(&space, &id, &principal, &kind, &role, &updateTime); err != nil {
		return nil, fmt.Errorf("scan space member: %w", err)
	}
	m := &contentv1.SpaceMember{
		Name:       SpaceMemberName(tenant, space, id),
		Role:       parseEnum[contentv1.SpaceRole](contentv1.SpaceRole_value, "SPACE_ROLE_", role),
		UpdateTime: ts(updateTime),
	}
	if kind == "GROUP" {
		m.Group = principal
	} else {
		m.User = principal
	}
	return m, nil
}
