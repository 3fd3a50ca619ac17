package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// ---- service accounts ----

const accountColumns = `id, display_name, scopes, create_time`

func (s *sqlStore) CreateServiceAccount(ctx context.Context, tenant, id string, a *identityv1.ServiceAccount) error {
	scopes, err := marshalScopes(a.GetScopes())
	if err != nil {
		return err
	}
	n, err := s.db.Exec(ctx, `INSERT INTO service_accounts (tenant_id, `+accountColumns+`)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		tenant, id, a.GetDisplayName(), scopes, a.GetCreateTime().AsTime())
	if err != nil {
		return fmt.Errorf("insert service account: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	return nil
}

func (s *sqlStore) GetServiceAccount(ctx context.Context, tenant, id string) (*identityv1.ServiceAccount, error) {
	a, err := scanAccount(tenant, s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM service_accounts
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return a, err
}

func (s *sqlStore) ListServiceAccounts(ctx context.Context, tenant string, page Page) ([]*identityv1.ServiceAccount, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+accountColumns+` FROM service_accounts WHERE tenant_id = $1 AND id > $2
		ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list service accounts: %w", err)
	}
	defer rows.Close()
	var out []*identityv1.ServiceAccount
	for rows.Next() {
		a, err := scanAccount(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteServiceAccount takes now for the contract's sake: the account's keys are deleted
// with it (their foreign key cascades), which revokes them more thoroughly than a revoke
// time could, and leaves nothing behind for an account later created with the same id.
func (s *sqlStore) DeleteServiceAccount(ctx context.Context, tenant, id string, _ time.Time) error {
	n, err := s.db.Exec(ctx, `DELETE FROM service_accounts WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete service account: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

func scanAccount(tenant string, r sqlstore.Row) (*identityv1.ServiceAccount, error) {
	var (
		id, displayName, scopes string
		createTime              time.Time
	)
	if err := r.Scan(&id, &displayName, &scopes, &createTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan service account: %w", err)
	}
	a := &identityv1.ServiceAccount{
		Name:        ServiceAccountName(tenant, id),
		DisplayName: displayName,
		CreateTime:  timestamppb.New(createTime),
	}
	var err error
	if a.Scopes, err = unmarshalScopes(scopes); err != nil {
		return nil, fmt.Errorf("service account %s: %w", a.Name, err)
	}
	return a, nil
}

// ---- API keys ----

const keyColumns = `hash, tenant_id, service_account, id, display_name, prefix, create_time,
	expire_time, last_use_time, revoke_time`

func (s *sqlStore) CreateAPIKey(ctx context.Context, k *APIKey) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// The lock keeps the account until the key commits; an account deleted meanwhile
		// is found missing here, never as a foreign-key error from the insert.
		if err := s.lockAccount(ctx, q, k.Tenant, k.ServiceAccount); err != nil {
			return err
		}
		return insertKey(ctx, q, k)
	})
}

// lockAccount returns ErrNotFound unless the account exists and, inside a transaction,
// keeps it from being deleted until the transaction ends.
func (s *sqlStore) lockAccount(ctx context.Context, q sqlstore.Queryer, tenant, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM service_accounts WHERE tenant_id = $1 AND id = $2`+s.forShare(),
		tenant, id).Scan(&one)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read service account: %w", err)
	}
	return nil
}

func insertKey(ctx context.Context, q sqlstore.Queryer, k *APIKey) error {
	n, err := q.Exec(ctx, `INSERT INTO api_keys (`+keyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		k.Hash, k.Tenant, k.ServiceAccount, k.ID, k.DisplayName, k.Prefix, k.CreateTime,
		k.ExpireTime, k.LastUseTime, k.RevokeTime)
	if err != nil {
		return fmt.Errorf("insert API key: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	return nil
}

func (s *sqlStore) ListAPIKeys(ctx context.Context, tenant, serviceAccount string, page Page) ([]*APIKey, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+keyColumns+` FROM api_keys
		WHERE tenant_id = $1 AND service_account = $2 AND id > $3 ORDER BY id LIMIT $4`,
		tenant, serviceAccount, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	var out []*APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	// Keys die with their account, so only an empty page leaves the account in doubt; a
	// missing one (or another tenant's) is not found, not an empty list.
	if len(out) == 0 {
		if err := s.lockAccount(ctx, s.db, tenant, serviceAccount); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *sqlStore) RevokeAPIKey(ctx context.Context, tenant, serviceAccount, id string, now time.Time) (*APIKey, error) {
	k, err := scanKey(s.db.QueryRow(ctx, `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, $4)
		WHERE tenant_id = $1 AND service_account = $2 AND id = $3 RETURNING `+keyColumns,
		tenant, serviceAccount, id, now))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return k, err
}

func (s *sqlStore) KeyOwner(ctx context.Context, hash []byte, now time.Time) (*KeyOwner, error) {
	var scopes string
	var k APIKey
	err := s.db.QueryRow(ctx, `SELECT k.hash, k.tenant_id, k.service_account, k.id, k.display_name, k.prefix,
			k.create_time, k.expire_time, k.last_use_time, k.revoke_time, a.scopes
		FROM api_keys k JOIN service_accounts a ON a.tenant_id = k.tenant_id AND a.id = k.service_account
		WHERE k.hash = $1 AND k.revoke_time IS NULL AND (k.expire_time IS NULL OR k.expire_time > $2)`,
		hash, now).Scan(&k.Hash, &k.Tenant, &k.ServiceAccount, &k.ID, &k.DisplayName, &k.Prefix,
		&k.CreateTime, &k.ExpireTime, &k.LastUseTime, &k.RevokeTime, &scopes)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read API key: %w", err)
	}
	owner := &KeyOwner{Key: &k}
	if owner.Scopes, err = unmarshalScopes(scopes); err != nil {
		return nil, fmt.Errorf("service account %s: %w", ServiceAccountName(k.Tenant, k.ServiceAccount), err)
	}
	return owner, nil
}

func (s *sqlStore) TouchAPIKeys(ctx context.Context, lastUse map[string]time.Time) error {
	// One order for every batch, so two replicas flushing the same keys never deadlock.
	hashes := keysOf(lastUse)
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		for _, h := range hashes {
			if _, err := q.Exec(ctx, `UPDATE api_keys SET last_use_time = $2
				WHERE hash = $1 AND (last_use_time IS NULL OR last_use_time < $2)`, []byte(h), lastUse[h]); err != nil {
				return fmt.Errorf("touch API key: %w", err)
			}
		}
		return nil
	})
}

func (s *sqlStore) EnsureBootstrapKey(ctx context.Context, hash []byte, prefix string, now time.Time) (bool, error) {
	var changed bool
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		changed = false
		all, err := marshalScopes(Scopes)
		if err != nil {
			return err
		}
		n, err := q.Exec(ctx, `INSERT INTO service_accounts (tenant_id, `+accountColumns+`)
			VALUES ('', $1, 'Bootstrap admin', $2, $3) ON CONFLICT DO NOTHING`, BootstrapServiceAccount, all, now)
		if err != nil {
			return fmt.Errorf("insert bootstrap account: %w", err)
		}
		changed = n == 1
		// Replicas starting together take turns from here, each seeing what the one before
		// it committed.
		var raw string
		if err := q.QueryRow(ctx, `SELECT scopes FROM service_accounts WHERE tenant_id = '' AND id = $1`+s.forUpdate(),
			BootstrapServiceAccount).Scan(&raw); err != nil {
			return fmt.Errorf("read bootstrap account: %w", err)
		}
		scopes, err := unmarshalScopes(raw)
		if err != nil {
			return fmt.Errorf("bootstrap account: %w", err)
		}
		if !slices.Equal(scopes, Scopes) {
			if _, err := q.Exec(ctx, `UPDATE service_accounts SET scopes = $2 WHERE tenant_id = '' AND id = $1`,
				BootstrapServiceAccount, all); err != nil {
				return fmt.Errorf("update bootstrap account: %w", err)
			}
			changed = true
		}

		var (
			tenant, account     string
			revoked, expiration *time.Time
		)
		err = q.QueryRow(ctx, `SELECT tenant_id, service_account, revoke_time, expire_time FROM api_keys
			WHERE hash = $1`, hash).Scan(&tenant, &account, &revoked, &expiration)
		switch {
		case errors.Is(err, sqlstore.ErrNoRows):
			if err := insertKey(ctx, q, &APIKey{
				ServiceAccount: BootstrapServiceAccount,
				// The hash is unique, so an id taken from it is too.
				ID:          hex.EncodeToString(hash[:min(len(hash), 8)]),
				DisplayName: "Bootstrap key",
				Prefix:      prefix,
				Hash:        hash,
				CreateTime:  now,
			}); err != nil {
				return fmt.Errorf("bootstrap key: %w", err)
			}
			changed = true
		case err != nil:
			return fmt.Errorf("read bootstrap key: %w", err)
		case tenant != "" || account != BootstrapServiceAccount:
			return errors.New("store: the bootstrap key's hash belongs to another service account's key")
		case revoked != nil || expiration != nil:
			// The operator still configures this key, so it is to work: revoking it was
			// undone by configuring it again.
			if _, err := q.Exec(ctx, `UPDATE api_keys SET revoke_time = NULL, expire_time = NULL WHERE hash = $1`,
				hash); err != nil {
				return fmt.Errorf("restore bootstrap key: %w", err)
			}
			changed = true
		}

		n, err = q.Exec(ctx, `UPDATE api_keys SET revoke_time = $3
			WHERE tenant_id = '' AND service_account = $1 AND hash <> $2 AND revoke_time IS NULL`,
			BootstrapServiceAccount, hash, now)
		if err != nil {
			return fmt.Errorf("revoke older bootstrap keys: %w", err)
		}
		changed = changed || n > 0
		return nil
	})
	return changed, err
}

func (s *sqlStore) HasBootstrapKey(ctx context.Context) (bool, error) {
	var has bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys
		WHERE tenant_id = '' AND service_account = $1 AND revoke_time IS NULL)`, BootstrapServiceAccount).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("read bootstrap key: %w", err)
	}
	return has, nil
}

func scanKey(r sqlstore.Row) (*APIKey, error) {
	var k APIKey
	if err := r.Scan(&k.Hash, &k.Tenant, &k.ServiceAccount, &k.ID, &k.DisplayName, &k.Prefix, &k.CreateTime,
		&k.ExpireTime, &k.LastUseTime, &k.RevokeTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan API key: %w", err)
	}
	return &k, nil
}
