package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/kit/server"
)

// exchange is what the proxy learns about one request on its way to Kratos,
// for the checks on the way back (ModifyResponse).
type exchange struct {
	client   client
	kind     kratos.Kind
	sub      *submission
	remember *bool
	// login is set for password sign-ins, which count towards lockout.
	login *loginAttempt
	// logout is set for sign-outs.
	logout bool
	// session is who signs out, or who changes their password.
	session *kratos.Session
}

type exchangeKey struct{}

// client is the browser or app behind a request.
type client struct {
	IP        string
	UserAgent string
}

func clientOf(r *http.Request) client {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return client{IP: ip, UserAgent: ua}
}

type loginAttempt struct {
	identifier string // normalized
	flowID     string
}

// Message ids the edge adds to login flows (Kratos leaves 4000900+ free).
const (
	MsgLocked    int64 = 4000960
	MsgThrottled int64 = 4000961
)

// Kratos' "wrong identifier or password" message.
const kratosInvalidCredentials = 4000006

// guardLogin refuses password sign-ins for a locked identifier or a
// throttled address before Kratos sees them. It answers the request itself
// and returns false when the request must stop.
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
	ex.login = &loginAttempt{identifier: ident, flowID: r.URL.Query().Get("flow")}
	now := h.now()
	lockedUntil, ipBlockedUntil, err := h.opts.Lockouts.Blocked(r.Context(), ident, ex.client.IP, now)
	if err != nil {
		h.opts.Logger.Error("lockout check", "error", err)
		h.showError(w, r, http.StatusServiceUnavailable, "unavailable", "Sign-in is unavailable right now. Please try again in a minute.")
		return false
	}
	var until time.Time
	var msg kratos.Text
	var code, reason string
	switch {
	case !lockedUntil.IsZero():
		h.metrics.signIns.WithLabelValues("refused_locked").Inc()
		until, code, reason = lockedUntil, "account_locked", "locked"
		msg = kratos.Text{ID: MsgLocked, Type: "error",
			Text: fmt.Sprintf("Account temporarily locked. Try again in %d minutes.", minutesLeft(lockedUntil, now))}
	case !ipBlockedUntil.IsZero():
		h.metrics.signIns.WithLabelValues("refused_throttled").Inc()
		until, code, reason = ipBlockedUntil, "too_many_attempts", "address_throttled"
		msg = kratos.Text{ID: MsgThrottled, Type: "error",
			Text: fmt.Sprintf("Too many failed sign-ins from your network. Try again in %d minutes.", minutesLeft(ipBlockedUntil, now))}
	default:
		return true
	}
	h.record(r.Context(), identity.Event{Type: identity.EventLoginFailed, Email: ident, FlowID: ex.login.flowID,
		Detail: map[string]any{"reason": reason, "method": "password"}}, ex.client)
	retry := int(math.Ceil(until.Sub(now).Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"error": map[string]any{"code": code, "message": msg.Text, "id": msg.ID, "retry_after": retry},
		})
		return false
	}
	// The browser gets its login form back with the message.
	f, err := h.opts.Kratos.Flow(r.Context(), kratos.Login, ex.login.flowID, r.Header.Get("Cookie"), "")
	if err != nil {
		h.restart(w, r, kratos.Login, "", msg)
		return false
	}
	f.UI.Messages = append(f.UI.Messages, msg)
	if n := f.UI.Find("identifier"); n != nil {
		n.SetValue(raw)
	}
	h.showFlow(w, r, http.StatusTooManyRequests, f)
	return false
}

func minutesLeft(until, now time.Time) int {
	return int(math.Ceil(until.Sub(now).Minutes()))
}

// observe looks at Kratos' answer: it applies "keep me signed in", counts
// failed and successful password sign-ins, and records sign-outs and sent
// codes in the auth event log.
func (h *Handler) observe(res *http.Response) error {
	ex, _ := res.Request.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return nil
	}
	ctx := context.WithoutCancel(res.Request.Context())
	switch {
	case ex.login != nil:
		applyRemember(res, ex)
		h.afterLogin(ctx, res, ex)
	case ex.kind == kratos.Settings:
		h.afterSettings(ctx, res, ex)
	case ex.logout:
		if ex.session != nil && signedOut(res) {
			s := ex.session
			h.record(ctx, identity.Event{Type: identity.EventLogout, IdentityID: s.IdentityID,
				Email: identity.NormalizeIdentifier(s.Email), Detail: map[string]any{"session_id": s.ID}}, ex.client)
			_ = h.revokeEventually(ctx, identity.ReasonSignOut, func(ctx context.Context) error {
				return h.revoker.RevokeSession(ctx, s.ID, identity.ReasonSignOut)
			}, "user", s.IdentityID, "session", s.ID)
		}
	case ex.kind == kratos.Verification || ex.kind == kratos.Recovery:
		email, _ := ex.sub.values["email"].(string)
		if ex.sub.method == "code" && email != "" && ex.sub.values["code"] == nil && res.StatusCode < 400 {
			typ := identity.EventVerificationSent
			if ex.kind == kratos.Recovery {
				typ = identity.EventRecoveryRequested
			}
			h.record(ctx, identity.Event{Type: typ, Email: identity.NormalizeIdentifier(email),
				FlowID: res.Request.URL.Query().Get("flow"), Detail: map[string]any{"method": "code"}}, ex.client)
		}
	}
	return nil
}

// signedOut reports whether Kratos ended the session: a native app's
// sign-out answers 204, a browser's clears the session cookie (a failed one
// is sent to the error page with the cookie in place).
func signedOut(res *http.Response) bool {
	if res.StatusCode == http.StatusNoContent {
		return true
	}
	if res.StatusCode >= 400 {
		return false
	}
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie && (c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			return true
		}
	}
	return false
}

// afterSettings follows a settings post: once a new password is saved, the
// tokens of the identity's other sessions are voided (Kratos' own
// revoke_active_sessions hook ends those sessions), and a browser that had
// to change its password goes on to where its sign-in was headed.
func (h *Handler) afterSettings(ctx context.Context, res *http.Response, ex *exchange) {
	if ex.sub.method != "password" {
		return
	}
	saved, identityID := h.passwordSaved(ctx, res)
	if !saved {
		return
	}
	keep := ""
	if ex.session != nil {
		identityID, keep = ex.session.IdentityID, ex.session.ID
	}
	if identityID == "" {
		h.opts.Logger.Error("password changed by an unknown identity: no tokens revoked", "request_id", server.RequestID(ctx))
	} else {
		// Without the changer's session (not found before the post) every
		// token is voided, the changer's too: fail closed.
		_ = h.revokeEventually(ctx, identity.ReasonPasswordChanged, func(ctx context.Context) error {
			return h.revoker.RevokeSubject(ctx, identityID, keep, identity.ReasonPasswordChanged)
		}, "user", identityID, "kept_session", keep)
	}
	if res.StatusCode == http.StatusSeeOther {
		h.passwordChanged(res)
	}
}

// passwordSaved reads Kratos' answer to a password settings post: a native
// app's (or a browser's JSON request's) success is 200 with the flow in
// state success; a browser form post is sent back to the flow, which then
// carries message 1050001 ("Your changes have been saved!"). It also
// returns the flow's identity.
func (h *Handler) passwordSaved(ctx context.Context, res *http.Response) (bool, string) {
	var flow struct {
		State    string `json:"state"`
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || res.StatusCode != http.StatusOK || json.Unmarshal(body, &flow) != nil {
			return false, ""
		}
		return flow.State == "success", flow.Identity.ID
	}
	if res.StatusCode != http.StatusSeeOther {
		return false, ""
	}
	id := res.Request.URL.Query().Get("flow")
	if loc, err := url.Parse(res.Header.Get("Location")); id == "" && err == nil {
		id = loc.Query().Get("flow")
	}
	f, err := h.opts.Kratos.Flow(ctx, kratos.Settings, id, res.Request.Header.Get("Cookie"), "")
	if err != nil {
		h.opts.Logger.Warn("settings flow unreadable after a password post; if the password was changed, tokens were not revoked",
			"flow", id, "error", err, "request_id", server.RequestID(ctx))
		return false, ""
	}
	return f.HasMessage(msgSettingsSaved), f.IdentityID()
}

// msgSettingsSaved is Kratos' "Your changes have been saved!".
const msgSettingsSaved = 1050001

// afterLogin decides whether a password sign-in succeeded or failed on
// its credentials, and counts it.
func (h *Handler) afterLogin(ctx context.Context, res *http.Response, ex *exchange) {
	a := ex.login
	ok, failed, identityID := h.loginOutcome(ctx, res, ex)
	switch {
	case ok:
		h.metrics.signIns.WithLabelValues("succeeded").Inc()
		if err := h.opts.Lockouts.Succeeded(ctx, a.identifier); err != nil {
			h.opts.Logger.Error("lockout reset", "error", err)
		}
		h.stalePassword(ctx, res, ex)
		cookie := sessionCookie(res)
		go func() { // who signed in, without holding up the answer
			id := identityID
			if id == "" && cookie != "" {
				if s, err := h.opts.Kratos.Whoami(ctx, SessionCookie+"="+cookie, ""); err == nil {
					id = s.IdentityID
				}
			}
			h.record(ctx, identity.Event{Type: identity.EventLoginSucceeded, IdentityID: id, Email: a.identifier,
				FlowID: a.flowID, Detail: map[string]any{"method": "password"}}, ex.client)
		}()
	case failed:
		h.metrics.signIns.WithLabelValues("failed").Inc()
		now := h.now()
		f, err := h.opts.Lockouts.Failed(ctx, a.identifier, ex.client.IP, now)
		if err != nil {
			h.opts.Logger.Error("lockout count", "error", err)
			return
		}
		h.record(ctx, identity.Event{Type: identity.EventLoginFailed, Email: a.identifier, FlowID: a.flowID,
			Detail: map[string]any{"reason": "invalid_credentials", "method": "password", "failures": f.Failures}}, ex.client)
		if f.LockedNow {
			h.metrics.lockouts.Inc()
			h.record(ctx, identity.Event{Type: identity.EventLockout, Email: a.identifier, FlowID: a.flowID,
				Detail: map[string]any{"failures": f.Failures, "locked_until": f.LockedUntil}}, ex.client)
			if h.opts.Notifier != nil {
				go h.opts.Notifier.LockedOut(context.WithoutCancel(ctx), a.identifier, f.LockedUntil)
			}
		}
		if f.IPBlockedNow {
			h.metrics.throttle.Inc()
			h.record(ctx, identity.Event{Type: identity.EventIPThrottled, Email: a.identifier,
				Detail: map[string]any{"blocked_until": f.IPBlockedUntil}}, ex.client)
		}
	}
}

// loginOutcome reads Kratos' answer to a password sign-in. A browser post
// succeeded when Kratos set the session cookie, and failed on credentials
// when it sent the browser back to a flow that says so; an API post answers
// 200 with a session or 400 with the flow.
func (h *Handler) loginOutcome(ctx context.Context, res *http.Response, ex *exchange) (ok, failed bool, identityID string) {
	ok = sessionCookie(res) != ""
	isJSON := bytes.HasPrefix([]byte(res.Header.Get("Content-Type")), []byte("application/json"))
	if isJSON {
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return ok, false, ""
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
			return true, false, out.Session.Identity.ID
		}
		for _, m := range out.UI.Messages {
			if m.ID == kratosInvalidCredentials {
				return false, true, ""
			}
		}
		return ok, false, ""
	}
	if ok {
		return true, false, ""
	}
	// A browser form post: Kratos stored the error in the flow and sent the
	// browser back to the login page.
	if res.StatusCode != http.StatusSeeOther {
		return false, false, ""
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || loc.Query().Get("flow") == "" {
		return false, false, ""
	}
	f, err := h.opts.Kratos.Flow(ctx, kratos.Login, loc.Query().Get("flow"), res.Request.Header.Get("Cookie"), "")
	if err != nil {
		return false, false, ""
	}
	return false, f.HasMessage(kratosInvalidCredentials), ""
}

// sessionCookie is the value of the Kratos session cookie res sets, or "".
func sessionCookie(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == SessionCookie && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// record adds the client's address and agent and stores the event.
func (h *Handler) record(ctx context.Context, e identity.Event, c client) {
	if h.opts.Events == nil {
		return
	}
	e.IP, e.UserAgent = c.IP, c.UserAgent
	h.opts.Events.Record(ctx, e)
}

func (h *Handler) now() time.Time {
	if h.opts.Now != nil {
		return h.opts.Now()
	}
	return time.Now()
}
