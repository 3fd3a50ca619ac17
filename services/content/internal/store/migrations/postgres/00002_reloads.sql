-- +goose Up
-- Reloads, and the model each app serves. Both die with their app (purges delete apps, and
-- the cascade takes these along).

-- Reloads: runs of an app's load script, and the queue the workers of every replica share.
-- Ids begin with the create time (store.newReloadID), so listing by id DESC is newest
-- first. Logs and tables are JSON arrays of protojson messages.
CREATE TABLE reloads (
    tenant_id          text COLLATE "C" NOT NULL,
    app_id             text COLLATE "C" NOT NULL,
    id                 text COLLATE "C" NOT NULL,
    -- The caller's request id, NULL for none: unique per app, so a retried create finds
    -- the reload the first one queued (NULLs never collide).
    request_id         text COLLATE "C",
    -- A JSON object of variable → value.
    variables          jsonb NOT NULL,
    -- The app's latest revision when the reload was queued: the script it runs.
    app_revision       bigint NOT NULL,
    state              text NOT NULL,
    -- The first 500 lines and the last 500; log_dropped counts the lines cut between them.
    log                jsonb NOT NULL,
    log_dropped        bigint NOT NULL,
    tables             jsonb NOT NULL,
    error              text NOT NULL,
    -- A ScriptPosition as protojson; NULL for none.
    error_position     jsonb,
    -- NULL until the reload ends after running.
    duration_nanos     bigint,
    peak_memory_bytes  bigint NOT NULL,
    model_memory_bytes bigint NOT NULL,
    creator            text NOT NULL,
    -- The worker running the reload and until when; both NULL unless RUNNING.
    lease_owner        text,
    lease_until        timestamptz,
    -- Set by a cancel of a RUNNING reload; its worker ends it as CANCELED.
    cancel_requested   boolean NOT NULL,
    -- How many runs of it started: a run whose worker vanished counts, so a reload that
    -- kills its workers fails after a few instead of queueing forever.
    attempts           integer NOT NULL,
    create_time        timestamptz NOT NULL,
    start_time         timestamptz,
    end_time           timestamptz,
    -- Rises with every visible change; the etag is a digest of it.
    revision           bigint NOT NULL,
    PRIMARY KEY (tenant_id, app_id, id),
    UNIQUE (tenant_id, app_id, request_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);
-- ClaimReload takes the oldest queued reload, and counts running ones per tenant and app.
CREATE INDEX reloads_queued_idx ON reloads (create_time, id) WHERE state = 'QUEUED';
CREATE INDEX reloads_running_idx ON reloads (tenant_id, app_id) WHERE state = 'RUNNING';

-- The model each app serves: the pointer content replicas follow to load its snapshot.
-- It points at a reload without a foreign key, so a reload's history may be pruned while
-- its model still serves.
CREATE TABLE app_models (
    tenant_id    text COLLATE "C" NOT NULL,
    app_id       text COLLATE "C" NOT NULL,
    reload_id    text COLLATE "C" NOT NULL,
    -- Where the snapshot is in the blob store.
    snapshot_key text NOT NULL,
    memory_bytes bigint NOT NULL,
    -- When the model became the app's.
    load_time    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, app_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES apps (tenant_id, id) ON DELETE CASCADE
);
