package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
)

// observe looks at Kratos' answer: it applies "keep me signed in", settles
// password sign-ins and code requests, voids the tokens of sign-outs and
// password changes, and records sign-outs and sent codes in the auth event
// log.
func (p *Proxy) observe(res *http.Response) error {
	ex, _ := res.Request.Context().Value(exchangeKey{}).(*exchange)
	if ex == nil {
		return nil
	}
	ctx := context.WithoutCancel(res.Request.Context())
	switch {
	case ex.login != nil:
		applyRemember(res, ex)
		if ex.login.Settle(ctx, res) {
			p.stalePassword(ctx, res, ex)
		}
	case ex.kind == kratos.Settings:
		p.afterSettings(ctx, res, ex)
	case ex.logout:
		if ex.session != nil && signedOut(res) {
			s := ex.session
			edge.Record(ctx, p.opts.Events, identity.Event{Type: identity.EventLogout, IdentityID: s.IdentityID,
				Email: identity.NormalizeIdentifier(s.Email), Detail: map[string]any{"session_id": s.ID}}, ex.client)
			_ = p.opts.Revocations.Eventually(ctx, identity.ReasonSignOut, func(ctx context.Context) error {
				return p.opts.Revocations.RevokeSession(ctx, s.ID, identity.ReasonSignOut)
			}, "user", s.IdentityID, "session", s.ID)
		}
	case ex.kind == kratos.Verification || ex.kind == kratos.Recovery:
		if ex.mail != nil && res.StatusCode >= 400 {
			ex.mail.Return(ctx) // Kratos refused the request: no mail
		}
		email, _ := ex.sub.values["email"].(string)
		if ex.sub.method == "code" && email != "" && ex.sub.values["code"] == nil && res.StatusCode < 400 {
			typ := identity.EventVerificationSent
			if ex.kind == kratos.Recovery {
				typ = identity.EventRecoveryRequested
			}
			edge.Record(ctx, p.opts.Events, identity.Event{Type: typ, Email: identity.NormalizeIdentifier(email),
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
		if c.Name == edge.SessionCookie && (c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			return true
		}
	}
	return false
}

// afterSettings follows a settings post: once a new password is saved, the
// tokens of the identity's other sessions are voided (Kratos' own
// revoke_active_sessions hook ends those sessions), and a browser that had
// to change its password goes on to where its sign-in was headed.
func (p *Proxy) afterSettings(ctx context.Context, res *http.Response, ex *exchange) {
	if ex.sub.method != "password" {
		return
	}
	saved, identityID := p.passwordSaved(ctx, res)
	if !saved {
		return
	}
	keep := ""
	if ex.session != nil {
		identityID, keep = ex.session.IdentityID, ex.session.ID
	}
	if identityID == "" {
		p.opts.Logger.Error("password changed by an unknown identity: no tokens revoked", "request_id", server.RequestID(ctx))
	} else {
		// Without the changer's session (not found before the post) every
		// token is voided, the changer's too: fail closed.
		_ = p.opts.Revocations.Eventually(ctx, identity.ReasonPasswordChanged, func(ctx context.Context) error {
			return p.opts.Revocations.RevokeSubject(ctx, identityID, keep, identity.ReasonPasswordChanged)
		}, "user", identityID, "kept_session", keep)
	}
	if res.StatusCode == http.StatusSeeOther {
		p.passwordChanged(res)
	}
}

// passwordSaved reads Kratos' answer to a password settings post: a native
// app's (or a browser's JSON request's) success is 200 with the flow in
// state success; a browser form post is sent back to the flow, which then
// carries message 1050001 ("Your changes have been saved!"). It also
// returns the flow's identity.
func (p *Proxy) passwordSaved(ctx context.Context, res *http.Response) (bool, string) {
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
	f, err := p.opts.Kratos.Flow(ctx, kratos.Settings, id, res.Request.Header.Get("Cookie"), "")
	if err != nil {
		p.opts.Logger.Warn("settings flow unreadable after a password post; if the password was changed, tokens were not revoked",
			"flow", id, "error", err, "request_id", server.RequestID(ctx))
		return false, ""
	}
	return f.HasMessage(msgSettingsSaved), f.IdentityID()
}

// msgSettingsSaved is Kratos' "Your changes have been saved!".
const msgSettingsSaved = 1050001
