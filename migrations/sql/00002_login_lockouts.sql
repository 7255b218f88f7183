-- +goose Up
-- Failed password sign-ins per identifier (the normalized email) within the
-- current window, and the lock they led to. One row per identifier, updated
-- with a single UPSERT, so concurrent failures on any number of identity
-- replicas count exactly.
CREATE TABLE login_lockouts (
    identifier       text        PRIMARY KEY,
    failures         integer     NOT NULL,
    window_started   timestamptz NOT NULL,
    locked_until     timestamptz,
    locked_at        timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX login_lockouts_locked_idx ON login_lockouts (locked_until) WHERE locked_until IS NOT NULL;

-- Failed sign-ins per client address across all identifiers: one address
-- trying many accounts is slowed down without locking the accounts.
CREATE TABLE login_ip_throttle (
    ip               text        PRIMARY KEY,
    failures         integer     NOT NULL,
    window_started   timestamptz NOT NULL,
    blocked_until    timestamptz,
    updated_at       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE login_ip_throttle;
DROP TABLE login_lockouts;
