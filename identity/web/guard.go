package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
)

// client is the browser or app behind a request.
type client struct {
	IP        string
	UserAgent string
}

// clientOf is who sent r: the direct peer's address, or, when the peer is
// one of Options.TrustedProxies, the right-most X-Forwarded-For address
// that is not (every trusted hop appends the address it saw; what lies to
// the left of the first untrusted one is the client's own say and may be
// made up).
func (h *Handler) clientOf(r *http.Request) client {
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return client{IP: clientIP(r, h.opts.TrustedProxies), UserAgent: ua}
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

// singleCookie refuses a request with more than one Cookie header. Go's
// Header.Get sees only the first while Kratos reads them all, so a second
// header would let the edge and Kratos disagree about the browser's
// cookies (the edge once re-read a flow with the wrong ones and counted
// nothing). Browsers send one; HTTP/2 splits are joined by the server.
func (h *Handler) singleCookie(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Cookie")) > 1 {
			h.showError(w, r, http.StatusBadRequest, "duplicate_cookie_header",
				"The request carries more than one Cookie header. Send all cookies in one.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type loginAttempt struct {
	identifier string // normalized
	flowID     string
	res        identity.Reservation
	settled    sync.Once
}

// Message ids the edge adds to flows (Kratos leaves 4000900+ free).
const (
	MsgLocked       int64 = 4000960
	MsgThrottled    int64 = 4000961
	MsgMailThrottle int64 = 4000962
)

// Kratos' "wrong identifier or password" message.
const kratosInvalidCredentials = 4000006

// guardLogin counts a password sign-in before Kratos sees it, or refuses
// it (the identifier locked, the address throttled). It answers the
// request itself and returns false when the request must stop; a store it
// cannot reach stops the sign-in too (fail closed).
func (h *Handler) guardLogin(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	sub := ex.sub
	if sub.method != "password" || h.opts.Lockouts == nil {
		return true
	}
	raw, _ := sub.values["identifier"].(string)
	if raw == "" {
		raw, _ = sub.values["password_identifier"].(string) // Kratos' older field name
	}
	ident := identity.NormalizeIdentifier(raw)
	if ident == "" {
		return true // Kratos answers a missing identifier itself
	}
	if !identity.PlausibleIdentifier(ident) {
		h.showError(w, r, http.StatusBadRequest, "bad_identifier", "The email address is not valid.")
		return false
	}
	flowID := r.URL.Query().Get("flow")
	now := h.now()
	res, err := h.opts.Lockouts.Reserve(r.Context(), ident, ex.client.IP, now)
	if err != nil {
		h.opts.Logger.Error("lockout check", "error", err)
		w.Header().Set("Retry-After", "30")
		h.showError(w, r, http.StatusServiceUnavailable, "unavailable", "Sign-in is unavailable right now. Please try again in a minute.")
		return false
	}
	if !res.Refused() {
		ex.login = &loginAttempt{identifier: ident, flowID: flowID, res: res}
		return true
	}
	var until time.Time
	var msg kratos.Text
	var code, reason string
	switch {
	case !res.LockedUntil.IsZero():
		h.metrics.signIns.WithLabelValues("refused_locked").Inc()
		until, code, reason = res.LockedUntil, "account_locked", "locked"
		msg = kratos.Text{ID: MsgLocked, Type: "error",
			Text: fmt.Sprintf("Account temporarily locked. Try again in %s.", minutesLeft(until, now))}
	default:
		h.metrics.signIns.WithLabelValues("refused_throttled").Inc()
		until, code, reason = res.IPBlockedUntil, "too_many_attempts", "address_throttled"
		msg = kratos.Text{ID: MsgThrottled, Type: "error",
			Text: fmt.Sprintf("Too many failed sign-ins from your network. Try again in %s.", minutesLeft(until, now))}
	}
	h.recordLinked(r.Context(), identity.Event{Type: identity.EventLoginFailed, Email: ident, FlowID: flowID,
		Detail: map[string]any{"reason": reason, "method": "password"}}, ex.client)
	h.refuseInFlow(w, r, kratos.Login, flowID, until, now, code, msg, "identifier", raw)
	return false
}

// refuseInFlow answers 429 with Retry-After: the error shape for API
// clients, the flow's form with msg for browsers.
func (h *Handler) refuseInFlow(w http.ResponseWriter, r *http.Request, kind kratos.Kind, flowID string, until, now time.Time,
	code string, msg kratos.Text, field, value string) {
	retry := max(1, int(math.Ceil(until.Sub(now).Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]any{"code": code, "message": msg.Text, "id": msg.ID, "retry_after": retry},
		})
		return
	}
	// The browser gets its form back with the message.
	f, err := h.opts.Kratos.Flow(r.Context(), kind, flowID, r.Header.Get("Cookie"), "")
	if err != nil {
		h.render(w, r, http.StatusTooManyRequests, "error", pageData{Title: http.StatusText(http.StatusTooManyRequests), ErrorText: msg.Text})
		return
	}
	f.UI.Messages = append(f.UI.Messages, msg)
	if n := f.UI.Find(field); n != nil && value != "" {
		n.SetValue(value)
	}
	h.showFlow(w, r, http.StatusTooManyRequests, f)
}

// minutesLeft says "1 minute", "12 minutes".
func minutesLeft(until, now time.Time) string {
	n := max(1, int(math.Ceil(until.Sub(now).Minutes())))
	if n == 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
}

// loginResult is what Kratos' answer to a password sign-in says.
type loginResult int

const (
	loginUnknown loginResult = iota // could not tell: counts as a failure
	loginSucceeded
	loginInvalid // Kratos said: wrong identifier or password
)

// afterLogin settles the attempt guardLogin counted: a session resets the
// count; wrong credentials, and any answer the edge cannot read, keep it.
func (h *Handler) afterLogin(ctx context.Context, res *http.Response, ex *exchange) {
	a := ex.login
	result, identityID := h.loginOutcome(ctx, res)
	if result == loginSucceeded {
		a.settled.Do(func() {
			h.metrics.signIns.WithLabelValues("succeeded").Inc()
			if _, err := h.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeSucceeded, h.now()); err != nil {
				h.opts.Logger.Error("lockout reset", "error", err)
			}
		})
		h.stalePassword(ctx, res, ex)
		cookie := sessionCookie(res)
		h.background(func() { // who signed in, without holding up the answer
			id := identityID
			if id == "" && cookie != "" {
				if s, err := h.opts.Kratos.Whoami(ctx, SessionCookie+"="+cookie, ""); err == nil {
					id = s.IdentityID
				}
			}
			h.record(ctx, identity.Event{Type: identity.EventLoginSucceeded, IdentityID: id, Email: a.identifier,
				FlowID: a.flowID, Detail: map[string]any{"method": "password"}}, ex.client)
		})
		return
	}
	reason := "invalid_credentials"
	if result == loginUnknown {
		reason = "unconfirmed" // not a session, not Kratos' "invalid credentials": counted all the same
	}
	h.failed(ctx, ex, reason)
}

// failed settles a.res as a failure and logs it, the lock and the block
// it led to.
func (h *Handler) failed(ctx context.Context, ex *exchange, reason string) {
	a := ex.login
	a.settled.Do(func() {
		h.metrics.signIns.WithLabelValues("failed").Inc()
		f, err := h.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeFailed, h.now())
		if err != nil {
			h.opts.Logger.Error("lockout count", "error", err)
		}
		h.recordLinked(ctx, identity.Event{Type: identity.EventLoginFailed, Email: a.identifier, FlowID: a.flowID,
			Detail: map[string]any{"reason": reason, "method": "password", "failures": a.res.Failures}}, ex.client)
		if f.LockedNow {
			h.metrics.lockouts.Inc()
			h.recordLinked(ctx, identity.Event{Type: identity.EventLockout, Email: a.identifier, FlowID: a.flowID,
				Detail: map[string]any{"failures": a.res.Failures, "locked_until": f.LockedUntil}}, ex.client)
			h.background(func() { h.notifyLockout(context.WithoutCancel(ctx), a.identifier, f.LockedUntil, ex.client) })
		}
		if f.IPBlockedNow {
			h.metrics.throttle.Inc()
			h.record(ctx, identity.Event{Type: identity.EventIPThrottled, Email: a.identifier,
				Detail: map[string]any{"blocked_until": f.IPBlockedUntil}}, ex.client)
		}
	})
}

// proxyFailed settles a sign-in whose request got no answer from Kratos:
// given back when it never got there (connection refused), counted when
// it may have (the client went away, Kratos broke off).
func (h *Handler) proxyFailed(r *http.Request, err error) {
	ex, _ := r.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return
	}
	ctx := context.WithoutCancel(r.Context())
	if ex.mail != nil && errors.Is(err, syscall.ECONNREFUSED) {
		h.returnMail(ctx, ex)
	}
	if ex.login == nil {
		return
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		a := ex.login
		a.settled.Do(func() {
			if _, err := h.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeNotSent, h.now()); err != nil {
				h.opts.Logger.Error("lockout refund", "error", err)
			}
		})
		return
	}
	h.failed(ctx, ex, "unconfirmed")
}

// loginOutcome reads Kratos' answer to a password sign-in. It succeeded
// when Kratos set the session cookie or (API flows) answered 200 with a
// session; it failed on the credentials when Kratos says so in the JSON
// flow or, for a browser's form post, in the flow it sends the browser
// back to. Anything else is unknown.
func (h *Handler) loginOutcome(ctx context.Context, res *http.Response) (loginResult, string) {
	ok := sessionCookie(res) != ""
	isJSON := bytes.HasPrefix([]byte(res.Header.Get("Content-Type")), []byte("application/json"))
	if isJSON {
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if ok {
			return loginSucceeded, ""
		}
		if err != nil {
			return loginUnknown, ""
		}
		var out struct {
			Session *struct {
				Identity struct {
					ID string `json:"id"`
				} `json:"identity"`
			} `json:"session"`
			UI struct {
				Messages []kratos.Text `json:"messages"`
			} `json:"ui"`
		}
		_ = json.Unmarshal(body, &out)
		if res.StatusCode == http.StatusOK && out.Session != nil {
			return loginSucceeded, out.Session.Identity.ID
		}
		for _, m := range out.UI.Messages {
			if m.ID == kratosInvalidCredentials {
				return loginInvalid, ""
			}
		}
		return loginUnknown, ""
	}
	if ok {
		return loginSucceeded, ""
	}
	// A browser form post: Kratos stored the error in the flow and sent the
	// browser back to the login page.
	if res.StatusCode != http.StatusSeeOther {
		return loginUnknown, ""
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("flow") == "" {
		return loginUnknown, ""
	}
	f, err := h.opts.Kratos.Flow(ctx, kratos.Login, loc.Query().Get("flow"), res.Request.Header.Get("Cookie"), "")
	if err != nil || !f.HasMessage(kratosInvalidCredentials) {
		return loginUnknown, ""
	}
	return loginInvalid, ""
}

// mailRequest is a verification or recovery code asked for through the
// edge, counted against the mail limits.
type mailRequest struct {
	address string
	ip      string
	once    sync.Once
}

// guardMail counts a request for a verification or recovery code against
// the mail limits before Kratos sends it, or refuses it (429).
func (h *Handler) guardMail(w http.ResponseWriter, r *http.Request, ex *exchange) bool {
	sub := ex.sub
	raw, _ := sub.values["email"].(string)
	if h.opts.MailQuota == nil || sub.method != "code" || raw == "" || sub.values["code"] != nil {
		return true
	}
	addr := identity.NormalizeIdentifier(raw)
	if !identity.PlausibleIdentifier(addr) {
		h.showError(w, r, http.StatusBadRequest, "bad_email", "The email address is not valid.")
		return false
	}
	now := h.now()
	ok, retryAt, err := h.opts.MailQuota.Take(r.Context(), addr, ex.client.IP, now)
	if err != nil {
		h.opts.Logger.Error("mail limit check", "error", err)
		w.Header().Set("Retry-After", "30")
		h.showError(w, r, http.StatusServiceUnavailable, "unavailable", "Sending codes is unavailable right now. Please try again in a minute.")
		return false
	}
	if ok {
		ex.mail = &mailRequest{address: addr, ip: ex.client.IP}
		return true
	}
	h.metrics.mailRefused.WithLabelValues(string(ex.kind)).Inc()
	msg := kratos.Text{ID: MsgMailThrottle, Type: "error",
		Text: fmt.Sprintf("Too many emails were requested. Try again in %s.", minutesLeft(retryAt, now))}
	h.refuseInFlow(w, r, ex.kind, r.URL.Query().Get("flow"), retryAt, now, "too_many_emails", msg, "email", raw)
	return false
}

// returnMail gives back a code request Kratos did not act on.
func (h *Handler) returnMail(ctx context.Context, ex *exchange) {
	m := ex.mail
	m.once.Do(func() {
		if err := h.opts.MailQuota.Return(ctx, m.address, m.ip); err != nil {
			h.opts.Logger.Warn("mail limit refund", "error", err)
		}
	})
}

// notifyLockout mails the owner of a locked account, if there is one, and
// within the mail limits.
func (h *Handler) notifyLockout(ctx context.Context, address string, until time.Time, c client) {
	if h.opts.Notifier == nil {
		return
	}
	if h.opts.Directory == nil {
		h.opts.Logger.Warn("lockout notice not sent: no directory to tell whether the account exists")
		return
	}
	id, err := h.identityOf(ctx, address)
	if err != nil {
		h.opts.Logger.Warn("lockout notice not sent: account lookup failed", "error", err)
		return
	}
	if id == "" {
		return // no account: nobody to tell, and no mail to a stranger
	}
	if h.opts.MailQuota != nil {
		ok, _, err := h.opts.MailQuota.Take(ctx, address, c.IP, h.now())
		if err != nil || !ok {
			h.metrics.mailRefused.WithLabelValues("lockout").Inc()
			h.opts.Logger.Info("lockout notice not sent: mail limit", "error", err)
			return
		}
	}
	h.opts.Notifier.LockedOut(ctx, address, until)
}

// recordLinked records e after linking it to the account its address
// names, when there is one (a user's own failures and lockouts then show
// under their identity id). The lookup does not hold up the answer.
func (h *Handler) recordLinked(ctx context.Context, e identity.Event, c client) {
	if e.IdentityID != "" || e.Email == "" || h.opts.Directory == nil {
		h.record(ctx, e, c)
		return
	}
	ctx = context.WithoutCancel(ctx)
	h.background(func() {
		if id, err := h.identityOf(ctx, e.Email); err == nil {
			e.IdentityID = id
		}
		h.record(ctx, e, c)
	})
}

// background runs f without holding up the answer; Wait waits for it.
func (h *Handler) background(f func()) {
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		f()
	}()
}

// Wait waits for the work the edge does after answering (events linked to
// accounts, lockout notices): call it after the server stopped and before
// the event log closes.
func (h *Handler) Wait() { h.bg.Wait() }

// directoryTTL is how long an address's identity (or its absence) is
// remembered; directoryCap bounds the cache.
const (
	directoryTTL     = 5 * time.Minute
	directoryMissTTL = 30 * time.Second // "no such account" is re-checked sooner
	directoryCap     = 10000
)

type directoryEntry struct {
	id string
	at time.Time
}

// identityOf is the id of the identity whose password identifier is
// address, "" when there is none; answers are cached for directoryTTL.
func (h *Handler) identityOf(ctx context.Context, address string) (string, error) {
	now := time.Now()
	h.dirMu.Lock()
	if e, ok := h.dirCache[address]; ok && now.Sub(e.at) < directoryTTL && (e.id != "" || now.Sub(e.at) < directoryMissTTL) {
		h.dirMu.Unlock()
		return e.id, nil
	}
	h.dirMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	id, err := h.opts.Directory.IdentityByEmail(ctx, address)
	if errors.Is(err, kratos.ErrNotFound) {
		id, err = "", nil
	}
	if err != nil {
		return "", err
	}
	h.dirMu.Lock()
	if len(h.dirCache) >= directoryCap {
		for k, e := range h.dirCache {
			if now.Sub(e.at) >= directoryTTL || len(h.dirCache) >= directoryCap {
				delete(h.dirCache, k)
			}
		}
	}
	h.dirCache[address] = directoryEntry{id: id, at: now}
	h.dirMu.Unlock()
	return id, nil
}
