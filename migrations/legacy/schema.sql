-- The legacy auth system's schema, as the old system left it. The
-- migration only reads these tables; `migrate-legacy restore` creates them
-- (when missing) to load a backup, and the tests build fixtures on it.
CREATE TABLE IF NOT EXISTS users (
    id             uuid PRIMARY KEY,
    email          text NOT NULL,
    password_hash  text,
    full_name      text,
    email_verified boolean NOT NULL,
    is_active      boolean NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS user_roles (
    user_id uuid REFERENCES users,
    role    text
);
CREATE TABLE IF NOT EXISTS oauth_accounts (
    id               uuid PRIMARY KEY,
    user_id          uuid REFERENCES users,
    provider         text,
    provider_user_id text,
    provider_email   text,
    created_at       timestamptz
);
CREATE TABLE IF NOT EXISTS sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid REFERENCES users,
    token_hash text,
    expires_at timestamptz,
    created_at timestamptz,
    ip         text,
    user_agent text
);
CREATE TABLE IF NOT EXISTS login_attempts (
    id           bigserial PRIMARY KEY,
    email        text,
    user_id      uuid,
    success      boolean,
    ip           text,
    user_agent   text,
    attempted_at timestamptz
);
