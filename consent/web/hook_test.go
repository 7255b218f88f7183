package web

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/orytest"
)

func (hs *harness) hook(body []byte, secret string) (int, map[string]any) {
	hs.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://consent.test/token-hook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set(TokenHookHeader, secret)
	rec := hs.do(req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			hs.t.Fatalf("status %d, body not JSON: %s", rec.Code, rec.Body)
		}
	}
	if rec.Code >= 400 {
		e, _ := out["error"].(map[string]any)
		if e == nil || e["code"] == "" || e["message"] == "" {
			hs.t.Errorf("status %d: error body %s, want {\"error\":{\"code\",\"message\"}}", rec.Code, rec.Body)
		}
	}
	return rec.Code, out
}

func refresh(subject, client string, scopes []string, accessClaims map[string]any) []byte {
	return orytest.TokenHook{Subject: subject, ClientID: client, GrantTypes: []string{"refresh_token"},
		GrantedScopes: scopes, AccessClaims: accessClaims, IDClaims: map[string]any{"email": "old@example.org"}}.JSON()
}

func sessionClaims(t *testing.T, out map[string]any) (at, id map[string]any) {
	t.Helper()
	s, _ := out["session"].(map[string]any)
	at, _ = s["access_token"].(map[string]any)
	id, _ = s["id_token"].(map[string]any)
	if at == nil || id == nil {
		t.Fatalf("answer %v lacks session.access_token / session.id_token", out)
	}
	return at, id
}

func TestTokenHookRefreshClaimsFollowScopesAndKeepSession(t *testing.T) {
	hs := newHarness(t)
	id, s, _ := hs.user(orytest.Identity{Name: "Ada", Role: "admin"}, orytest.Session{})
	cases := []struct {
		client string
		scopes []string
		want   map[string]any
	}{
		{"buddy", []string{"openid", "offline_access"}, map[string]any{}},
		{"buddy", []string{"openid", "offline_access", "email"}, map[string]any{"email": "ada@example.org", "email_verified": true}},
		{"buddy", []string{"openid", "offline_access", "profile", "role"}, map[string]any{"name": "Ada", "role": "admin"}},
		{"tutor-web", []string{"openid", "offline_access"}, map[string]any{"role": "admin"}},
	}
	for _, c := range cases {
		// The old token carried every claim: the refresh cuts them to the scopes.
		old := map[string]any{"email": "old@example.org", "email_verified": false, "name": "Old", "role": "student", "session_id": s.ID}
		code, out := hs.hook(refresh(id, c.client, c.scopes, old), hookSecret)
		if code != http.StatusOK {
			t.Fatalf("%v: %d", c, code)
		}
		at, idt := sessionClaims(t, out)
		if !maps.Equal(idt, c.want) {
			t.Errorf("%s %v: id_token %v, want %v", c.client, c.scopes, idt, c.want)
		}
		want := maps.Clone(c.want)
		want["session_id"] = s.ID
		if !maps.Equal(at, want) {
			t.Errorf("%s %v: access_token %v, want %v", c.client, c.scopes, at, want)
		}
	}
}

func TestTokenHookRefusesEndedSessions(t *testing.T) {
	hs := newHarness(t)
	id, _, _ := hs.user(orytest.Identity{}, orytest.Session{})
	scopes := []string{"openid", "offline_access"}
	revoked := hs.kratos.PutSession(orytest.Session{IdentityID: id})
	hs.kratos.Revoke(revoked.ID) // signed out, or revoked by a password change
	deleted := hs.kratos.PutSession(orytest.Session{IdentityID: id})
	hs.kratos.DeleteSession(deleted.ID) // "sign out everywhere"
	expired := hs.kratos.PutSession(orytest.Session{IdentityID: id, AuthenticatedAt: time.Now().Add(-25 * time.Hour)})
	for name, sid := range map[string]string{"revoked": revoked.ID, "deleted": deleted.ID, "expired": expired.ID} {
		if code, _ := hs.hook(refresh(id, "tutor-web", scopes, map[string]any{"session_id": sid}), hookSecret); code != http.StatusForbidden {
			t.Errorf("%s session: %d, want 403", name, code)
		}
	}
	// A token from before session ids were carried keeps working.
	code, out := hs.hook(refresh(id, "tutor-web", scopes, map[string]any{"role": "student"}), hookSecret)
	if code != http.StatusOK {
		t.Fatalf("no session id: %d", code)
	}
	if at, _ := sessionClaims(t, out); !maps.Equal(at, map[string]any{"role": "student"}) {
		t.Fatalf("no session id: %v", at)
	}
}

func TestTokenHookRefusesInactiveAccounts(t *testing.T) {
	hs := newHarness(t)
	id, s, _ := hs.user(orytest.Identity{}, orytest.Session{})
	body := refresh(id, "tutor-web", []string{"openid"}, map[string]any{"session_id": s.ID})
	hs.kratos.SetInactive(id, true)
	if code, _ := hs.hook(body, hookSecret); code != http.StatusForbidden {
		t.Fatalf("inactive: %d", code)
	}
	hs.kratos.DeleteIdentity(id)
	if code, _ := hs.hook(body, hookSecret); code != http.StatusForbidden {
		t.Fatalf("deleted: %d", code)
	}
	other, s2, _ := hs.user(orytest.Identity{Email: "b@example.org"}, orytest.Session{})
	if code, _ := hs.hook(refresh(other, "gone-client", []string{"openid"}, map[string]any{"session_id": s2.ID}), hookSecret); code != http.StatusForbidden {
		t.Fatalf("unknown client: %d", code)
	}
}

func TestTokenHookPassesThroughAndFailsSafely(t *testing.T) {
	hs := newHarness(t)
	id, s, _ := hs.user(orytest.Identity{}, orytest.Session{})
	// Code exchange: the consent's claims stand (204, nothing asked).
	code, _ := hs.hook(orytest.TokenHook{Subject: id, ClientID: "tutor-web", GrantTypes: []string{"authorization_code"}, GrantedScopes: []string{"openid"}}.JSON(), hookSecret)
	if code != http.StatusNoContent {
		t.Fatalf("authorization_code: %d", code)
	}
	// client_credentials: the client is the subject.
	code, _ = hs.hook(orytest.TokenHook{Subject: "integrator-example", ClientID: "integrator-example", GrantTypes: []string{"client_credentials"}}.JSON(), hookSecret)
	if code != http.StatusNoContent {
		t.Fatalf("client_credentials: %d", code)
	}
	if code, _ := hs.hook(refresh(id, "tutor-web", nil, nil), "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", code)
	}
	if code, _ := hs.hook([]byte("{not json"), hookSecret); code != http.StatusBadRequest {
		t.Fatalf("bad body: %d", code)
	}
	hs.kratos.FailOn("", http.StatusInternalServerError)
	if code, _ := hs.hook(refresh(id, "tutor-web", nil, map[string]any{"session_id": s.ID}), hookSecret); code != http.StatusServiceUnavailable {
		t.Fatalf("kratos down: %d", code)
	}
	hs.kratos.FailOn("", 0)
	hs.hydra.Fail(http.StatusServiceUnavailable)
	if code, _ := hs.hook(refresh(id, "tutor-web", nil, map[string]any{"session_id": s.ID}), hookSecret); code != http.StatusServiceUnavailable {
		t.Fatalf("hydra down: %d", code)
	}
}
