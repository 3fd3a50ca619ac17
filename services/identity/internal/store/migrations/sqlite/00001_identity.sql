-- +goose Up
-- The SQLite twin of postgres/00001_identity.sql: times are INTEGER microseconds since the
-- Unix epoch (see platform/sqlstore), JSON is TEXT, booleans are INTEGER 0/1, and TEXT
-- already compares in byte order.
CREATE TABLE identity_providers (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    jwt          TEXT,
    disabled     INTEGER NOT NULL,
    revision     INTEGER NOT NULL,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE users (
    tenant_id         TEXT NOT NULL,
    id                TEXT NOT NULL,
    identity_provider TEXT NOT NULL,
    subject           TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    email             TEXT NOT NULL,
    disabled          INTEGER NOT NULL,
    epoch             INTEGER NOT NULL,
    create_time       INTEGER NOT NULL,
    last_login_time   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, identity_provider, subject)
);
CREATE INDEX users_revoked_idx ON users (tenant_id) WHERE epoch > 0 OR disabled;

CREATE TABLE groups (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    claim_value  TEXT NOT NULL,
    claim_sha256 BLOB NOT NULL,
    create_time  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, claim_sha256)
);

CREATE TABLE group_members (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, group_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_group_idx ON group_members (tenant_id, group_id);

CREATE TABLE role_bindings (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    user_id     TEXT,
    group_id    TEXT,
    role        TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (tenant_id, user_id, role),
    UNIQUE (tenant_id, group_id, role),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE service_accounts (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    create_time  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE api_keys (
    hash            BLOB PRIMARY KEY,
    tenant_id       TEXT NOT NULL,
    service_account TEXT NOT NULL,
    id              TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    create_time     INTEGER NOT NULL,
    expire_time     INTEGER,
    last_use_time   INTEGER,
    revoke_time     INTEGER,
    UNIQUE (tenant_id, service_account, id),
    FOREIGN KEY (tenant_id, service_account) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE tenant_state (
    tenant_id         TEXT PRIMARY KEY,
    epoch             INTEGER NOT NULL,
    directory_version INTEGER NOT NULL
);
