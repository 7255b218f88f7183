-- +goose Up
-- The auth event log: what happened to whom, when and from where. The
-- identity edge and Kratos' web hooks write it; admins and users read it.
CREATE TABLE auth_event_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    event_type  text        NOT NULL,
    identity_id uuid,
    email       text,
    ip          text,
    user_agent  text,
    flow_id     uuid,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX auth_event_log_identity_idx ON auth_event_log (identity_id, occurred_at DESC, id DESC);
CREATE INDEX auth_event_log_type_idx ON auth_event_log (event_type, occurred_at DESC, id DESC);
CREATE INDEX auth_event_log_time_idx ON auth_event_log (occurred_at DESC, id DESC);

-- +goose Down
DROP TABLE auth_event_log;
