// Package edge holds what the identity edge's HTTP packages (pages, proxy,
// limits, admin, hooks) share: who the client behind a request is, how an
// auth event is recorded with it, how token revocations are written and
// counted, and the small pieces of HTTP every one of them speaks (the JSON
// error shape, UUIDs in paths, Kratos' session cookie).
package edge

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/learnplatform/platform/identity"
)

// Client is the browser or app behind a request.
type Client struct {
	IP        string
	UserAgent string
}

// ClientOf is who sent r: the direct peer's address, or, when the peer is
// one of the trusted proxies, the right-most X-Forwarded-For address that
// is not (every trusted hop appends the address it saw; what lies to the
// left of the first untrusted one is the client's own say and may be made
// up).
func ClientOf(r *http.Request, trusted []netip.Prefix) Client {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return Client{IP: clientIP(r, trusted), UserAgent: ua}
}

func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // not an address: the last trusted hop is all we know
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Record adds the client's address and agent to e and stores it in log
// (nil: nothing is recorded).
func Record(ctx context.Context, log identity.EventLog, e identity.Event, c Client) {
	if log == nil {
		return
	}
	e.IP, e.UserAgent = c.IP, c.UserAgent
	log.Record(ctx, e)
}

// SessionCookie is Kratos' session cookie name (Kratos' default).
const SessionCookie = "ory_kratos_session"

// NewSession is the value of the Kratos session cookie res sets, or "".
func NewSession(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// WantsJSON reports whether the client asked for JSON rather than a page.
func WantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") ||
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

// WriteJSONError answers the platform's {"error": {"code", "message"}}
// shape, never cached.
func WriteJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// ValidUUID reports whether s is a UUID in its 36-character form, the
// shape of Kratos' identity, session and flow ids.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
