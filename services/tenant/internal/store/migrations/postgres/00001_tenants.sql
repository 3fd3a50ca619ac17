-- +goose Up
-- Tenants. hostnames and labels are kept on the row for reading in one query, and in side
-- tables for what the row cannot do: hostname uniqueness across tenants, label filters.
CREATE TABLE tenants (
    -- Byte order, as in SQLite: pages are keyed by id, whatever the server's collation.
    id              text COLLATE "C" PRIMARY KEY,
    display_name    text NOT NULL,
    region          text NOT NULL,
    state           text NOT NULL CHECK (state IN ('ACTIVE', 'DEACTIVATED', 'DELETED')),
    hostnames       jsonb NOT NULL,
    labels          jsonb NOT NULL,
    settings        jsonb NOT NULL,
    revision        bigint NOT NULL,
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    deactivate_time timestamptz,
    purge_time      timestamptz
);

-- The purge worker's scan.
CREATE INDEX tenants_purge_idx ON tenants (purge_time) WHERE state = 'DEACTIVATED';

CREATE TABLE tenant_hostnames (
    hostname  text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id)
);
CREATE INDEX tenant_hostnames_tenant_idx ON tenant_hostnames (tenant_id);

CREATE TABLE tenant_labels (
    tenant_id text NOT NULL REFERENCES tenants (id),
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX tenant_labels_key_value_idx ON tenant_labels (key, value);

-- Idempotency records of CreateTenant, per caller and request_id.
CREATE TABLE tenant_requests (
    principal   text NOT NULL,
    request_id  text NOT NULL,
    fingerprint text NOT NULL,
    tenant_id   text NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (principal, request_id)
);

-- The outbox: one CloudEvents-shaped row per change, written in the change's transaction.
CREATE TABLE tenant_events (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id        text NOT NULL UNIQUE,
    tenant_id text NOT NULL,
    type      text NOT NULL,
    time      timestamptz NOT NULL,
    data      jsonb NOT NULL
);
CREATE INDEX tenant_events_tenant_idx ON tenant_events (tenant_id, seq);
