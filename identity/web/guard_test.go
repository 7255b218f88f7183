package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestMinutesLeftSingular(t *testing.T) {
	now := time.Now()
	for d, want := range map[time.Duration]string{
		time.Second: "1 minute", time.Minute: "1 minute", 61 * time.Second: "2 minutes", 30 * time.Minute: "30 minutes",
	} {
		if got := minutesLeft(now.Add(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

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
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, c.trusted); got != c.want {
			t.Errorf("%s %v: %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}
