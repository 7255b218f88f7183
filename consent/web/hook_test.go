package web

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
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
		t.Run(c.client+" "+strings.Join(c.scopes, " "), func(t *testing.T) {
			hs := newHarness(t)
			id, s, _ := hs.user(orytest.Identity{Name: "Ada", Role: "admin"}, orytest.Session{})
			// The old token carried every claim: the refresh cuts them to the scopes.
			old := map[string]any{"email": "old@example.org", "email_verified": false, "name": "Old", "role": "student", "session_id": s.ID}
			code, out := hs.hook(refresh(id, c.client, c.scopes, old), hookSecret)
			if code != http.StatusOK {
				t.Fatalf("%d", code)
			}
			at, idt := sessionClaims(t, out)
			if !maps.Equal(idt, c.want) {
				t.Errorf("id_token %v, want %v", idt, c.want)
			}
			want := maps.Clone(c.want)
			want["session_id"] = s.ID
			if !maps.Equal(at, want) {
				t.Errorf("access_token %v, want %v", at, want)
			}
		})
	}
}

func TestTokenHookRefusesEndedSessions(t *testing.T) {
	scopes := []string{"openid", "offline_access"}
	for _, c := range []struct {
		name string
		end  func(k *orytest.Kratos, s orytest.Session)
	}{
		{"revoked", func(k *orytest.Kratos, s orytest.Session) { k.Revoke(s.ID) }},           // signed out, or a password change
		{"deleted", func(k *orytest.Kratos, s orytest.Session) { k.DeleteSession(s.ID) }},    // "sign out everywhere"
		{"expired", func(k *orytest.Kratos, s orytest.Session) { k.PutSession(expired(s)) }}, // past expires_at
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, s, _ := hs.user(orytest.Identity{}, orytest.Session{})
			c.end(hs.kratos, s)
			if code, _ := hs.hook(refresh(id, "tutor-web", scopes, map[string]any{"session_id": s.ID}), hookSecret); code != http.StatusForbidden {
				t.Errorf("%d, want 403", code)
			}
		})
	}
	t.Run("token from before session ids were carried", func(t *testing.T) {
		hs := newHarness(t)
		id, _, _ := hs.user(orytest.Identity{}, orytest.Session{})
		code, out := hs.hook(refresh(id, "tutor-web", scopes, map[string]any{"role": "student"}), hookSecret)
		if code != http.StatusOK {
			t.Fatalf("%d", code)
		}
		if at, _ := sessionClaims(t, out); !maps.Equal(at, map[string]any{"role": "student"}) {
			t.Fatalf("%v", at)
		}
	})
}

// expired is s as it is once its expires_at has passed.
func expired(s orytest.Session) orytest.Session {
	s.AuthenticatedAt, s.ExpiresAt = time.Now().Add(-25*time.Hour), time.Now().Add(-time.Hour)
	return s
}

func TestTokenHookRefusesInactiveAccounts(t *testing.T) {
	for _, c := range []struct {
		name, client string
		change       func(k *orytest.Kratos, id string)
	}{
		{"inactive", "tutor-web", func(k *orytest.Kratos, id string) { k.SetInactive(id, true) }},
		{"deleted", "tutor-web", func(k *orytest.Kratos, id string) { k.DeleteIdentity(id) }},
		{"unknown client", "gone-client", func(*orytest.Kratos, string) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, s, _ := hs.user(orytest.Identity{}, orytest.Session{})
			c.change(hs.kratos, id)
			if code, _ := hs.hook(refresh(id, c.client, []string{"openid"}, map[string]any{"session_id": s.ID}), hookSecret); code != http.StatusForbidden {
				t.Fatalf("%d, want 403", code)
			}
		})
	}
}

func TestTokenHookPassesThroughAndFailsSafely(t *testing.T) {
	for _, c := range []struct {
		name   string
		body   func(id, sessionID string) []byte
		secret string
		fail   func(hs *harness)
		want   int
	}{
		// Code exchange: the consent's claims stand (204, nothing asked).
		{"authorization_code", func(id, _ string) []byte {
			return orytest.TokenHook{Subject: id, ClientID: "tutor-web", GrantTypes: []string{"authorization_code"}, GrantedScopes: []string{"openid"}}.JSON()
		}, hookSecret, nil, http.StatusNoContent},
		// client_credentials: the client is the subject.
		{"client_credentials", func(string, string) []byte {
			return orytest.TokenHook{Subject: "integrator-example", ClientID: "integrator-example", GrantTypes: []string{"client_credentials"}}.JSON()
		}, hookSecret, nil, http.StatusNoContent},
		{"wrong secret", func(id, _ string) []byte { return refresh(id, "tutor-web", nil, nil) }, "wrong", nil, http.StatusUnauthorized},
		{"bad body", func(string, string) []byte { return []byte("{not json") }, hookSecret, nil, http.StatusBadRequest},
		{"kratos down", func(id, sid string) []byte { return refresh(id, "tutor-web", nil, map[string]any{"session_id": sid}) }, hookSecret,
			func(hs *harness) { hs.kratos.FailOn("", http.StatusInternalServerError) }, http.StatusServiceUnavailable},
		{"hydra down", func(id, sid string) []byte { return refresh(id, "tutor-web", nil, map[string]any{"session_id": sid}) }, hookSecret,
			func(hs *harness) { hs.hydra.Fail(http.StatusServiceUnavailable) }, http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			id, s, _ := hs.user(orytest.Identity{}, orytest.Session{})
			if c.fail != nil {
				c.fail(hs)
			}
			if code, _ := hs.hook(c.body(id, s.ID), c.secret); code != c.want {
				t.Fatalf("%d, want %d", code, c.want)
			}
		})
	}
}
