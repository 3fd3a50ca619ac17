-- +goose Up
-- The SQLite twin of postgres/00002_reloads.sql: times are INTEGER microseconds, JSON is
-- TEXT, booleans are INTEGER 0 or 1.
CREATE TABLE reloads (
    tenant_id          TEXT NOT NULL,
    app_id             TEXT NOT NULL,
    id                 TEXT NOT NULL,
    request_id         TEXT,
    variables          TEXT NOT NULL,
    app_revision       INTEGER NOT NULL,
    state              TEXT NOT NULL,
    log                TEXT NOT NULL,
    log_dropped        INTEGER NOT NULL,
    tables             TEXT NOT NULL,
    error              TEXT NOT NULL,
    error_position     TEXT,
    duration_nanos     INTEGER,
    peak_memory_bytes  INTEGER NOT NULL,
    model_memory_bytes INTEGER NOT NULL,
    creator            TEXT NOT NULL,
    lease_owner        TEXT,
    lease_until        INTEGER,
    cancel_requested   INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    create_time        INTEGER NOT NULL,
    start_time         INTEGER,
    end_time           INTEGER,
    revision           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, app_id, id),
    UNIQUE (tenant_id, app_id, request_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX reloads_queued_idx ON reloads (create_time, id) WHERE state = 'QUEUED';
CREATE INDEX reloads_running_idx ON reloads (tenant_id, app_id) WHERE state = 'RUNNING';

CREATE TABLE app_models (
    tenant_id    TEXT NOT NULL,
    app_id       TEXT NOT NULL,
    reload_id    TEXT NOT NULL,
    snapshot_key TEXT NOT NULL,
    memory_bytes INTEGER NOT NULL,
    load_time    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, app_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);
