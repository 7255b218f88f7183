package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/pages"
)

// A password that was set before the current policy (imported from the
// legacy system, or chosen under an older profile) still signs in: Kratos
// checks it against its hash only. The edge, which sees the password on its
// way in, checks it against the policy at every successful sign-in; when it
// falls short the user is sent to set a new one before continuing.
//
// Browsers: the sign-in's redirect goes to /settings instead, and the
// original destination waits in pages.ChangePasswordCookie; the settings
// page asks for a new password only, and once it is saved the browser
// continues to that destination. Native apps: the answer gains
// "password_change_required" and a continue_with item pointing at a
// settings flow for the new session.

// stalePassword redirects a browser's successful sign-in, or annotates a
// native app's, when the submitted password falls short of the policy.
func (p *Proxy) stalePassword(ctx context.Context, res *http.Response, ex *exchange) {
	if ex.sub.password == nil || len(p.opts.Password.Check(*ex.sub.password)) == 0 {
		return
	}
	if edge.NewSession(res) != "" {
		next := res.Header.Get("Location")
		if next == "" {
			next = p.opts.Pages.URL("/welcome")
		}
		res.Header.Add("Set-Cookie", (&http.Cookie{Name: pages.ChangePasswordCookie, Value: url.QueryEscape(next), Path: "/",
			HttpOnly: true, Secure: p.opts.PublicURL.Scheme == "https", SameSite: http.SameSiteLaxMode}).String())
		res.Header.Set("Location", "/settings")
		res.StatusCode = http.StatusSeeOther
		return
	}
	// A native app: add where to go next to Kratos' JSON answer.
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || res.StatusCode != http.StatusOK {
		return
	}
	var out map[string]any
	if json.Unmarshal(body, &out) != nil {
		return
	}
	token, _ := out["session_token"].(string)
	if token == "" {
		return
	}
	item := map[string]any{"action": "show_settings_ui"}
	if created, err := p.opts.Kratos.NewAPISettingsFlow(ctx, token); err == nil {
		item["flow"] = map[string]any{"id": created.ID, "url": p.opts.Pages.URL("/settings") + "?flow=" + created.ID}
	}
	cw, _ := out["continue_with"].([]any)
	out["continue_with"] = append(cw, item)
	out["password_change_required"] = true
	b, err := json.Marshal(out)
	if err != nil {
		return
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.Header.Set("Content-Length", strconv.Itoa(len(b)))
}

// passwordChanged sends a browser that had to change its password on to
// where its sign-in was headed, once the new password is saved (a 303 of a
// settings post whose flow says so: afterSettings).
func (p *Proxy) passwordChanged(res *http.Response) {
	c, err := res.Request.Cookie(pages.ChangePasswordCookie)
	if err != nil {
		return
	}
	next, err := url.QueryUnescape(c.Value)
	if _, ok := p.opts.Pages.ReturnTo(next); err != nil || !ok {
		next = "/welcome"
	}
	res.Header.Add("Set-Cookie", (&http.Cookie{Name: pages.ChangePasswordCookie, Path: "/", MaxAge: -1}).String())
	res.Header.Set("Location", next)
}
