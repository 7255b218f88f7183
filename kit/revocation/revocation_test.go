package revocation_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/pgtest"
	"github.com/learnplatform/platform/kit/revocation"
	"github.com/learnplatform/platform/kit/token"
)

var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, &cluster) }

// newDB is a database holding the platform's token_revocations table, made
// by the real migration.
func newDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	db, err := pgxpool.New(context.Background(), cluster.NewDatabase(t, "../../migrations/sql/00030_token_revocations.sql"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func startList(t *testing.T, db *pgxpool.Pool) *revocation.List {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := revocation.NewList(db, revocation.ListOptions{ReloadInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "listening", func() bool { return l.Ready(ctx) == nil })
	return l
}

// waitFor polls cond for up to 5 s, the platform's promise for revocations.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecordKinds(t *testing.T) {
	now := time.Now()
	for name, r := range map[string]revocation.Record{
		"nothing":              {Reason: "x"},
		"subject and session":  {Subject: "s", NotBefore: now, SessionID: "k", Reason: "x"},
		"subject without time": {Subject: "s", Reason: "x"},
		"keep without subject": {SessionID: "k", KeepSessionID: "j", Reason: "x"},
		"no reason":            {SessionID: "k"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := r.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestRevocationReachesList(t *testing.T) {
	db := newDB(t)
	store := revocation.NewStore(db, 0)
	l := startList(t, db)
	ctx := context.Background()
	before := time.Now().Add(-time.Minute).Truncate(time.Second)

	t.Run("subject", func(t *testing.T) {
		if l.Revoked("alice", "s1", "j1", before) {
			t.Fatal("revoked before any record")
		}
		if err := store.RevokeSubject(ctx, "alice", "", "role_changed"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "alice's old token revoked", func() bool { return l.Revoked("alice", "s1", "j1", before) })
		if l.Revoked("bob", "s2", "j2", before) {
			t.Fatal("another subject's token revoked")
		}
		// A token issued a second after the revocation is the refreshed one.
		if l.Revoked("alice", "s1", "j3", time.Now().Add(2*time.Second).Truncate(time.Second)) {
			t.Fatal("a token issued after the revocation is revoked")
		}
		if !l.Revoked("alice", "s1", "j4", time.Time{}) {
			t.Fatal("a token without iat survives a subject revocation")
		}
	})
	t.Run("subject keeping one session", func(t *testing.T) {
		if err := store.RevokeSubject(ctx, "carol", "keep", "password_changed"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "carol's other session revoked", func() bool { return l.Revoked("carol", "other", "", before) })
		if l.Revoked("carol", "keep", "", before) {
			t.Fatal("the kept session's token is revoked")
		}
	})
	t.Run("session", func(t *testing.T) {
		if err := store.RevokeSession(ctx, "sess-9", "sign_out"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "session revoked", func() bool { return l.Revoked("dave", "sess-9", "", time.Now().Add(time.Hour)) })
		if l.Revoked("dave", "sess-10", "", before) {
			t.Fatal("another session's token revoked")
		}
	})
	t.Run("token", func(t *testing.T) {
		if err := store.Revoke(ctx, revocation.Record{TokenID: "jti-1", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "token revoked", func() bool { return l.Revoked("erin", "", "jti-1", before) })
	})
}

func TestRestartedProcessLoadsEarlierRecords(t *testing.T) {
	db := newDB(t)
	store := revocation.NewStore(db, 0)
	ctx := context.Background()
	if err := store.RevokeSession(ctx, "old-session", "sign_out"); err != nil {
		t.Fatal(err)
	}
	l := startList(t, db)
	if !l.Revoked("x", "old-session", "", time.Now()) {
		t.Fatal("a record written before the list started is not loaded")
	}
}

func TestExpiredRecordsAreForgotten(t *testing.T) {
	db := newDB(t)
	store := revocation.NewStore(db, 0)
	ctx := context.Background()
	if err := store.Revoke(ctx, revocation.Record{SessionID: "gone", Reason: "sign_out", ExpiresAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	l := startList(t, db)
	if l.Revoked("x", "gone", "", time.Now()) || l.Len() != 0 {
		t.Fatal("an expired record is held")
	}
	n, err := store.DeleteExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v", n, err)
	}
}

// A record written while PostgreSQL was down for the list (restarted) and
// whose notice was therefore never seen arrives after the reconnect.
func TestRecordsWrittenWhileDisconnectedArriveAfterReconnect(t *testing.T) {
	db := newDB(t)
	l := startList(t, db)
	ctx := context.Background()
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Written by another process (its own connection) before the list's
	// listener is back: no notice reaches the list for it.
	writer, err := pgxpool.New(ctx, db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if err := revocation.NewStore(writer, 0).RevokeSession(ctx, "while-down", "sign_out"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "record written during the outage loaded", func() bool { return l.Revoked("x", "while-down", "", time.Now()) })
	waitFor(t, "listening again", func() bool { return l.Ready(ctx) == nil })
	if err := revocation.NewStore(writer, 0).RevokeSession(ctx, "after", "sign_out"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "record after the reconnect announced", func() bool { return l.Revoked("x", "after", "", time.Now()) })
}

func BenchmarkRevoked(b *testing.B) {
	db := newDB(b)
	store := revocation.NewStore(db, 0)
	ctx := context.Background()
	// A busy day's worth of live records: 10,000 subjects, 10,000 sessions.
	if _, err := db.Exec(ctx, `
		INSERT INTO token_revocations (subject, not_before, reason, expires_at)
		SELECT 'subject-' || i, now(), 'role_changed', now() + interval '6 hours' FROM generate_series(1, 10000) i;
		INSERT INTO token_revocations (session_id, reason, expires_at)
		SELECT 'session-' || i, 'sign_out', now() + interval '6 hours' FROM generate_series(1, 10000) i`); err != nil {
		b.Fatal(err)
	}
	_ = store
	l, err := revocation.NewList(db, revocation.ListOptions{ReloadInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := l.Start(cctx); err != nil {
		b.Fatal(err)
	}
	if l.Len() != 20000 {
		b.Fatalf("loaded %d records", l.Len())
	}
	iat := time.Now().Add(time.Hour)
	b.Run("not_revoked", func(b *testing.B) {
		for b.Loop() {
			if l.Revoked("subject-77", "session-x", "jti-x", iat) {
				b.Fatal("revoked")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if l.Revoked("subject-77", "session-x", "jti-x", iat) {
					b.Fatal("revoked")
				}
			}
		})
	})
}

// The list is what kit/token consults.
var _ token.RevocationList = (*revocation.List)(nil)

func TestUnreachableDatabaseFailsClosedUntilLoaded(t *testing.T) {
	db, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:9/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := revocation.NewList(db, revocation.ListOptions{ReloadInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !l.Revoked("anyone", "", "", time.Now()) {
		t.Fatal("a token was accepted before any revocation was loaded")
	}
	if l.Ready(ctx) == nil {
		t.Fatal("ready without revocations")
	}
}
