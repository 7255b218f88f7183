package token

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// idTokenAt is what Hydra signs as an ID token for the learner-web client,
// with the same JWKS as access tokens: aud is the client, at_hash and
// nonce are set, client_id is not.
func idTokenAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "7d3f0a52-identity",
		"aud":       []string{"learner-web"},
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"auth_time": now.Unix(),
		"jti":       "id-jti",
		"at_hash":   "ZL4x1c5yPjY8sYcZPTTgHA",
		"nonce":     "n-0S6_WzA2Mj",
		"sid":       "kratos-session-1",
		"email":     "ada@example.org",
		"role":      "admin",
	}
}

// machineAt is a client_credentials token: the client is its own subject.
func machineAt(now time.Time, scopes ...string) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "retriever-acme",
		"client_id": "retriever-acme",
		"aud":       []string{testAudience},
		"exp":       now.Add(time.Hour).Unix(),
		"iat":       now.Unix(),
		"jti":       "machine-jti",
		"scp":       scopes,
	}
}

func TestValidateRefusesOtherTokenTypes(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	good := claimsAt(now)
	tests := []struct {
		name   string
		claims map[string]any
		reason string
	}{
		{"ID token", idTokenAt(now), "token_type"},
		{"ID token for this audience", with(idTokenAt(now), "aud", []string{testAudience}), "token_type"},
		{"ID token without nonce", with(idTokenAt(now), "nonce", nil), "token_type"},
		{"ID token without at_hash", with(idTokenAt(now), "at_hash", nil), "token_type"},
		{"ID token claiming a client_id", with(idTokenAt(now), "client_id", "learner-web", "aud", []string{testAudience}), "token_type"},
		{"access token with at_hash", with(good, "at_hash", "x"), "token_type"},
		{"access token with nonce", with(good, "nonce", "x"), "token_type"},
		{"nonce null still counts", with(good, "nonce", json.RawMessage("null")), "token_type"},
		{"at_hash of another type still counts", with(good, "at_hash", map[string]any{"x": 1}), "token_type"},
		{"no client_id", with(good, "client_id", nil), "token_type"},
		{"client_id null", with(good, "client_id", json.RawMessage("null")), "token_type"},
		{"client_id empty", with(good, "client_id", ""), "token_type"},
		{"client_id not a string", with(good, "client_id", []string{"learner-web"}), "claims"},
		{"another client's token for another audience", with(good, "client_id", "other-app", "aud", []string{"other-api"}), "audience"},
		{"machine token for another audience", with(machineAt(now), "aud", []string{"other-api"}), "audience"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, tt.claims))
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Reason != tt.reason {
				t.Fatalf("err = %v, want reason %q", err, tt.reason)
			}
			if tt.reason == "token_type" && !strings.Contains(ie.Description, "ID tokens are not accepted") {
				t.Fatalf("description %q", ie.Description)
			}
		})
	}

	typeRefusals := 0
	for _, tt := range tests {
		if tt.reason == "token_type" {
			typeRefusals++
		}
	}
	if got := testutil.ToFloat64(f.v.metrics.validations.WithLabelValues("token_type")); got != float64(typeRefusals) {
		t.Fatalf("validations{outcome=token_type} = %v, want %d", got, typeRefusals)
	}

	w := do(RequireUser(f.v)(echoUser), "Bearer "+sign(t, jwa.RS256, a, kidA, idTokenAt(now)))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("ID token through RequireUser: status %d", w.Code)
	}
	if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) || !strings.Contains(got, "not an access token") {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	if code, _ := errorBody(t, w); code != "invalid_token" {
		t.Fatalf("code %q", code)
	}
}

func TestValidateNewUserFields(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	tests := []struct {
		name   string
		claims map[string]any
		want   User // only the fields this test is about
	}{
		{"learner", with(claimsAt(now), "session_id", "kratos-session-1", "acr", "aal2", "amr", []string{"pwd", "totp"}),
			User{ClientID: "learner-web", TokenID: "jti-1", SessionID: "kratos-session-1", IssuedAt: now, ACR: "aal2", AMR: []string{"pwd", "totp"}}},
		{"no iat, no session, no amr", with(claimsAt(now), "iat", nil, "jti", nil),
			User{ClientID: "learner-web"}},
		{"amr as one string", with(claimsAt(now), "amr", "pwd"),
			User{ClientID: "learner-web", TokenID: "jti-1", IssuedAt: now, AMR: []string{"pwd"}}},
		{"fractional iat", with(claimsAt(now), "iat", float64(now.Unix())+0.5),
			User{ClientID: "learner-web", TokenID: "jti-1", IssuedAt: now.Add(500 * time.Millisecond)}},
		{"machine", machineAt(now, "plugins"),
			User{ClientID: "retriever-acme", TokenID: "machine-jti", IssuedAt: now, Machine: true}},
		{"learner whose client differs from sub", with(machineAt(now), "sub", "7d3f0a52-identity"),
			User{ClientID: "retriever-acme", TokenID: "machine-jti", IssuedAt: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			if u.ClientID != tt.want.ClientID || u.TokenID != tt.want.TokenID || u.SessionID != tt.want.SessionID ||
				!u.IssuedAt.Equal(tt.want.IssuedAt) || u.IssuedAt.IsZero() != tt.want.IssuedAt.IsZero() ||
				u.ACR != tt.want.ACR || !slices.Equal(u.AMR, tt.want.AMR) || u.Machine != tt.want.Machine {
				t.Fatalf("user %+v, want %+v", u, tt.want)
			}
		})
	}
}

// TestMachineTokensAndScopes runs learner and client tokens through every
// combination of the middlewares.
func TestMachineTokensAndScopes(t *testing.T) {
	f := newFixture(t)
	a, _, _ := testKeys(t)
	now := f.clock.Now()
	learner := "Bearer " + sign(t, jwa.RS256, a, kidA, claimsAt(now)) // scp openid offline_access tutor
	machine := "Bearer " + sign(t, jwa.RS256, a, kidA, machineAt(now, "plugins.read", "plugins.write"))
	machineRead := "Bearer " + sign(t, jwa.RS256, a, kidA, machineAt(now, "plugins.read"))
	machineNone := "Bearer " + sign(t, jwa.RS256, a, kidA, machineAt(now))
	expired := "Bearer " + sign(t, jwa.RS256, a, kidA, with(machineAt(now, "plugins.write"), "exp", now.Add(-time.Hour).Unix()))

	user := RequireUser(f.v)(echoUser)
	userTutor := RequireUser(f.v)(RequireScope("tutor")(echoUser))
	userTwo := RequireUser(f.v)(RequireScope("tutor", "admin.write")(echoUser))
	client := RequireClient(f.v)(echoUser)
	clientWrite := RequireClient(f.v, "plugins.write")(echoUser)
	clientBoth := RequireClient(f.v, "plugins.read", "plugins.write")(echoUser)
	clientThenScope := RequireClient(f.v)(RequireScope("plugins.write")(echoUser))
	scopeAlone := RequireScope("tutor")(echoUser)

	tests := []struct {
		name      string
		h         http.Handler
		auth      string
		status    int
		code      string // platform error code
		challenge string // RFC 6750 error, "" for none checked
		user      string // the sub the handler sees on 200
	}{
		{"learner on a learner route", user, learner, 200, "", "", "7d3f0a52-identity"},
		{"machine on a learner route", user, machine, 401, "invalid_token", "invalid_token", ""},
		{"machine with every scope on a scoped learner route", userTutor, "Bearer " + sign(t, jwa.RS256, a, kidA, machineAt(now, "tutor")), 401, "invalid_token", "invalid_token", ""},
		{"learner with the scope", userTutor, learner, 200, "", "", "7d3f0a52-identity"},
		{"learner lacking one of two scopes", userTwo, learner, 403, "insufficient_scope", "insufficient_scope", ""},
		{"machine on a client route", client, machine, 200, "", "", "retriever-acme"},
		{"machine without scopes on an unscoped client route", client, machineNone, 200, "", "", "retriever-acme"},
		{"learner on a client route", client, learner, 403, "insufficient_scope", "insufficient_scope", ""},
		{"machine with the scope", clientWrite, machine, 200, "", "", "retriever-acme"},
		{"machine lacking the scope", clientWrite, machineRead, 403, "insufficient_scope", "insufficient_scope", ""},
		{"machine with both scopes", clientBoth, machine, 200, "", "", "retriever-acme"},
		{"machine with one of two scopes", clientBoth, machineRead, 403, "insufficient_scope", "insufficient_scope", ""},
		{"RequireScope after RequireClient", clientThenScope, machine, 200, "", "", "retriever-acme"},
		{"RequireScope after RequireClient, lacking", clientThenScope, machineRead, 403, "insufficient_scope", "insufficient_scope", ""},
		{"expired machine token on a client route", clientWrite, expired, 401, "invalid_token", "invalid_token", ""},
		{"no token on a client route", clientWrite, "", 401, "unauthenticated", "", ""},
		{"garbage on a client route", clientWrite, "Bearer garbage", 401, "invalid_token", "invalid_token", ""},
		{"RequireScope without RequireUser", scopeAlone, learner, 401, "unauthenticated", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w = do(tt.h)
			if tt.auth != "" {
				w = do(tt.h, tt.auth)
			}
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusOK {
				var u User
				if err := json.Unmarshal(w.Body.Bytes(), &u); err != nil || u.ID != tt.user {
					t.Fatalf("handler saw %+v (%v), want sub %q", u, err, tt.user)
				}
				return
			}
			if code, _ := errorBody(t, w); code != tt.code {
				t.Fatalf("code %q, want %q", code, tt.code)
			}
			challenge := w.Header().Get("WWW-Authenticate")
			if tt.challenge != "" && !strings.HasPrefix(challenge, `Bearer error="`+tt.challenge+`", error_description="`) {
				t.Fatalf("WWW-Authenticate %q, want error %q", challenge, tt.challenge)
			}
			if tt.challenge == "" && challenge != `Bearer realm="learnplatform"` {
				t.Fatalf("WWW-Authenticate %q", challenge)
			}
		})
	}

	t.Run("machine refusal says why", func(t *testing.T) {
		w := do(user, machine)
		if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, "a client's own token cannot act for a learner") {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
	t.Run("insufficient_scope names the scopes", func(t *testing.T) {
		w := do(clientBoth, machineRead)
		got := w.Header().Get("WWW-Authenticate")
		if !strings.HasSuffix(got, `, scope="plugins.read plugins.write"`) {
			t.Fatalf("WWW-Authenticate %q", got)
		}
		if _, msg := errorBody(t, w); !strings.Contains(msg, "plugins.write") || strings.Contains(msg, "plugins.read and") {
			t.Fatalf("message %q should name only the missing scope", msg)
		}
	})
}

// fakeRevocations is a RevocationList in memory, as kit/revocation's is.
type fakeRevocations struct {
	mu       sync.Mutex
	subjects map[string]time.Time // subject → tokens issued before this are revoked
	sessions map[string]bool
	tokens   map[string]bool
	calls    []string // "subject|session|jti|iat-unix" per call
}

func newFakeRevocations() *fakeRevocations {
	return &fakeRevocations{subjects: map[string]time.Time{}, sessions: map[string]bool{}, tokens: map[string]bool{}}
}

func (l *fakeRevocations) Revoked(subject, sessionID, tokenID string, issuedAt time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	iat := "none"
	if !issuedAt.IsZero() {
		iat = issuedAt.UTC().Format(time.RFC3339)
	}
	l.calls = append(l.calls, subject+"|"+sessionID+"|"+tokenID+"|"+iat)
	if before, ok := l.subjects[subject]; ok && (issuedAt.IsZero() || issuedAt.Before(before)) {
		return true
	}
	return l.sessions[sessionID] || l.tokens[tokenID]
}

func (l *fakeRevocations) revoke(do func(l *fakeRevocations)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	do(l)
}

func (l *fakeRevocations) callLog() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

func TestRevocation(t *testing.T) {
	a, _, _ := testKeys(t)
	for _, cache := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
		t.Run(cache.name, func(t *testing.T) {
			list := newFakeRevocations()
			f := newFixture(t, func(c *Config) { c.Revocations = list; c.CacheSize = cache.size })
			now := f.clock.Now()
			tok := func(kv ...any) string {
				return sign(t, jwa.RS256, a, kidA, with(claimsAt(now), append([]any{"session_id", "sess-1"}, kv...)...))
			}
			tests := []struct {
				name   string
				revoke func(l *fakeRevocations)
				tok    string
				want   string // "" for accepted, else the reason
			}{
				{"nothing revoked", nil, tok(), ""},
				{"another session revoked", func(l *fakeRevocations) { l.sessions["sess-2"] = true }, tok(), ""},
				{"this session revoked", func(l *fakeRevocations) { l.sessions["sess-1"] = true }, tok(), "revoked"},
				{"a token of a fresh session", nil, tok("session_id", "sess-3", "jti", "j3"), ""},
				{"this token revoked", func(l *fakeRevocations) { l.tokens["j3"] = true }, tok("session_id", "sess-3", "jti", "j3"), "revoked"},
				{"the subject's earlier tokens revoked", func(l *fakeRevocations) { l.subjects["7d3f0a52-identity"] = now.Add(time.Second) },
					tok("session_id", "sess-4", "jti", "j4"), "revoked"},
				{"the subject's later token", nil, tok("session_id", "sess-5", "jti", "j5", "iat", now.Add(2*time.Second).Unix()), ""},
			}
			h := RequireUser(f.v)(echoUser)
			for _, tt := range tests {
				// Each token is validated before and after its revocation,
				// so the cached run also checks revocation of cache hits.
				if _, err := f.v.Validate(t.Context(), tt.tok); err != nil && tt.revoke != nil {
					t.Fatalf("%s: before revoking: %v", tt.name, err)
				}
				if tt.revoke != nil {
					list.revoke(tt.revoke)
				}
				_, err := f.v.Validate(t.Context(), tt.tok)
				var ie *InvalidError
				switch {
				case tt.want == "" && err != nil:
					t.Fatalf("%s: %v", tt.name, err)
				case tt.want != "" && (!errors.As(err, &ie) || ie.Reason != tt.want):
					t.Fatalf("%s: err = %v, want reason %q", tt.name, err, tt.want)
				}
				w := do(h, "Bearer "+tt.tok)
				if tt.want == "" {
					if w.Code != http.StatusOK {
						t.Fatalf("%s: status %d", tt.name, w.Code)
					}
					continue
				}
				if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "token was revoked (signed out, deactivated or role changed)") {
					t.Fatalf("%s: status %d, WWW-Authenticate %q", tt.name, w.Code, w.Header().Get("WWW-Authenticate"))
				}
				if code, _ := errorBody(t, w); code != "invalid_token" {
					t.Fatalf("%s: code %q", tt.name, code)
				}
			}
			if got := testutil.ToFloat64(f.v.metrics.validations.WithLabelValues("revoked")); got != 6 {
				t.Fatalf("validations{outcome=revoked} = %v, want 6 (3 revoked rows, each refused by Validate and by the middleware)", got)
			}
			calls := list.callLog()
			if want := "7d3f0a52-identity|sess-1|jti-1|" + now.UTC().Format(time.RFC3339); calls[0] != want {
				t.Fatalf("first call %q, want %q", calls[0], want)
			}
			// Every validation asks, cache hit or not: 2 per row plus 1 per
			// request through the middleware.
			if len(calls) != 3*len(tests) {
				t.Fatalf("%d calls for %d validations", len(calls), 3*len(tests))
			}
		})
	}

	t.Run("no iat reaches the list as the zero time", func(t *testing.T) {
		list := newFakeRevocations()
		f := newFixture(t, func(c *Config) { c.Revocations = list })
		if _, err := f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, with(claimsAt(f.clock.Now()), "iat", nil))); err != nil {
			t.Fatal(err)
		}
		if calls := list.callLog(); len(calls) != 1 || !strings.HasSuffix(calls[0], "|none") {
			t.Fatalf("calls %q", calls)
		}
	})
	t.Run("refused tokens are not asked about", func(t *testing.T) {
		list := newFakeRevocations()
		f := newFixture(t, func(c *Config) { c.Revocations = list })
		_, _ = f.v.Validate(t.Context(), sign(t, jwa.RS256, a, kidA, idTokenAt(f.clock.Now())))
		_, _ = f.v.Validate(t.Context(), "junk")
		if calls := list.callLog(); len(calls) != 0 {
			t.Fatalf("calls %q", calls)
		}
	})
}
