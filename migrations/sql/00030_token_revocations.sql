-- +goose Up
-- Revoked access tokens. Access tokens are checked offline (RS256 against
-- Hydra's keys), so revocation is pushed: every resource server (tutor,
-- identity edge) keeps these rows in memory (kit/revocation), told of new
-- ones by NOTIFY on the channel token_revocations (payload: the row id) and
-- re-reading the whole table periodically and after a reconnect.
--
-- One row voids, exactly one of:
--   subject + not_before  every token of the identity issued at or before
--                         not_before (whole seconds: Hydra truncates iat),
--                         except tokens of keep_session_id when set;
--   session_id            every token carrying that Kratos session id;
--   token_id              the token with that jti.
-- expires_at: once passed, no token the row voids can still be valid, and
-- the row is deleted.
CREATE TABLE token_revocations (
    id               bigserial   PRIMARY KEY,
    subject          text,
    not_before       timestamptz,
    keep_session_id  text,
    session_id       text,
    token_id         text,
    reason           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT token_revocations_one_kind CHECK (
        (subject IS NOT NULL AND not_before IS NOT NULL AND session_id IS NULL AND token_id IS NULL)
     OR (subject IS NULL AND not_before IS NULL AND keep_session_id IS NULL AND session_id IS NOT NULL AND token_id IS NULL)
     OR (subject IS NULL AND not_before IS NULL AND keep_session_id IS NULL AND session_id IS NULL AND token_id IS NOT NULL))
);
CREATE INDEX token_revocations_expires_idx ON token_revocations (expires_at);

-- +goose StatementBegin
CREATE FUNCTION token_revocations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('token_revocations', NEW.id::text);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER token_revocations_notify AFTER INSERT ON token_revocations
    FOR EACH ROW EXECUTE FUNCTION token_revocations_notify();

-- +goose Down
DROP TRIGGER token_revocations_notify ON token_revocations;
DROP FUNCTION token_revocations_notify();
DROP TABLE token_revocations;
