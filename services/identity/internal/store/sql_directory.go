package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/identity/internal/sessions"
)

// ---- users and logins ----

const userColumns = `id, identity_provider, subject, display_name, email, disabled, epoch,
	create_time, last_login_time`

// userRow is a user as stored, before its groups are joined in.
type userRow struct {
	id, provider, subject, displayName, email string
	disabled                                  bool
	epoch                                     int64
	createTime, lastLoginTime                 time.Time
}

func scanUser(r sqlstore.Row) (userRow, error) {
	var u userRow
	err := r.Scan(&u.id, &u.provider, &u.subject, &u.displayName, &u.email, &u.disabled, &u.epoch,
		&u.createTime, &u.lastLoginTime)
	if err != nil && !errors.Is(err, sqlstore.ErrNoRows) {
		err = fmt.Errorf("scan user: %w", err)
	}
	return u, err
}

// proto is the user as the API shows it; groupIDs must be sorted.
func (u userRow) proto(tenant string, groupIDs []string) *identityv1.User {
	out := &identityv1.User{
		Name:             UserName(tenant, u.id),
		IdentityProvider: IdentityProviderName(tenant, u.provider),
		Subject:          u.subject,
		DisplayName:      u.displayName,
		Email:            u.email,
		Disabled:         u.disabled,
		CreateTime:       timestamppb.New(u.createTime),
		LastLoginTime:    timestamppb.New(u.lastLoginTime),
	}
	for _, g := range groupIDs {
		out.Groups = append(out.Groups, GroupName(tenant, g))
	}
	return out
}

func (s *sqlStore) Login(ctx context.Context, l Login) (*LoginResult, error) {
	if err := refuseNUL(l); err != nil {
		return nil, err
	}
	claims := loginClaims(l.GroupClaims)
	var res *LoginResult
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// Lock order, the same in every transaction that takes these locks, so concurrent
		// logins queue instead of deadlocking: the user, its groups in claim order, the
		// tenant's counters, the memberships.
		u, err := s.upsertUser(ctx, q, l)
		if err != nil {
			return err
		}
		groupIDs, created, err := s.claimGroups(ctx, q, l.Tenant, claims, l.Time)
		if err != nil {
			return err
		}
		var version int64
		if created {
			if version, err = bumpDirectory(ctx, q, l.Tenant); err != nil {
				return err
			}
		}
		if err := setMemberships(ctx, q, l.Tenant, u.id, groupIDs); err != nil {
			return err
		}
		res = &LoginResult{
			User:             u.proto(l.Tenant, groupIDs),
			GroupIDs:         groupIDs,
			Disabled:         u.disabled,
			DirectoryVersion: version,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// refuseNUL refuses a login whose claims hold a NUL character, which a JWT may carry
// (JSON's \u0000) but PostgreSQL's text cannot; SQLite refuses it too, so that every store
// behaves the same.
func refuseNUL(l Login) error {
	fields := append([]string{l.Tenant, l.UserID, l.IdentityProvider, l.Subject, l.DisplayName, l.Email}, l.GroupClaims...)
	for _, f := range fields {
		if strings.ContainsRune(f, 0) {
			return errors.New("store: login claims may not contain NUL characters")
		}
	}
	return nil
}

// loginClaims drops empty claim values (no group can stand for "nothing") and duplicates,
// and sorts the rest: creating groups in one order everywhere keeps concurrent logins from
// deadlocking on each other's new groups.
func loginClaims(claims []string) []string {
	out := make([]string, 0, len(claims))
	for _, c := range claims {
		if c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// upsertUser returns the user of l's (provider, subject), locked, creating it with l's id
// or updating its claims and login time. It writes only what changed.
func (s *sqlStore) upsertUser(ctx context.Context, q sqlstore.Queryer, l Login) (userRow, error) {
	bySubject := func() (userRow, error) {
		return scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users
			WHERE tenant_id = $1 AND identity_provider = $2 AND subject = $3`+s.forUpdate(),
			l.Tenant, l.IdentityProvider, l.Subject))
	}
	u, err := bySubject()
	if errors.Is(err, sqlstore.ErrNoRows) {
		// A concurrent first login of the same user makes this insert wait for it and then
		// do nothing; the second read sees the committed row, so both logins succeed.
		n, insertErr := q.Exec(ctx, `INSERT INTO users (tenant_id, `+userColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, false, 0, $7, $7) ON CONFLICT DO NOTHING`,
			l.Tenant, l.UserID, l.IdentityProvider, l.Subject, l.DisplayName, l.Email, l.Time)
		if insertErr != nil {
			return userRow{}, fmt.Errorf("insert user: %w", insertErr)
		}
		if n == 1 {
			return userRow{
				id: l.UserID, provider: l.IdentityProvider, subject: l.Subject,
				displayName: l.DisplayName, email: l.Email, createTime: l.Time, lastLoginTime: l.Time,
			}, nil
		}
		u, err = bySubject()
		if errors.Is(err, sqlstore.ErrNoRows) {
			return userRow{}, fmt.Errorf("store: user id %q belongs to another provider or subject: %w",
				l.UserID, ErrAlreadyExists)
		}
	}
	if err != nil {
		return userRow{}, fmt.Errorf("read user: %w", err)
	}
	// The row is locked, so what was read is what is there.
	changed := u.displayName != l.DisplayName || u.email != l.Email
	later := l.Time.After(u.lastLoginTime)
	if later {
		u.lastLoginTime = l.Time
	}
	switch {
	case changed:
		u.displayName, u.email = l.DisplayName, l.Email
		_, err = q.Exec(ctx, `UPDATE users SET display_name = $3, email = $4, last_login_time = $5
			WHERE tenant_id = $1 AND id = $2`, l.Tenant, u.id, u.displayName, u.email, u.lastLoginTime)
	case later:
		_, err = q.Exec(ctx, `UPDATE users SET last_login_time = $3 WHERE tenant_id = $1 AND id = $2`,
			l.Tenant, u.id, u.lastLoginTime)
	}
	if err != nil {
		return userRow{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// claimGroups returns the sorted ids of the groups standing for claims (sorted, distinct),
// locked against deletion, creating the missing ones; created says whether it did.
func (s *sqlStore) claimGroups(ctx context.Context, q sqlstore.Queryer, tenant string, claims []string, now time.Time) ([]string, bool, error) {
	if len(claims) == 0 {
		return nil, false, nil
	}
	args := []any{tenant}
	for _, c := range claims {
		args = append(args, claimHash(c))
	}
	rows, err := q.Query(ctx, `SELECT id, claim_value FROM groups WHERE tenant_id = $1
		AND claim_sha256 IN (`+placeholders(2, len(claims))+`) ORDER BY claim_value`+s.forShare(), args...)
	if err != nil {
		return nil, false, fmt.Errorf("read groups: %w", err)
	}
	existing := map[string]string{} // claim value → group id
	for rows.Next() {
		var id, claim string
		if err := rows.Scan(&id, &claim); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("scan group: %w", err)
		}
		existing[claim] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read groups: %w", err)
	}

	ids := make([]string, 0, len(claims))
	created := false
	for _, claim := range claims {
		id, ok := existing[claim]
		if !ok {
			var made bool
			if id, made, err = s.claimGroup(ctx, q, tenant, claim, now); err != nil {
				return nil, false, err
			}
			created = created || made
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), created, nil
}

// claimDigestBytes are the digest lengths claimGroup tries, each only if the id with the
// shorter one is taken by another claim's group: 6, 16 and 22 hex digits.
var claimDigestBytes = []int{3, 8, 11}

// claimGroup creates the group of claim with the id GroupIDForClaim gives it, or returns
// the group a concurrent login created for it first.
func (s *sqlStore) claimGroup(ctx context.Context, q sqlstore.Queryer, tenant, claim string, now time.Time) (string, bool, error) {
	hash := claimHash(claim)
	for _, n := range claimDigestBytes {
		id := claimGroupID(claim, n)
		// As for users: a concurrent login creating the same group makes this wait and do
		// nothing, and the read that follows finds its group.
		inserted, err := q.Exec(ctx, `INSERT INTO groups (tenant_id, id, claim_value, claim_sha256, create_time)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, tenant, id, claim, hash, now)
		if err != nil {
			return "", false, fmt.Errorf("insert group: %w", err)
		}
		if inserted == 1 {
			return id, true, nil
		}
		var got string
		err = q.QueryRow(ctx, `SELECT id FROM groups WHERE tenant_id = $1 AND claim_sha256 = $2`+s.forShare(),
			tenant, hash).Scan(&got)
		if err == nil {
			return got, false, nil
		}
		if !errors.Is(err, sqlstore.ErrNoRows) {
			return "", false, fmt.Errorf("read group: %w", err)
		}
		// Nothing stands for claim, so the id is another claim's: try a longer digest.
	}
	return "", false, fmt.Errorf("store: every id for group claim %q is taken", claim)
}

// setMemberships makes groupIDs (sorted) the user's groups, writing only the difference.
func setMemberships(ctx context.Context, q sqlstore.Queryer, tenant, userID string, groupIDs []string) error {
	current, err := memberships(ctx, q, tenant, userID, userID)
	if err != nil {
		return err
	}
	have := current[userID]
	for _, g := range have {
		if _, found := slices.BinarySearch(groupIDs, g); found {
			continue
		}
		if _, err := q.Exec(ctx, `DELETE FROM group_members WHERE tenant_id = $1 AND user_id = $2 AND group_id = $3`,
			tenant, userID, g); err != nil {
			return fmt.Errorf("delete membership: %w", err)
		}
	}
	for _, g := range groupIDs {
		if _, found := slices.BinarySearch(have, g); found {
			continue
		}
		if _, err := q.Exec(ctx, `INSERT INTO group_members (tenant_id, user_id, group_id) VALUES ($1, $2, $3)`,
			tenant, userID, g); err != nil {
			return fmt.Errorf("insert membership: %w", err)
		}
	}
	return nil
}

// memberships returns the sorted group ids of the users with ids from first to last.
func memberships(ctx context.Context, q sqlstore.Queryer, tenant, first, last string) (map[string][]string, error) {
	rows, err := q.Query(ctx, `SELECT user_id, group_id FROM group_members
		WHERE tenant_id = $1 AND user_id >= $2 AND user_id <= $3 ORDER BY user_id, group_id`, tenant, first, last)
	if err != nil {
		return nil, fmt.Errorf("read memberships: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var user, group string
		if err := rows.Scan(&user, &group); err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		out[user] = append(out[user], group)
	}
	return out, rows.Err()
}

func (s *sqlStore) GetUser(ctx context.Context, tenant, id string) (*identityv1.User, error) {
	return getUser(ctx, s.db, tenant, id)
}

func getUser(ctx context.Context, q sqlstore.Queryer, tenant, id string) (*identityv1.User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	groups, err := memberships(ctx, q, tenant, id, id)
	if err != nil {
		return nil, err
	}
	return u.proto(tenant, groups[id]), nil
}

func (s *sqlStore) ListUsers(ctx context.Context, tenant string, page Page) ([]*identityv1.User, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND id > $2
		ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var users []userRow
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(users) == 0 {
		return nil, nil
	}
	groups, err := memberships(ctx, s.db, tenant, users[0].id, users[len(users)-1].id)
	if err != nil {
		return nil, err
	}
	out := make([]*identityv1.User, len(users))
	for i, u := range users {
		out[i] = u.proto(tenant, groups[u.id])
	}
	return out, nil
}

func (s *sqlStore) TouchLogins(ctx context.Context, touches []LoginTouch) error {
	// One order for every batch, so two batches touching the same users never deadlock.
	sorted := slices.Clone(touches)
	slices.SortFunc(sorted, func(a, b LoginTouch) int {
		if c := strings.Compare(a.Tenant, b.Tenant); c != 0 {
			return c
		}
		return strings.Compare(a.UserID, b.UserID)
	})
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		for _, t := range sorted {
			if _, err := q.Exec(ctx, `UPDATE users SET last_login_time = $3
				WHERE tenant_id = $1 AND id = $2 AND last_login_time < $3`, t.Tenant, t.UserID, t.Time); err != nil {
				return fmt.Errorf("touch login: %w", err)
			}
		}
		return nil
	})
}

// SetUserDisabled raises the user's epoch with the flag (see revocationEpoch).
func (s *sqlStore) SetUserDisabled(ctx context.Context, tenant, id string, disabled bool, now time.Time) (*identityv1.User, sessions.UserState, error) {
	var (
		user  *identityv1.User
		state sessions.UserState
	)
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The epoch rises in the same statement as the flag changes, so no reader ever sees
		// one without the other.
		err := q.QueryRow(ctx, `UPDATE users SET disabled = $3, epoch = `+revocationEpoch("epoch", "$4")+`
			WHERE tenant_id = $1 AND id = $2 RETURNING epoch, disabled`, tenant, id, disabled, now.UnixMicro()).
			Scan(&state.Epoch, &state.Disabled)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("set user disabled: %w", err)
		}
		user, err = getUser(ctx, q, tenant, id)
		return err
	})
	if err != nil {
		return nil, sessions.UserState{}, err
	}
	return user, state, nil
}

// ---- groups ----

const groupColumns = `id, claim_value, create_time`

func (s *sqlStore) CreateGroup(ctx context.Context, tenant, id string, g *identityv1.Group) (int64, error) {
	var version int64
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		n, err := q.Exec(ctx, `INSERT INTO groups (tenant_id, id, claim_value, claim_sha256, create_time)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			tenant, id, g.GetClaimValue(), claimHash(g.GetClaimValue()), g.GetCreateTime().AsTime())
		if err != nil {
			return fmt.Errorf("insert group: %w", err)
		}
		if n == 0 {
			return ErrAlreadyExists
		}
		version, err = bumpDirectory(ctx, q, tenant)
		return err
	})
	return version, err
}

func (s *sqlStore) GetGroup(ctx context.Context, tenant, id string) (*identityv1.Group, error) {
	g, err := scanGroup(tenant, s.db.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return g, err
}

func (s *sqlStore) ListGroups(ctx context.Context, tenant string, page Page) ([]*identityv1.Group, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+groupColumns+` FROM groups WHERE tenant_id = $1 AND id > $2
		ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	defer rows.Close()
	var out []*identityv1.Group
	for rows.Next() {
		g, err := scanGroup(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteGroup(ctx context.Context, tenant, id string) (int64, error) {
	var version int64
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// Memberships and bindings go with it: their foreign keys cascade.
		n, err := q.Exec(ctx, `DELETE FROM groups WHERE tenant_id = $1 AND id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete group: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		version, err = bumpDirectory(ctx, q, tenant)
		return err
	})
	return version, err
}

func scanGroup(tenant string, r sqlstore.Row) (*identityv1.Group, error) {
	var (
		id, claim  string
		createTime time.Time
	)
	if err := r.Scan(&id, &claim, &createTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan group: %w", err)
	}
	return &identityv1.Group{Name: GroupName(tenant, id), ClaimValue: claim, CreateTime: timestamppb.New(createTime)}, nil
}

// claimHash is what makes a claim value unique in its tenant (see the groups table).
func claimHash(claim string) []byte {
	sum := sha256.Sum256([]byte(claim))
	return sum[:]
}

// ---- role bindings ----

const bindingColumns = `id, user_id, group_id, role, create_time`

func (s *sqlStore) CreateRoleBinding(ctx context.Context, tenant, id string, b *identityv1.RoleBinding) (int64, error) {
	role, ok := roleName(b.GetRole())
	if !ok {
		return 0, fmt.Errorf("store: role binding with role %v", b.GetRole())
	}
	var (
		userID, groupID string
		member          string // the member's table
	)
	switch {
	case b.GetUser() != "" && b.GetGroup() != "":
		return 0, errors.New("store: role binding names both a user and a group")
	case b.GetUser() != "":
		userID, ok = memberID(b.GetUser(), UserName(tenant, ""))
		member = "users"
	case b.GetGroup() != "":
		groupID, ok = memberID(b.GetGroup(), GroupName(tenant, ""))
		member = "groups"
	default:
		return 0, errors.New("store: role binding names no member")
	}
	if !ok {
		// A member of another tenant does not exist in this one.
		return 0, ErrMemberNotFound
	}
	var version int64
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The lock keeps the member until the binding commits; a member deleted meanwhile
		// is found missing here, never as a foreign-key error from the insert.
		var one int
		err := q.QueryRow(ctx, `SELECT 1 FROM `+member+` WHERE tenant_id = $1 AND id = $2`+s.forShare(),
			tenant, userID+groupID).Scan(&one)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return ErrMemberNotFound
		}
		if err != nil {
			return fmt.Errorf("read role binding member: %w", err)
		}
		n, err := q.Exec(ctx, `INSERT INTO role_bindings (tenant_id, `+bindingColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			tenant, id, nullable(userID), nullable(groupID), role, b.GetCreateTime().AsTime())
		if err != nil {
			return fmt.Errorf("insert role binding: %w", err)
		}
		if n == 0 {
			return ErrAlreadyExists
		}
		version, err = bumpDirectory(ctx, q, tenant)
		return err
	})
	return version, err
}

// memberID returns the id of name under prefix (`tenants/{t}/users/`), if it is one.
func memberID(name, prefix string) (string, bool) {
	id, ok := strings.CutPrefix(name, prefix)
	return id, ok && id != "" && !strings.Contains(id, "/")
}

func (s *sqlStore) GetRoleBinding(ctx context.Context, tenant, id string) (*identityv1.RoleBinding, error) {
	b, err := scanBinding(tenant, s.db.QueryRow(ctx, `SELECT `+bindingColumns+` FROM role_bindings
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}

func (s *sqlStore) ListRoleBindings(ctx context.Context, tenant string, page Page) ([]*identityv1.RoleBinding, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+bindingColumns+` FROM role_bindings WHERE tenant_id = $1 AND id > $2
		ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list role bindings: %w", err)
	}
	defer rows.Close()
	var out []*identityv1.RoleBinding
	for rows.Next() {
		b, err := scanBinding(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *sqlStore) DeleteRoleBinding(ctx context.Context, tenant, id string) (int64, error) {
	var version int64
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		n, err := q.Exec(ctx, `DELETE FROM role_bindings WHERE tenant_id = $1 AND id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete role binding: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		version, err = bumpDirectory(ctx, q, tenant)
		return err
	})
	return version, err
}

func (s *sqlStore) Roles(ctx context.Context, tenant, userID string, groupIDs []string) ([]identityv1.Role, error) {
	args := []any{tenant, userID}
	members := "user_id = $2"
	if len(groupIDs) > 0 {
		for _, g := range groupIDs {
			args = append(args, g)
		}
		members = "(user_id = $2 OR group_id IN (" + placeholders(3, len(groupIDs)) + "))"
	}
	rows, err := s.db.Query(ctx, `SELECT DISTINCT role FROM role_bindings WHERE tenant_id = $1 AND `+members, args...)
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	defer rows.Close()
	var roles []identityv1.Role
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("scan role: %w", err)
		}
		if r := parseRole(name); r != identityv1.Role_ROLE_UNSPECIFIED {
			roles = append(roles, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	slices.Sort(roles)
	return slices.Compact(roles), nil
}

func scanBinding(tenant string, r sqlstore.Row) (*identityv1.RoleBinding, error) {
	var (
		id, role        string
		userID, groupID *string
		createTime      time.Time
	)
	if err := r.Scan(&id, &userID, &groupID, &role, &createTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan role binding: %w", err)
	}
	b := &identityv1.RoleBinding{
		Name:       RoleBindingName(tenant, id),
		Role:       parseRole(role),
		CreateTime: timestamppb.New(createTime),
	}
	if userID != nil {
		b.User = UserName(tenant, *userID)
	}
	if groupID != nil {
		b.Group = GroupName(tenant, *groupID)
	}
	return b, nil
}

// roleName is how roles are stored: the enum's name without its prefix ("ADMIN"), which
// reads well in SQL and survives renumbering.
func roleName(r identityv1.Role) (string, bool) {
	name, ok := identityv1.Role_name[int32(r)]
	if !ok || r == identityv1.Role_ROLE_UNSPECIFIED {
		return "", false
	}
	return strings.TrimPrefix(name, "ROLE_"), true
}

// parseRole reverses roleName; unknown names are ROLE_UNSPECIFIED.
func parseRole(name string) identityv1.Role {
	return identityv1.Role(identityv1.Role_value["ROLE_"+name])
}

// ---- revocation ----

// revocationEpoch is the SQL of the epoch a revocation (or a change of a user's disabled
// flag) sets: one more than current, but never less than now (a parameter: the clock in
// Unix microseconds). The Redis mirror keeps the higher of its epoch and the database's;
// a plain counter would fall behind it if the database were restored from an older backup
// while Redis kept the mirror, and a revocation would then change nothing. Tied to the
// clock, a revocation passes every epoch handed out before it.
func revocationEpoch(current, now string) string {
	now = "CAST(" + now + " AS BIGINT)"
	return "CASE WHEN " + current + " + 1 > " + now + " THEN " + current + " + 1 ELSE " + now + " END"
}

func (s *sqlStore) RaiseTenantEpoch(ctx context.Context, tenant string, now time.Time) (int64, error) {
	var epoch int64
	err := s.db.QueryRow(ctx, `INSERT INTO tenant_state (tenant_id, epoch, directory_version) VALUES ($1, `+revocationEpoch("0", "$2")+`, 0)
		ON CONFLICT (tenant_id) DO UPDATE SET epoch = `+revocationEpoch("tenant_state.epoch", "$2")+`
		RETURNING epoch`, tenant, now.UnixMicro()).Scan(&epoch)
	if err != nil {
		return 0, fmt.Errorf("raise tenant epoch: %w", err)
	}
	return epoch, nil
}

func (s *sqlStore) RaiseUserEpoch(ctx context.Context, tenant, user string, now time.Time) (sessions.UserState, error) {
	var state sessions.UserState
	err := s.db.QueryRow(ctx, `UPDATE users SET epoch = `+revocationEpoch("epoch", "$3")+` WHERE tenant_id = $1 AND id = $2
		RETURNING epoch, disabled`, tenant, user, now.UnixMicro()).Scan(&state.Epoch, &state.Disabled)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return sessions.UserState{}, ErrNotFound
	}
	if err != nil {
		return sessions.UserState{}, fmt.Errorf("raise user epoch: %w", err)
	}
	return state, nil
}

func (s *sqlStore) RevocationState(ctx context.Context, tenant string) (sessions.FullState, error) {
	// Two reads, not one snapshot: the mirror keeps the higher of each value, so a value
	// raised between them is merely picked up by one read and not the other.
	full := sessions.FullState{Users: map[string]sessions.UserState{}}
	err := s.db.QueryRow(ctx, `SELECT epoch, directory_version FROM tenant_state WHERE tenant_id = $1`, tenant).
		Scan(&full.TenantEpoch, &full.DirectoryVersion)
	if err != nil && !errors.Is(err, sqlstore.ErrNoRows) {
		return sessions.FullState{}, fmt.Errorf("read tenant state: %w", err)
	}
	rows, err := s.db.Query(ctx, `SELECT id, epoch, disabled FROM users
		WHERE tenant_id = $1 AND (epoch > 0 OR disabled)`, tenant)
	if err != nil {
		return sessions.FullState{}, fmt.Errorf("read user states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id    string
			state sessions.UserState
		)
		if err := rows.Scan(&id, &state.Epoch, &state.Disabled); err != nil {
			return sessions.FullState{}, fmt.Errorf("scan user state: %w", err)
		}
		full.Users[id] = state
	}
	if err := rows.Err(); err != nil {
		return sessions.FullState{}, fmt.Errorf("read user states: %w", err)
	}
	return full, nil
}
