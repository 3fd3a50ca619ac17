package store

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/sqlstore"
)

// SQL is the Store over a sqlstore.DB.
//
// Every method is one transaction, or one statement, of its own, and none of them leaves a
// failed statement inside a transaction it goes on using: conflicts are detected with
// INSERT … ON CONFLICT DO NOTHING and by reading first, never by catching a unique
// violation, so no error of one method can abort (in PostgreSQL) work that follows it.
func SQL(db *sqlstore.DB) Store { return &sqlStore{db: db} }

type sqlStore struct {
	db *sqlstore.DB
}

// forShare locks the rows a SELECT reads against deletion until the transaction ends,
// without making readers of the same rows wait for each other (as FOR UPDATE would). SQLite
// needs no lock: its write transactions run one at a time.
func (s *sqlStore) forShare() string {
	if s.db.Dialect() == sqlstore.Postgres {
		return " FOR SHARE"
	}
	return ""
}

func (s *sqlStore) forUpdate() string { return s.db.Dialect().ForUpdate() }

// errLimit guards against a zero Page, which would otherwise read as an empty listing.
var errLimit = errors.New("store: page limit must be positive")

// ---- identity providers ----

const providerColumns = `id, display_name, jwt, disabled, revision, create_time, update_time`

func (s *sqlStore) CreateIdentityProvider(ctx context.Context, tenant, id string, p *identityv1.IdentityProvider) error {
	jwt, err := marshalJWT(p.GetJwt())
	if err != nil {
		return err
	}
	n, err := s.db.Exec(ctx, `INSERT INTO identity_providers (`+providerColumns+`, tenant_id)
		VALUES ($1, $2, $3, $4, 1, $5, $6, $7) ON CONFLICT DO NOTHING`,
		id, p.GetDisplayName(), jwt, p.GetDisabled(), p.GetCreateTime().AsTime(), p.GetUpdateTime().AsTime(), tenant)
	if err != nil {
		return fmt.Errorf("insert identity provider: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	p.Etag = providerEtag(tenant, id, 1)
	return nil
}

func (s *sqlStore) GetIdentityProvider(ctx context.Context, tenant, id string) (*identityv1.IdentityProvider, error) {
	p, err := scanProvider(tenant, s.db.QueryRow(ctx, `SELECT `+providerColumns+` FROM identity_providers
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return p, err
}

func (s *sqlStore) ListIdentityProviders(ctx context.Context, tenant string, page Page) ([]*identityv1.IdentityProvider, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+providerColumns+` FROM identity_providers
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list identity providers: %w", err)
	}
	defer rows.Close()
	var out []*identityv1.IdentityProvider
	for rows.Next() {
		p, err := scanProvider(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *sqlStore) UpdateIdentityProvider(ctx context.Context, tenant, id, etag string, p *identityv1.IdentityProvider) error {
	jwt, err := marshalJWT(p.GetJwt())
	if err != nil {
		return err
	}
	var revision int64
	err = s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		if err := s.checkProviderEtag(ctx, q, tenant, id, etag, &revision); err != nil {
			return err
		}
		revision++
		_, err := q.Exec(ctx, `UPDATE identity_providers SET display_name = $3, jwt = $4, disabled = $5,
			update_time = $6, revision = $7 WHERE tenant_id = $1 AND id = $2`,
			tenant, id, p.GetDisplayName(), jwt, p.GetDisabled(), p.GetUpdateTime().AsTime(), revision)
		if err != nil {
			return fmt.Errorf("update identity provider: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.Etag = providerEtag(tenant, id, revision)
	return nil
}

func (s *sqlStore) DeleteIdentityProvider(ctx context.Context, tenant, id, etag string) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		var revision int64
		if err := s.checkProviderEtag(ctx, q, tenant, id, etag, &revision); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM identity_providers WHERE tenant_id = $1 AND id = $2`, tenant, id); err != nil {
			return fmt.Errorf("delete identity provider: %w", err)
		}
		return nil
	})
}

// checkProviderEtag locks the provider and reads its revision, which must still be the one
// etag was made from (unless etag is empty).
func (s *sqlStore) checkProviderEtag(ctx context.Context, q sqlstore.Queryer, tenant, id, etag string, revision *int64) error {
	err := q.QueryRow(ctx, `SELECT revision FROM identity_providers WHERE tenant_id = $1 AND id = $2`+s.forUpdate(),
		tenant, id).Scan(revision)
	if errors.Is(err, sqlstore.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("read identity provider: %w", err)
	}
	if etag != "" && etag != providerEtag(tenant, id, *revision) {
		return ErrEtagMismatch
	}
	return nil
}

func scanProvider(tenant string, r sqlstore.Row) (*identityv1.IdentityProvider, error) {
	var (
		id, displayName        string
		jwt                    *string
		disabled               bool
		revision               int64
		createTime, updateTime time.Time
	)
	if err := r.Scan(&id, &displayName, &jwt, &disabled, &revision, &createTime, &updateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan identity provider: %w", err)
	}
	p := &identityv1.IdentityProvider{
		Name:        IdentityProviderName(tenant, id),
		DisplayName: displayName,
		Disabled:    disabled,
		CreateTime:  timestamppb.New(createTime),
		UpdateTime:  timestamppb.New(updateTime),
		Etag:        providerEtag(tenant, id, revision),
	}
	if jwt != nil {
		p.Jwt = &identityv1.JwtProvider{}
		if err := protojson.Unmarshal([]byte(*jwt), p.Jwt); err != nil {
			return nil, fmt.Errorf("identity provider %s config: %w", p.Name, err)
		}
	}
	return p, nil
}

// marshalJWT keeps an unset config unset (NULL), so what was stored reads back the same.
func marshalJWT(jwt *identityv1.JwtProvider) (*string, error) {
	if jwt == nil {
		return nil, nil
	}
	b, err := protojson.Marshal(jwt)
	if err != nil {
		return nil, fmt.Errorf("marshal identity provider config: %w", err)
	}
	s := string(b)
	return &s, nil
}

// providerEtag is opaque to clients: a digest of the provider's name and revision.
func providerEtag(tenant, id string, revision int64) string {
	sum := sha256.Sum256([]byte(IdentityProviderName(tenant, id) + "\x00" + strconv.FormatInt(revision, 10)))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// ---- shared helpers ----

// bumpDirectory raises the tenant's directory version by one and returns it.
func bumpDirectory(ctx context.Context, q sqlstore.Queryer, tenant string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `INSERT INTO tenant_state (tenant_id, epoch, directory_version) VALUES ($1, 0, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET directory_version = tenant_state.directory_version + 1
		RETURNING directory_version`, tenant).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump directory version: %w", err)
	}
	return v, nil
}

// placeholders returns "$from, $from+1, …" for n arguments.
func placeholders(from, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(parts, ", ")
}

// keysOf returns m's keys, sorted.
func keysOf[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// nullable stores "" as NULL, for the member columns of which exactly one is set.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func marshalScopes(scopes []string) (string, error) {
	if scopes == nil {
		scopes = []string{}
	}
	b, err := json.Marshal(scopes)
	if err != nil {
		return "", fmt.Errorf("marshal scopes: %w", err)
	}
	return string(b), nil
}

func unmarshalScopes(raw string) ([]string, error) {
	var scopes []string
	if err := json.Unmarshal([]byte(raw), &scopes); err != nil {
		return nil, fmt.Errorf("scopes: %w", err)
	}
	if len(scopes) == 0 {
		return nil, nil
	}
	return scopes, nil
}
