package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oriel-dev/oriel/platform/auth"
	"github.com/oriel-dev/oriel/platform/sqlstore"
	"github.com/oriel-dev/oriel/services/datagateway/internal/tunnel"
)

// The prefixes of agent secrets, so leaked ones are easy to scan for.
const (
	// EnrollmentTokenPrefix starts every one-time enrollment token.
	EnrollmentTokenPrefix = "oriel_ae_"
	// AgentCredentialPrefix starts every agent credential.
	AgentCredentialPrefix = "oriel_ac_"
)

const agentColumns = `id, display_name, pool, credential_hash IS NOT NULL, revoked, enroll_time, version, hostname,
	connected, connect_time, last_heartbeat_time, in_flight, create_time`

// CreateAgent implements Store.
func (s *SQL) CreateAgent(ctx context.Context, a *Agent) error {
	n, err := s.db.Exec(ctx, `INSERT INTO agents (tenant_id, id, display_name, pool, credential_hash, revoked,
		enroll_time, version, hostname, connected, connect_time, last_heartbeat_time, in_flight, create_time)
		VALUES ($1, $2, $3, $4, NULL, $5, NULL, '', '', $5, NULL, NULL, 0, $6) ON CONFLICT DO NOTHING`,
		a.Tenant, a.ID, a.DisplayName, a.Pool, false, a.CreateTime)
	if err != nil {
		return fmt.Errorf("insert agent: %w", err)
	}
	if n == 0 {
		return ErrAlreadyExists
	}
	return nil
}

// GetAgent implements Store.
func (s *SQL) GetAgent(ctx context.Context, tenant, id string) (*Agent, error) {
	return getAgent(ctx, s.db, tenant, id)
}

func getAgent(ctx context.Context, q sqlstore.Queryer, tenant, id string) (*Agent, error) {
	a, err := scanAgent(tenant, q.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, sqlstore.ErrNoRows) {
		return nil, ErrNotFound
	}
	return a, err
}

// ListAgents implements Store.
func (s *SQL) ListAgents(ctx context.Context, tenant string, page Page) ([]*Agent, error) {
	if page.Limit <= 0 {
		return nil, errLimit
	}
	rows, err := s.db.Query(ctx, `SELECT `+agentColumns+` FROM agents
		WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, tenant, page.AfterID, page.Limit)
	out, err := collect(rows, err, func(r sqlstore.Row) (*Agent, error) { return scanAgent(tenant, r) })
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// CreateEnrollmentToken implements Store.
func (s *SQL) CreateEnrollmentToken(ctx context.Context, tenant, agent string, now, expire time.Time) (string, error) {
	token := newSecret(EnrollmentTokenPrefix)
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		ok, err := exists(ctx, q, `SELECT 1 FROM agents WHERE tenant_id = $1 AND id = $2`+s.sql.forShare(), tenant, agent)
		if err != nil {
			return fmt.Errorf("read agent: %w", err)
		}
		if !ok {
			return ErrNotFound
		}
		_, err = q.Exec(ctx, `INSERT INTO enrollment_tokens (token_hash, tenant_id, agent_id, expire_time, create_time)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant_id, agent_id) DO UPDATE SET token_hash = excluded.token_hash,
				expire_time = excluded.expire_time, create_time = excluded.create_time`,
			hashSecret(token), tenant, agent, expire, now)
		if err != nil {
			return fmt.Errorf("put enrollment token: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// RevokeAgent implements Store.
func (s *SQL) RevokeAgent(ctx context.Context, tenant, id string) (*Agent, error) {
	var a *Agent
	err := s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		// A revoked agent has no live stream once the hub cuts it: it shows as such even
		// before the hub records that.
		n, err := q.Exec(ctx, `UPDATE agents SET revoked = $3, connected = $4, in_flight = 0
			WHERE tenant_id = $1 AND id = $2`, tenant, id, true, false)
		if err != nil {
			return fmt.Errorf("revoke agent: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		if _, err := q.Exec(ctx, `DELETE FROM enrollment_tokens WHERE tenant_id = $1 AND agent_id = $2`, tenant, id); err != nil {
			return fmt.Errorf("drop enrollment token: %w", err)
		}
		a, err = getAgent(ctx, q, tenant, id)
		return err
	})
	return a, err
}

// DeleteAgent implements Store.
func (s *SQL) DeleteAgent(ctx context.Context, tenant, id string) error {
	return s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		if _, err := q.Exec(ctx, `DELETE FROM enrollment_tokens WHERE tenant_id = $1 AND agent_id = $2`, tenant, id); err != nil {
			return fmt.Errorf("drop enrollment token: %w", err)
		}
		n, err := q.Exec(ctx, `DELETE FROM agents WHERE tenant_id = $1 AND id = $2`, tenant, id)
		if err != nil {
			return fmt.Errorf("delete agent: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// Enroll implements tunnel.Agents: it spends the token and gives its agent a new
// credential in one transaction, so a token enrolls at most once however many agents
// race with it. An expired token stays unspent (and useless).
func (s *SQL) Enroll(ctx context.Context, enrollmentToken string) (agent, credential string, err error) {
	if !strings.HasPrefix(enrollmentToken, EnrollmentTokenPrefix) {
		return "", "", auth.ErrInvalidCredential
	}
	now := s.now()
	credential = newSecret(AgentCredentialPrefix)
	err = s.db.ReadWriteTx(ctx, func(ctx context.Context, q sqlstore.Queryer) error {
		var (
			tenant, id string
			expire     time.Time
		)
		err := q.QueryRow(ctx, `DELETE FROM enrollment_tokens WHERE token_hash = $1
			RETURNING tenant_id, agent_id, expire_time`, hashSecret(enrollmentToken)).Scan(&tenant, &id, &expire)
		if errors.Is(err, sqlstore.ErrNoRows) {
			return auth.ErrInvalidCredential
		}
		if err != nil {
			return fmt.Errorf("spend enrollment token: %w", err)
		}
		if !now.Before(expire) {
			return auth.ErrInvalidCredential
		}
		n, err := q.Exec(ctx, `UPDATE agents SET credential_hash = $3, revoked = $4, enroll_time = $5
			WHERE tenant_id = $1 AND id = $2`, tenant, id, hashSecret(credential), false, now)
		if err != nil {
			return fmt.Errorf("enroll agent: %w", err)
		}
		if n == 0 {
			return auth.ErrInvalidCredential
		}
		agent = AgentName(tenant, id)
		return nil
	})
	if err != nil {
		return "", "", err
	}
	return agent, credential, nil
}

// Authenticate implements tunnel.Agents.
func (s *SQL) Authenticate(ctx context.Context, credential string) (tunnel.Identity, error) {
	if !strings.HasPrefix(credential, AgentCredentialPrefix) {
		return tunnel.Identity{}, auth.ErrInvalidCredential
	}
	var tenant, id, pool string
	var revoked bool
	err := s.db.QueryRow(ctx, `SELECT tenant_id, id, pool, revoked FROM agents WHERE credential_hash = $1`,
		hashSecret(credential)).Scan(&tenant, &id, &pool, &revoked)
	if errors.Is(err, sqlstore.ErrNoRows) || (err == nil && revoked) {
		return tunnel.Identity{}, auth.ErrInvalidCredential
	}
	if err != nil {
		return tunnel.Identity{}, fmt.Errorf("authenticate agent: %w", err)
	}
	return tunnel.Identity{Agent: AgentName(tenant, id), Tenant: tenant, Pool: pool}, nil
}

// RecordStatus implements tunnel.Agents. The status of a stream that has ended is
// written only if no later stream of the agent has been recorded since (its connect time
// is the one recorded), so a reconnect to another replica is not overwritten by the old
// replica noticing the old stream's end. An agent that no longer exists is ErrNotFound.
func (s *SQL) RecordStatus(ctx context.Context, st tunnel.Status) error {
	tenant, id, ok := AgentOf(st.Agent)
	if !ok {
		return fmt.Errorf("store: %q is not an agent name", st.Agent)
	}
	var (
		n   int64
		err error
	)
	if st.Connected {
		n, err = s.db.Exec(ctx, `UPDATE agents SET connected = $3, version = $4, hostname = $5,
			connect_time = $6, last_heartbeat_time = $7, in_flight = $8, replica_addr = $9 WHERE tenant_id = $1 AND id = $2`,
			tenant, id, true, st.Version, st.Hostname, optionalTime(st.ConnectTime), optionalTime(st.LastHeartbeat), st.InFlight,
			optionalText(st.Replica))
	} else {
		query := `UPDATE agents SET connected = $3, in_flight = 0, replica_addr = NULL,
			last_heartbeat_time = COALESCE($4, last_heartbeat_time) WHERE tenant_id = $1 AND id = $2`
		a := []any{tenant, id, false, optionalTime(st.LastHeartbeat)}
		if !st.ConnectTime.IsZero() {
			query += ` AND (connect_time IS NULL OR connect_time <= $5)`
			a = append(a, st.ConnectTime)
		}
		n, err = s.db.Exec(ctx, query, a...)
		if err == nil && n == 0 {
			// A later stream's status stands; only a missing agent is an error.
			if _, err = getAgent(ctx, s.db, tenant, id); err == nil {
				return nil
			}
			return err
		}
	}
	if err != nil {
		return fmt.Errorf("record agent status: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// AgentReplicas implements Store.
func (s *SQL) AgentReplicas(ctx context.Context, tenant, pool, except string, heardSince time.Time) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT replica_addr FROM agents
		WHERE tenant_id = $1 AND pool = $2 AND connected = $3 AND revoked = $4
			AND replica_addr IS NOT NULL AND replica_addr <> $5 AND last_heartbeat_time > $6
		ORDER BY replica_addr`, tenant, pool, true, false, except, heardSince)
	out, err := collect(rows, err, func(r sqlstore.Row) (string, error) {
		var addr string
		return addr, r.Scan(&addr)
	})
	if err != nil {
		return nil, fmt.Errorf("list agent replicas: %w", err)
	}
	return out, nil
}

func scanAgent(tenant string, r sqlstore.Row) (*Agent, error) {
	a := &Agent{Tenant: tenant}
	var inFlight int64
	if err := r.Scan(&a.ID, &a.DisplayName, &a.Pool, &a.Enrolled, &a.Revoked, &a.EnrollTime, &a.Version, &a.Hostname,
		&a.Connected, &a.ConnectTime, &a.LastHeartbeat, &inFlight, &a.CreateTime); err != nil {
		if errors.Is(err, sqlstore.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("scan agent: %w", err)
	}
	a.InFlight = int(inFlight)
	return a, nil
}
