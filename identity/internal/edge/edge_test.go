package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edgetest"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"203.0.113.5:1234", []string{"1.2.3.4"}, trusted, "203.0.113.5"},           // untrusted peer: XFF ignored
		{"127.0.0.1:1", []string{"1.2.3.4"}, nil, "127.0.0.1"},                      // nothing trusted
		{"127.0.0.1:1", []string{"6.6.6.6, 1.2.3.4, 10.0.0.9"}, trusted, "1.2.3.4"}, // right-most untrusted
		{"127.0.0.1:1", []string{"6.6.6.6", "1.2.3.4"}, trusted, "1.2.3.4"},         // several headers
		{"127.0.0.1:1", []string{"10.0.0.3, 10.0.0.9"}, trusted, "10.0.0.3"},        // all trusted: the left-most
		{"127.0.0.1:1", []string{"junk, 10.0.0.9"}, trusted, "10.0.0.9"},            // unparseable: stop there
		{"127.0.0.1:1", nil, trusted, "127.0.0.1"},
		{"[::ffff:127.0.0.1]:1", []string{"::ffff:1.2.3.4"}, trusted, "1.2.3.4"},
		{"not-an-address", nil, trusted, "not-an-address"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ClientOf(r, c.trusted).IP; got != c.want {
			t.Errorf("%s %v: %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}

func TestClientUserAgentBounded(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("User-Agent", string(make([]byte, 2000)))
	if got := ClientOf(r, nil).UserAgent; len(got) != 512 {
		t.Fatalf("user agent of %d bytes kept", len(got))
	}
}

func TestValidUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"0b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5e": true,
		"0B8E3F4C-1D2A-4B5C-8D9E-0F1A2B3C4D5E": true,
		"0b8e3f4c1d2a4b5c8d9e0f1a2b3c4d5e":     false,
		"0b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5":  false,
		"0b8e3f4c-1d2a-4b5c-8d9e-0f1a2b3c4d5g": false,
		"0b8e3f4c_1d2a-4b5c-8d9e-0f1a2b3c4d5e": false,
		"":                                     false,
	} {
		if ValidUUID(s) != want {
			t.Errorf("ValidUUID(%q) = %v", s, !want)
		}
	}
}

func TestNewSession(t *testing.T) {
	for name, c := range map[string]struct {
		cookie *http.Cookie
		want   string
	}{
		"set":       {&http.Cookie{Name: SessionCookie, Value: "tok"}, "tok"},
		"cleared":   {&http.Cookie{Name: SessionCookie, Value: "", MaxAge: -1}, ""},
		"expired":   {&http.Cookie{Name: SessionCookie, Value: "tok", MaxAge: -1}, ""},
		"another":   {&http.Cookie{Name: "csrf_token", Value: "x"}, ""},
		"no cookie": {nil, ""},
	} {
		t.Run(name, func(t *testing.T) {
			res := &http.Response{Header: http.Header{}}
			if c.cookie != nil {
				res.Header.Add("Set-Cookie", c.cookie.String())
			}
			if got := NewSession(res); got != c.want {
				t.Fatalf("%q, want %q", got, c.want)
			}
		})
	}
}

func TestWantsJSON(t *testing.T) {
	for _, c := range []struct {
		accept, contentType string
		want                bool
	}{
		{"application/json", "", true},
		{"text/html", "application/json; charset=utf-8", true},
		{"text/html", "application/x-www-form-urlencoded", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Accept", c.accept)
		r.Header.Set("Content-Type", c.contentType)
		if WantsJSON(r) != c.want {
			t.Errorf("Accept %q Content-Type %q: %v", c.accept, c.contentType, !c.want)
		}
	}
}

// A revocation for something already done is retried in the background
// until written, and counted; after the last retry it is abandoned.
func TestRevocationsEventually(t *testing.T) {
	store := &edgetest.Revocations{}
	reg := prometheus.NewRegistry()
	logs := &edgetest.Logs{}
	r := NewRevocations(store, logs.Logger(), reg, []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond})
	count := func(reason, outcome string) float64 {
		return edgetest.Counter(t, reg, "identity_token_revocations_total", "reason", reason, "outcome", outcome)
	}
	write := func(ctx context.Context) error { return r.RevokeSession(ctx, "s1", identity.ReasonSignOut) }

	if err := r.Eventually(t.Context(), identity.ReasonSignOut, write); err != nil || count(identity.ReasonSignOut, "written") != 1 {
		t.Fatalf("first try: %v, %v written", err, count(identity.ReasonSignOut, "written"))
	}

	store.FailNext(2)
	if err := r.Eventually(t.Context(), identity.ReasonSignOut, write, "session", "s1"); err == nil {
		t.Fatal("a failed first write reported no error")
	}
	edgetest.WaitFor(t, "written on retry", func() bool { return count(identity.ReasonSignOut, "retry_written") == 1 })
	if n := len(store.All()); n != 2 || count(identity.ReasonSignOut, "failed") != 2 {
		t.Fatalf("%d records, %v failures", n, count(identity.ReasonSignOut, "failed"))
	}

	store.SetDown(true)
	_ = r.Eventually(t.Context(), identity.ReasonRecovered, func(ctx context.Context) error {
		return r.RevokeSubject(ctx, "u1", "", identity.ReasonRecovered)
	})
	edgetest.WaitFor(t, "abandoned", func() bool { return count(identity.ReasonRecovered, "abandoned") == 1 })
	if count(identity.ReasonRecovered, "failed") != 4 {
		t.Fatalf("%v failed writes, want 4 (one try and three retries)", count(identity.ReasonRecovered, "failed"))
	}
}
