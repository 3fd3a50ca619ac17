-- +goose Up
-- The SQLite twin of postgres/00001_content.sql: times are INTEGER microseconds since the
-- Unix epoch (see platform/sqlstore), JSON is TEXT, and TEXT already compares in byte
-- order. Rollouts are numbered by an AUTOINCREMENT key, which never reuses a number.
CREATE TABLE spaces (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL,
    type         TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE space_members (
    tenant_id   TEXT NOT NULL,
    space_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    principal   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    role        TEXT NOT NULL,
    update_time INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, space_id, member_id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX space_members_principal_idx ON space_members (tenant_id, principal);

CREATE TABLE apps (
    tenant_id        TEXT NOT NULL,
    id               TEXT NOT NULL,
    space_id         TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    owner            TEXT NOT NULL,
    labels           TEXT NOT NULL,
    template_version TEXT NOT NULL,
    template_id      TEXT NOT NULL,
    published_from   TEXT NOT NULL,
    state            TEXT NOT NULL,
    purge_time       INTEGER,
    create_time      INTEGER NOT NULL,
    update_time      INTEGER NOT NULL,
    latest_revision  INTEGER NOT NULL,
    generation       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id)
);
CREATE INDEX apps_space_idx ON apps (tenant_id, space_id);
CREATE INDEX apps_purge_idx ON apps (purge_time) WHERE state = 'DELETED';
CREATE INDEX apps_template_idx ON apps (template_id) WHERE template_id <> '';

CREATE TABLE app_revisions (
    tenant_id        TEXT NOT NULL,
    app_id           TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    definition       TEXT,
    source           TEXT NOT NULL,
    author           TEXT NOT NULL,
    template_version TEXT NOT NULL,
    create_time      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, app_id, revision),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE templates (
    id             TEXT PRIMARY KEY,
    display_name   TEXT NOT NULL,
    description    TEXT NOT NULL,
    latest_version TEXT NOT NULL,
    create_time    INTEGER NOT NULL,
    update_time    INTEGER NOT NULL
);

CREATE TABLE template_versions (
    template_id TEXT NOT NULL,
    id          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    title       TEXT NOT NULL,
    definition  TEXT,
    variables   TEXT NOT NULL,
    notes       TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (template_id, id),
    UNIQUE (template_id, seq),
    FOREIGN KEY (template_id) REFERENCES templates (id)
);

CREATE TABLE rollouts (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    template_version TEXT NOT NULL,
    spec             TEXT NOT NULL,
    state            TEXT NOT NULL,
    creator          TEXT NOT NULL,
    create_time      INTEGER NOT NULL,
    update_time      INTEGER NOT NULL,
    end_time         INTEGER,
    lease_owner      TEXT,
    lease_until      INTEGER
);
CREATE INDEX rollouts_claimable_idx ON rollouts (seq)
    WHERE state IN ('PENDING', 'RUNNING', 'CANCELLING', 'ROLLING_BACK');

CREATE TABLE rollout_targets (
    rollout_id        TEXT NOT NULL,
    tenant_id         TEXT NOT NULL,
    wave              INTEGER NOT NULL,
    status            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    app_id            TEXT NOT NULL,
    previous_revision INTEGER NOT NULL,
    applied_revision  INTEGER NOT NULL,
    update_time       INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, tenant_id),
    FOREIGN KEY (rollout_id) REFERENCES rollouts (id)
);
CREATE INDEX rollout_targets_status_idx ON rollout_targets (rollout_id, status, wave, tenant_id);
