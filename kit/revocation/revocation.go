// Package revocation voids access tokens before they expire. Access tokens
// are RS256 JWTs checked offline by every resource server (kit/token), so a
// token cannot be recalled at Hydra: instead a revocation record is written
// to the platform database (Store.Revoke) and pushed to every tutor and
// identity edge process, which keep all live records in memory (List) and
// consult them on every request (List.Revoked, a few map lookups).
//
// A record reaches a running List through PostgreSQL's LISTEN/NOTIFY (a
// trigger notifies channel token_revocations with the row id on insert), so
// within milliseconds; a periodic reload of the whole table, and a reload
// after every reconnect, heal any notice that was missed while the
// connection was down. Records are deleted once no token they void can still
// be valid (expires_at).
//
// Who writes records: the identity edge (sign-out, sign-out everywhere, the
// admin API's role, state and session changes, password change and recovery
// hooks) and its CLI. The tutor and the edge read them.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the PostgreSQL notification channel of new records.
const Channel = "token_revocations"

// DefaultMaxTokenLifetime bounds how long a record must be kept: the access
// token lifetime (6 h) plus validation leeway and margin. A record older than
// this voids nothing that could still be valid.
const DefaultMaxTokenLifetime = 6*time.Hour + 5*time.Minute

// Record voids tokens. Exactly one kind is set: Subject (with NotBefore),
// SessionID, or TokenID.
type Record struct {
	// Subject is a Kratos identity id: every token of it issued at or before
	// NotBefore (compared in whole seconds, since Hydra truncates iat) is
	// void. A token issued in the same second as the revocation is void too;
	// the client refreshes once more.
	Subject   string
	NotBefore time.Time
	// KeepSessionID, with Subject, spares the tokens of one Kratos session:
	// a password change voids the other sessions' tokens, not the changer's.
	KeepSessionID string
	// SessionID voids every token carrying that Kratos session id (claim
	// session_id), whenever it was issued: a sign-out.
	SessionID string
	// TokenID voids the one token with that jti.
	TokenID string
	// Reason says why, for operators: sign_out, sign_out_everywhere,
	// role_changed, deactivated, sessions_revoked, password_changed,
	// recovered.
	Reason string
	// ExpiresAt is when the record may be forgotten; zero means
	// NotBefore (or now) + the store's maximum token lifetime.
	ExpiresAt time.Time
}

// ErrInvalid is a record that is not exactly one kind, or has no reason.
var ErrInvalid = errors.New("revocation: invalid record")

// Validate checks r.
func (r Record) Validate() error {
	kinds := 0
	if r.Subject != "" {
		kinds++
		if r.NotBefore.IsZero() {
			return fmt.Errorf("%w: a subject record needs not_before", ErrInvalid)
		}
	}
	if r.SessionID != "" {
		kinds++
	}
	if r.TokenID != "" {
		kinds++
	}
	if kinds != 1 {
		return fmt.Errorf("%w: set exactly one of subject, session id and token id", ErrInvalid)
	}
	if r.KeepSessionID != "" && r.Subject == "" {
		return fmt.Errorf("%w: keep_session_id goes with a subject", ErrInvalid)
	}
	if r.Reason == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	return nil
}

// Store writes records. Every writer (edge replicas, the CLI) uses one.
type Store struct {
	db          *pgxpool.Pool
	maxLifetime time.Duration
	now         func() time.Time
}

// NewStore returns a Store on the platform database. maxTokenLifetime is how
// long an access token can live (0: DefaultMaxTokenLifetime).
func NewStore(db *pgxpool.Pool, maxTokenLifetime time.Duration) *Store {
	if maxTokenLifetime <= 0 {
		maxTokenLifetime = DefaultMaxTokenLifetime
	}
	return &Store{db: db, maxLifetime: maxTokenLifetime, now: time.Now}
}

// Revoke stores r; its insert trigger notifies every List.
func (s *Store) Revoke(ctx context.Context, r Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.ExpiresAt.IsZero() {
		from := r.NotBefore
		if from.IsZero() {
			from = s.now()
		}
		r.ExpiresAt = from.Add(s.maxLifetime)
	}
	_, err := s.db.Exec(ctx, `
		INSERT INTO token_revocations (subject, not_before, keep_session_id, session_id, token_id, reason, expires_at)
		VALUES (NULLIF($1, ''), $2, NULLIF($3, ''), NULLIF($4, ''), NULLIF($5, ''), $6, $7)`,
		r.Subject, nullTime(r.NotBefore), r.KeepSessionID, r.SessionID, r.TokenID, r.Reason, r.ExpiresAt)
	if err != nil {
		return fmt.Errorf("revocation: store: %w", err)
	}
	return nil
}

// RevokeSubject voids every token of subject issued up to now, except those
// of keepSession when it is not empty.
func (s *Store) RevokeSubject(ctx context.Context, subject, keepSession, reason string) error {
	return s.Revoke(ctx, Record{Subject: subject, NotBefore: s.now(), KeepSessionID: keepSession, Reason: reason})
}

// RevokeSession voids every token of one Kratos session.
func (s *Store) RevokeSession(ctx context.Context, sessionID, reason string) error {
	return s.Revoke(ctx, Record{SessionID: sessionID, Reason: reason})
}

// DeleteExpired removes records that void nothing any more.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM token_revocations WHERE expires_at < $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("revocation: delete expired: %w", err)
	}
	return tag.RowsAffected(), nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
