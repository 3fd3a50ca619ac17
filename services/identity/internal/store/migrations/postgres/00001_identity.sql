-- +goose Up
-- The identity service's tables. Every tenant-scoped table leads with tenant_id, so every
-- query filters by tenant on an index prefix. Ids are COLLATE "C": pages are keyed by id
-- and must follow byte order, as in SQLite, whatever the server's collation.

-- Identity providers. jwt is the JwtProvider as protojson: only the API reads into it, so
-- it needs no columns of its own, and new proto fields need no migration.
CREATE TABLE identity_providers (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    display_name text NOT NULL,
    jwt          jsonb,
    disabled     boolean NOT NULL,
    -- Rises with every update; the etag is a digest of it.
    revision     bigint NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Users, created just in time by Login. A user is its (provider, subject); the id is the
-- caller's derivation of them.
CREATE TABLE users (
    tenant_id         text COLLATE "C" NOT NULL,
    id                text COLLATE "C" NOT NULL,
    identity_provider text COLLATE "C" NOT NULL,
    subject           text NOT NULL,
    display_name      text NOT NULL,
    email             text NOT NULL,
    disabled          boolean NOT NULL,
    -- The revocation epoch: rises with every RevokeUserTokens, disable and enable.
    epoch             bigint NOT NULL,
    create_time       timestamptz NOT NULL,
    last_login_time   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, identity_provider, subject)
);
-- RevocationState reads only these users.
CREATE INDEX users_revoked_idx ON users (tenant_id) WHERE epoch > 0 OR disabled;

-- Groups. Claim values come from JWTs and may be longer than a btree entry allows, so
-- uniqueness is on their SHA-256.
CREATE TABLE groups (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    claim_value  text NOT NULL,
    claim_sha256 bytea NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, claim_sha256)
);

-- The groups of each user's last login. Deleting a group (or a user) deletes its rows.
CREATE TABLE group_members (
    tenant_id text COLLATE "C" NOT NULL,
    user_id   text COLLATE "C" NOT NULL,
    group_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, user_id, group_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_group_idx ON group_members (tenant_id, group_id);

-- Role bindings: exactly one of user_id and group_id is set, each a foreign key, so a
-- binding can never name a missing member and dies with its group. NULLs are distinct in
-- UNIQUE, so the two constraints together make (member, role) unique.
CREATE TABLE role_bindings (
    tenant_id   text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    user_id     text COLLATE "C",
    group_id    text COLLATE "C",
    -- The Role enum's name without prefix: 'ADMIN', 'DEVELOPER', 'VIEWER'.
    role        text NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CHECK ((user_id IS NULL) <> (group_id IS NULL)),
    UNIQUE (tenant_id, user_id, role),
    UNIQUE (tenant_id, group_id, role),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);

-- Service accounts; tenant_id is '' for platform accounts, a namespace of its own.
CREATE TABLE service_accounts (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    display_name text NOT NULL,
    -- A JSON array of scope names.
    scopes       jsonb NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- API keys, stored only as the SHA-256 of the secret, which is how they are looked up.
-- Deleting an account deletes its keys, so none of them can authenticate again.
CREATE TABLE api_keys (
    hash            bytea PRIMARY KEY,
    tenant_id       text COLLATE "C" NOT NULL,
    service_account text COLLATE "C" NOT NULL,
    id              text COLLATE "C" NOT NULL,
    display_name    text NOT NULL,
    prefix          text NOT NULL,
    create_time     timestamptz NOT NULL,
    expire_time     timestamptz,
    last_use_time   timestamptz,
    revoke_time     timestamptz,
    UNIQUE (tenant_id, service_account, id),
    FOREIGN KEY (tenant_id, service_account) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);

-- Per-tenant counters, created on first increment: the tenant's revocation epoch and the
-- version of its groups and role bindings.
CREATE TABLE tenant_state (
    tenant_id         text COLLATE "C" PRIMARY KEY,
    epoch             bigint NOT NULL,
    directory_version bigint NOT NULL
);
