-- +goose Up
-- The SQLite twin of postgres/00001_datagateway.sql: times are INTEGER microseconds since
-- the Unix epoch (see platform/sqlstore), booleans are INTEGER 0/1, JSON is TEXT, and
-- TEXT already compares in byte order.
CREATE TABLE connections (
    tenant_id              TEXT NOT NULL,
    id                     TEXT NOT NULL,
    display_name           TEXT NOT NULL,
    kind                   TEXT NOT NULL,
    params                 TEXT NOT NULL,
    agent_pool             TEXT NOT NULL,
    credentials_key_id     TEXT,
    credentials_ciphertext BLOB,
    revision               INTEGER NOT NULL,
    create_time            INTEGER NOT NULL,
    update_time            INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE agents (
    tenant_id           TEXT NOT NULL,
    id                  TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    pool                TEXT NOT NULL,
    credential_hash     TEXT,
    revoked             INTEGER NOT NULL,
    enroll_time         INTEGER,
    version             TEXT NOT NULL,
    hostname            TEXT NOT NULL,
    connected           INTEGER NOT NULL,
    connect_time        INTEGER,
    last_heartbeat_time INTEGER,
    in_flight           INTEGER NOT NULL,
    create_time         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX agents_credential_idx ON agents (credential_hash);

CREATE TABLE enrollment_tokens (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    expire_time INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (tenant_id, agent_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE replications (
    tenant_id          TEXT NOT NULL,
    id                 TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    source_connection  TEXT NOT NULL,
    target_connection  TEXT NOT NULL,
    tables             TEXT NOT NULL,
    state              TEXT NOT NULL,
    deleting           INTEGER NOT NULL,
    snapshot_done      INTEGER NOT NULL,
    slot_name          TEXT NOT NULL,
    applied_lsn        INTEGER NOT NULL,
    lag_bytes          INTEGER NOT NULL,
    lag_seconds        REAL NOT NULL,
    snapshot_rows      INTEGER NOT NULL,
    rows_applied       INTEGER NOT NULL,
    retained_wal_bytes INTEGER NOT NULL,
    last_error         TEXT NOT NULL,
    warnings           TEXT NOT NULL,
    lease_owner        TEXT NOT NULL,
    lease_expire_time  INTEGER,
    create_time        INTEGER NOT NULL,
    update_time        INTEGER NOT NULL,
    etag               TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX replications_slot_idx ON replications (slot_name);
CREATE INDEX replications_source_idx ON replications (tenant_id, source_connection);
CREATE INDEX replications_target_idx ON replications (tenant_id, target_connection);
