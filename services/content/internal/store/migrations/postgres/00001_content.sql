-- +goose Up
-- The content service's tables. Every tenant-scoped table leads with tenant_id, so every
-- query filters by tenant on an index prefix. Ids are COLLATE "C": pages are keyed by id
-- and must follow byte order, as in SQLite, whatever the server's collation. Enums are
-- stored as their names without prefix ('SHARED', 'ACTIVE', 'ROLLOUT'…): they read well in
-- SQL and survive renumbering. Protobuf messages are stored as protojson: only the API
-- reads into them, and new proto fields need no migration.

-- Spaces. revision rises with every update; the etag is a digest of it.
CREATE TABLE spaces (
    tenant_id    text COLLATE "C" NOT NULL,
    id           text COLLATE "C" NOT NULL,
    display_name text NOT NULL,
    description  text NOT NULL,
    type         text NOT NULL,
    revision     bigint NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Space members. The member id is derived from the principal (store.MemberID), so one
-- user or group holds one role per space and putting it again replaces it.
CREATE TABLE space_members (
    tenant_id   text COLLATE "C" NOT NULL,
    space_id    text COLLATE "C" NOT NULL,
    member_id   text COLLATE "C" NOT NULL,
    -- The user or group name, `tenants/{t}/users/{u}` or `tenants/{t}/groups/{g}`.
    principal   text COLLATE "C" NOT NULL,
    -- 'USER' or 'GROUP'.
    kind        text NOT NULL,
    role        text NOT NULL,
    update_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, space_id, member_id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
);
-- SpaceRoles looks members up by principal on every authorized call.
CREATE INDEX space_members_principal_idx ON space_members (tenant_id, principal);

-- Apps: their current metadata; the definition lives in the latest revision. A space with
-- apps (deleted ones included) cannot be deleted: the foreign key has no cascade.
CREATE TABLE apps (
    tenant_id        text COLLATE "C" NOT NULL,
    id               text COLLATE "C" NOT NULL,
    space_id         text COLLATE "C" NOT NULL,
    title            text NOT NULL,
    description      text NOT NULL,
    owner            text NOT NULL,
    -- A JSON object of label → value.
    labels           jsonb NOT NULL,
    -- The template version name a rollout deployed, '' if none; template_id is its
    -- template, kept apart so ListDrift finds a template's apps on an index.
    template_version text COLLATE "C" NOT NULL,
    template_id      text COLLATE "C" NOT NULL,
    published_from   text NOT NULL,
    state            text NOT NULL,
    purge_time       timestamptz,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    -- The newest revision's number: the app's revision, and where its definition is.
    latest_revision  bigint NOT NULL,
    -- Rises with every change, revisions and state changes alike; the etag is a digest of
    -- it, so an etag read before a delete no longer matches after it.
    generation       bigint NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id)
);
CREATE INDEX apps_space_idx ON apps (tenant_id, space_id);
CREATE INDEX apps_purge_idx ON apps (purge_time) WHERE state = 'DELETED';
CREATE INDEX apps_template_idx ON apps (template_id) WHERE template_id <> '';

-- App revisions, append-only, numbered per app from 1.
CREATE TABLE app_revisions (
    tenant_id        text COLLATE "C" NOT NULL,
    app_id           text COLLATE "C" NOT NULL,
    revision         bigint NOT NULL,
    title            text NOT NULL,
    description      text NOT NULL,
    -- The AppDefinition as protojson; NULL for none.
    definition       jsonb,
    source           text NOT NULL,
    author           text NOT NULL,
    template_version text COLLATE "C" NOT NULL,
    create_time      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, app_id, revision),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);

-- Templates, at platform level.
CREATE TABLE templates (
    id             text COLLATE "C" PRIMARY KEY,
    display_name   text NOT NULL,
    description    text NOT NULL,
    -- The newest version's id, '' before the first.
    latest_version text COLLATE "C" NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL
);

-- Template versions, immutable. seq numbers a template's versions in creation order
-- (version ids are free-form, so they cannot order them).
CREATE TABLE template_versions (
    template_id text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    title       text NOT NULL,
    definition  jsonb,
    -- A JSON array of TemplateVariable as protojson.
    variables   jsonb NOT NULL,
    notes       text NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (template_id, id),
    UNIQUE (template_id, seq),
    FOREIGN KEY (template_id) REFERENCES templates (id)
);

-- Rollouts. seq orders them by creation (newest first in listings, oldest first for
-- workers); spec is the Rollout as the caller asked for it, without output-only fields.
CREATE TABLE rollouts (
    id               text COLLATE "C" PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    template_version text COLLATE "C" NOT NULL,
    spec             jsonb NOT NULL,
    state            text NOT NULL,
    creator          text NOT NULL,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    end_time         timestamptz,
    -- The worker driving the rollout and until when; both NULL while nobody holds it.
    lease_owner      text,
    lease_until      timestamptz
);
-- ClaimRollout reads only rollouts that need a worker, oldest first.
CREATE INDEX rollouts_claimable_idx ON rollouts (seq)
    WHERE state IN ('PENDING', 'RUNNING', 'CANCELLING', 'ROLLING_BACK');

-- A rollout's tenants. NextTargets reads them by status in wave and tenant order.
CREATE TABLE rollout_targets (
    rollout_id        text COLLATE "C" NOT NULL,
    tenant_id         text COLLATE "C" NOT NULL,
    wave              integer NOT NULL,
    status            text NOT NULL,
    reason            text NOT NULL,
    app_id            text COLLATE "C" NOT NULL,
    previous_revision bigint NOT NULL,
    applied_revision  bigint NOT NULL,
    update_time       timestamptz NOT NULL,
    PRIMARY KEY (rollout_id, tenant_id),
    FOREIGN KEY (rollout_id) REFERENCES rollouts (id)
);
CREATE INDEX rollout_targets_status_idx ON rollout_targets (rollout_id, status, wave, tenant_id);
