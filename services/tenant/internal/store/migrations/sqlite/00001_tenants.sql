-- +goose Up
-- The SQLite twin of postgres/00001_tenants.sql: times are INTEGER microseconds since the
-- Unix epoch (see platform/sqlstore), JSON is TEXT.
CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    region          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('ACTIVE', 'DEACTIVATED', 'DELETED')),
    hostnames       TEXT NOT NULL,
    labels          TEXT NOT NULL,
    settings        TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    create_time     INTEGER NOT NULL,
    update_time     INTEGER NOT NULL,
    deactivate_time INTEGER,
    purge_time      INTEGER
);

CREATE INDEX tenants_purge_idx ON tenants (purge_time) WHERE state = 'DEACTIVATED';

CREATE TABLE tenant_hostnames (
    hostname  TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id)
);
CREATE INDEX tenant_hostnames_tenant_idx ON tenant_hostnames (tenant_id);

CREATE TABLE tenant_labels (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX tenant_labels_key_value_idx ON tenant_labels (key, value);

CREATE TABLE tenant_requests (
    principal   TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (principal, request_id)
);

CREATE TABLE tenant_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    type      TEXT NOT NULL,
    time      INTEGER NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX tenant_events_tenant_idx ON tenant_events (tenant_id, seq);
