-- +goose Up
-- State of the one-time migration from the legacy auth system
-- (migrations/legacy, cmd/migrate-legacy). Only that tool reads and writes
-- these tables; `migrate-legacy rollback` empties them again.

-- Which Kratos identity each legacy user became. Several legacy users map
-- to one identity when their emails differ only in case or spaces (the
-- merged duplicates); primary_legacy_id is the one the identity was made
-- from. Every identity named here was created by the migration.
CREATE TABLE legacy_identity_map (
    legacy_id         uuid        PRIMARY KEY,
    identity_id       uuid        NOT NULL,
    primary_legacy_id uuid        NOT NULL,
    email             text        NOT NULL,
    batch             int         NOT NULL,
    mapped_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX legacy_identity_map_identity_idx ON legacy_identity_map (identity_id);

-- One row per batch sent to Kratos' batch import. A batch is 'sent' before
-- the request leaves and 'done' in the same transaction that stores its
-- mapping rows, so a batch still 'sent' after a crash is the one whose
-- identities may exist in Kratos without a mapping: the next run looks
-- them up before creating anything.
CREATE TABLE legacy_migration_batches (
    batch      int         PRIMARY KEY,
    first_id   uuid        NOT NULL,
    last_id    uuid        NOT NULL,
    users      int         NOT NULL,
    state      text        NOT NULL CHECK (state IN ('sent', 'done')),
    created    int         NOT NULL DEFAULT 0,
    found      int         NOT NULL DEFAULT 0,
    failed     int         NOT NULL DEFAULT 0,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz
);

-- Named positions: 'source' (which legacy database this platform is being
-- migrated from), 'events' (the highest legacy login_attempts.id copied
-- into auth_event_log), 'backup' (the last backup file written).
CREATE TABLE legacy_migration_state (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Conflicts only a run can see (Kratos refused an identity, an email or a
-- social link already belongs to an identity the migration did not
-- create, a platform row that could not be moved), kept so that validate
-- and later runs know them.
CREATE TABLE legacy_migration_conflicts (
    kind        text        NOT NULL,
    legacy_id   uuid        NOT NULL,
    subject     text        NOT NULL DEFAULT '',
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, legacy_id, subject)
);

-- Every platform row whose user id the run rewrote from a legacy id to an
-- identity id, by the row's key, so rollback puts back exactly those.
CREATE TABLE legacy_rewrite_journal (
    table_name  text   NOT NULL,
    column_name text   NOT NULL,
    row_key     text[] NOT NULL,
    legacy_id   text   NOT NULL,
    identity_id text   NOT NULL
);
CREATE INDEX legacy_rewrite_journal_idx ON legacy_rewrite_journal (table_name, identity_id);

-- Each invocation that wrote something, with its JSON report.
CREATE TABLE legacy_migration_runs (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command     text        NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome     text,
    report      jsonb
);

-- +goose Down
DROP TABLE legacy_migration_runs;
DROP TABLE legacy_rewrite_journal;
DROP TABLE legacy_migration_conflicts;
DROP TABLE legacy_migration_state;
DROP TABLE legacy_migration_batches;
DROP TABLE legacy_identity_map;
