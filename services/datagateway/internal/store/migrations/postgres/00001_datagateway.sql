-- +goose Up
-- The datagateway's tables. Every table leads with tenant_id, so every query filters by
-- tenant on an index prefix. Ids are COLLATE "C" so pages keyed by id follow byte order,
-- as in SQLite. Enums are stored as their names without prefix ('STREAMING').

-- Connections. params is the kind's parameters message (PostgresParams, MysqlParams or
-- HttpParams) as protojson. Credentials are only ever stored sealed (AES-256-GCM, bound
-- to the connection's name) with the id of the key that sealed them; both are NULL when
-- the connection has none. revision rises with every update; the etag is a digest of it.
CREATE TABLE connections (
    tenant_id              text COLLATE "C" NOT NULL,
    id                     text COLLATE "C" NOT NULL,
    display_name           text NOT NULL,
    -- 'postgres', 'mysql' or 'http'; it never changes.
    kind                   text NOT NULL,
    params                 jsonb NOT NULL,
    agent_pool             text NOT NULL,
    credentials_key_id     text,
    credentials_ciphertext bytea,
    revision               bigint NOT NULL,
    create_time            timestamptz NOT NULL,
    update_time            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Agents. credential_hash is the hex SHA-256 of the agent's `oriel_ac_` credential, NULL
-- until it enrolls; revoked refuses it until the agent enrolls again. The stream status
-- (connected … in_flight) is written by whichever replica holds the agent's stream and
-- read by every replica's API.
CREATE TABLE agents (
    tenant_id           text COLLATE "C" NOT NULL,
    id                  text COLLATE "C" NOT NULL,
    display_name        text NOT NULL,
    pool                text NOT NULL,
    credential_hash     text,
    revoked             boolean NOT NULL,
    enroll_time         timestamptz,
    version             text NOT NULL,
    hostname            text NOT NULL,
    connected           boolean NOT NULL,
    connect_time        timestamptz,
    last_heartbeat_time timestamptz,
    in_flight           integer NOT NULL,
    create_time         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
-- Authenticate finds an agent by its credential on every stream and every re-check.
CREATE UNIQUE INDEX agents_credential_idx ON agents (credential_hash);

-- Enrollment tokens: at most one unused per agent (a new one replaces it), kept as the
-- hex SHA-256 of the `oriel_ae_` token; spending one deletes it.
CREATE TABLE enrollment_tokens (
    token_hash  text COLLATE "C" PRIMARY KEY,
    tenant_id   text COLLATE "C" NOT NULL,
    agent_id    text COLLATE "C" NOT NULL,
    expire_time timestamptz NOT NULL,
    create_time timestamptz NOT NULL,
    UNIQUE (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);

-- Replications. The API writes display_name … tables at creation and state, deleting and
-- last_error on pause, resume and delete; the replication engine writes the rest (its
-- progress, its lease, snapshot_done) and removes rows marked deleting once their slot is
-- dropped. source_connection and target_connection are connection ids of the same
-- tenant; a connection a replication names cannot be deleted. Every writer sets a new
-- etag (any text); the etag clients see is a digest of it and the status fields.
CREATE TABLE replications (
    tenant_id          text COLLATE "C" NOT NULL,
    id                 text COLLATE "C" NOT NULL,
    display_name       text NOT NULL,
    source_connection  text COLLATE "C" NOT NULL,
    target_connection  text COLLATE "C" NOT NULL,
    -- A JSON array of table names as given (`schema.table` or `table`).
    tables             jsonb NOT NULL,
    -- 'SNAPSHOTTING', 'STREAMING', 'PAUSED' or 'FAILED'.
    state              text NOT NULL,
    -- Set by DeleteReplication; the engine drops the slot, then the row.
    deleting           boolean NOT NULL,
    -- Set by the engine when the initial snapshot has been copied, so a resume knows
    -- whether to stream or to snapshot again.
    snapshot_done      boolean NOT NULL,
    slot_name          text NOT NULL,
    applied_lsn        bigint NOT NULL,
    lag_bytes          bigint NOT NULL,
    lag_seconds        double precision NOT NULL,
    snapshot_rows      bigint NOT NULL,
    rows_applied       bigint NOT NULL,
    retained_wal_bytes bigint NOT NULL,
    last_error         text NOT NULL,
    -- A JSON array of strings.
    warnings           jsonb NOT NULL,
    lease_owner        text NOT NULL,
    lease_expire_time  timestamptz,
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    etag               text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX replications_slot_idx ON replications (slot_name);
-- DeleteConnection looks for replications that still use a connection.
CREATE INDEX replications_source_idx ON replications (tenant_id, source_connection);
CREATE INDEX replications_target_idx ON replications (tenant_id, target_connection);
