package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/kratos"
)

// Kratos' "wrong identifier or password" message.
const kratosInvalidCredentials = 4000006

// Attempt is a password sign-in counted before Kratos sees it, to be
// settled with Kratos' answer.
type Attempt struct {
	g          *Guard
	identifier string // normalized
	flowID     string
	client     edge.Client
	res        identity.Reservation
	settled    sync.Once
}

// Login counts a password sign-in for identifier (as the client typed it)
// before Kratos sees it, or refuses it (the identifier locked, the address
// throttled). It returns the attempt to settle (nil when there is nothing
// to count) and whether the request may go on; when not, the answer is
// written. A store it cannot reach stops the sign-in too (fail closed).
func (g *Guard) Login(w http.ResponseWriter, r *http.Request, c edge.Client, identifier string) (*Attempt, bool) {
	if g.opts.Lockouts == nil {
		return nil, true
	}
	ident := identity.NormalizeIdentifier(identifier)
	if ident == "" {
		return nil, true // Kratos answers a missing identifier itself
	}
	if !identity.PlausibleIdentifier(ident) {
		g.opts.Pages.ShowError(w, r, http.StatusBadRequest, "bad_identifier", "The email address is not valid.")
		return nil, false
	}
	flowID := r.URL.Query().Get("flow")
	now := g.now()
	res, err := g.opts.Lockouts.Reserve(r.Context(), ident, c.IP, now)
	if err != nil {
		g.opts.Logger.Error("lockout check", "error", err)
		g.unavailable(w, r, "Sign-in is unavailable right now. Please try again in a minute.")
		return nil, false
	}
	if !res.Refused() {
		return &Attempt{g: g, identifier: ident, flowID: flowID, client: c, res: res}, true
	}
	var until time.Time
	var msg kratos.Text
	var code, reason string
	switch {
	case !res.LockedUntil.IsZero():
		g.metrics.signIns.WithLabelValues("refused_locked").Inc()
		until, code, reason = res.LockedUntil, "account_locked", "locked"
		msg = kratos.Text{ID: MsgLocked, Type: "error",
			Text: fmt.Sprintf("Account temporarily locked. Try again in %s.", minutesLeft(until, now))}
	default:
		g.metrics.signIns.WithLabelValues("refused_throttled").Inc()
		until, code, reason = res.IPBlockedUntil, "too_many_attempts", "address_throttled"
		msg = kratos.Text{ID: MsgThrottled, Type: "error",
			Text: fmt.Sprintf("Too many failed sign-ins from your network. Try again in %s.", minutesLeft(until, now))}
	}
	g.recordLinked(r.Context(), identity.Event{Type: identity.EventLoginFailed, Email: ident, FlowID: flowID,
		Detail: map[string]any{"reason": reason, "method": "password"}}, c)
	g.refuseInFlow(w, r, kratos.Login, flowID, until, now, code, msg, "identifier", identifier)
	return nil, false
}

// loginResult is what Kratos' answer to a password sign-in says.
type loginResult int

const (
	loginUnknown loginResult = iota // could not tell: counts as a failure
	loginSucceeded
	loginInvalid // Kratos said: wrong identifier or password
)

// Settle settles the attempt with Kratos' answer res and reports whether
// the sign-in succeeded: a session resets the count; wrong credentials,
// and any answer the edge cannot read, keep it.
func (a *Attempt) Settle(ctx context.Context, res *http.Response) bool {
	g := a.g
	result, identityID := g.loginOutcome(ctx, res)
	if result != loginSucceeded {
		reason := "invalid_credentials"
		if result == loginUnknown {
			reason = "unconfirmed" // not a session, not Kratos' "invalid credentials": counted all the same
		}
		a.failed(ctx, reason)
		return false
	}
	a.settled.Do(func() {
		g.metrics.signIns.WithLabelValues("succeeded").Inc()
		if _, err := g.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeSucceeded, g.now()); err != nil {
			g.opts.Logger.Error("lockout reset", "error", err)
		}
	})
	cookie := edge.NewSession(res)
	g.background(func() { // who signed in, without holding up the answer
		id := identityID
		if id == "" && cookie != "" {
			if s, err := g.opts.Kratos.Whoami(ctx, edge.SessionCookie+"="+cookie, ""); err == nil {
				id = s.IdentityID
			}
		}
		edge.Record(ctx, g.opts.Events, identity.Event{Type: identity.EventLoginSucceeded, IdentityID: id, Email: a.identifier,
			FlowID: a.flowID, Detail: map[string]any{"method": "password"}}, a.client)
	})
	return true
}

// Unanswered settles a sign-in whose request got no answer from Kratos:
// given back when it never got there (connection refused), counted when
// it may have (the client went away, Kratos broke off).
func (a *Attempt) Unanswered(ctx context.Context, err error) {
	if !neverSent(err) {
		a.failed(ctx, "unconfirmed")
		return
	}
	a.settled.Do(func() {
		if _, err := a.g.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeNotSent, a.g.now()); err != nil {
			a.g.opts.Logger.Error("lockout refund", "error", err)
		}
	})
}

// neverSent reports whether a request to Kratos failed before Kratos got
// it.
func neverSent(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// failed settles the attempt as a failure and logs it, the lock and the
// block it led to.
func (a *Attempt) failed(ctx context.Context, reason string) {
	g := a.g
	a.settled.Do(func() {
		g.metrics.signIns.WithLabelValues("failed").Inc()
		f, err := g.opts.Lockouts.Settle(ctx, a.res, identity.OutcomeFailed, g.now())
		if err != nil {
			g.opts.Logger.Error("lockout count", "error", err)
		}
		g.recordLinked(ctx, identity.Event{Type: identity.EventLoginFailed, Email: a.identifier, FlowID: a.flowID,
			Detail: map[string]any{"reason": reason, "method": "password", "failures": a.res.Failures}}, a.client)
		if f.LockedNow {
			g.metrics.lockouts.Inc()
			g.recordLinked(ctx, identity.Event{Type: identity.EventLockout, Email: a.identifier, FlowID: a.flowID,
				Detail: map[string]any{"failures": a.res.Failures, "locked_until": f.LockedUntil}}, a.client)
			g.background(func() { g.notifyLockout(context.WithoutCancel(ctx), a.identifier, f.LockedUntil, a.client) })
		}
		if f.IPBlockedNow {
			g.metrics.throttle.Inc()
			edge.Record(ctx, g.opts.Events, identity.Event{Type: identity.EventIPThrottled, Email: a.identifier,
				Detail: map[string]any{"blocked_until": f.IPBlockedUntil}}, a.client)
		}
	})
}

// loginOutcome reads Kratos' answer to a password sign-in. It succeeded
// when Kratos set the session cookie or (API flows) answered 200 with a
// session; it failed on the credentials when Kratos says so in the JSON
// flow or, for a browser's form post, in the flow it sends the browser
// back to. Anything else is unknown.
func (g *Guard) loginOutcome(ctx context.Context, res *http.Response) (loginResult, string) {
	ok := edge.NewSession(res) != ""
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
	f, err := g.opts.Kratos.Flow(ctx, kratos.Login, loc.Query().Get("flow"), res.Request.Header.Get("Cookie"), "")
	if err != nil || !f.HasMessage(kratosInvalidCredentials) {
		return loginUnknown, ""
	}
	return loginInvalid, ""
}

// notifyLockout mails the owner of a locked account, if there is one, and
// within the mail limits.
func (g *Guard) notifyLockout(ctx context.Context, address string, until time.Time, c edge.Client) {
	if g.opts.Notifier == nil {
		return
	}
	if g.opts.Directory == nil {
		g.opts.Logger.Warn("lockout notice not sent: no directory to tell whether the account exists")
		return
	}
	id, err := g.identityOf(ctx, address)
	if err != nil {
		g.opts.Logger.Warn("lockout notice not sent: account lookup failed", "error", err)
		return
	}
	if id == "" {
		return // no account: nobody to tell, and no mail to a stranger
	}
	if g.opts.MailQuota != nil {
		ok, _, err := g.opts.MailQuota.Take(ctx, address, c.IP, g.now())
		if err != nil || !ok {
			g.metrics.mailRefused.WithLabelValues("lockout").Inc()
			g.opts.Logger.Info("lockout notice not sent: mail limit", "error", err)
			return
		}
	}
	g.opts.Notifier.LockedOut(ctx, address, until)
}
