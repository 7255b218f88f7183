package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// "Keep me signed in": the hosted login form has a checkbox Kratos does not
// know. The edge takes it out of the submission and, when the sign-in
// succeeds, makes Kratos' session cookie end with the browser session unless
// it was ticked. Hydra's memory of the login never outlives the Kratos
// session: the consent app accepts Hydra's "skip" only while a Kratos
// session is alive.

// RememberField is the checkbox's name on the login form.
const RememberField = "remember"

// SessionCookie is Kratos' session cookie name (Kratos' default).
const SessionCookie = "ory_kratos_session"

type rememberKey struct{}

func takeRemember(r *http.Request, sub *submission) *http.Request {
	if _, present := sub.values[RememberField]; !present && sub.isJSON {
		return r // native apps keep their tokens themselves
	}
	v := sub.values[RememberField]
	remember := v == "true" || v == "on" || v == true
	body := sub.without(RememberField)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r.WithContext(context.WithValue(r.Context(), rememberKey{}, remember))
}

// applyRemember rewrites the session cookie of a successful browser sign-in.
func applyRemember(res *http.Response) error {
	remember, asked := res.Request.Context().Value(rememberKey{}).(bool)
	if !asked {
		return nil
	}
	cookies := res.Cookies()
	var session *http.Cookie
	for _, c := range cookies {
		if c.Name == SessionCookie && c.MaxAge >= 0 && c.Value != "" {
			session = c
		}
	}
	if session == nil {
		return nil // the sign-in failed; nothing to keep or forget
	}
	if remember {
		return nil // Kratos' cookie is persistent already
	}
	res.Header.Del("Set-Cookie")
	for _, c := range cookies {
		if c == session {
			// No Expires, no Max-Age: the browser drops it when it closes.
			c.Expires, c.MaxAge, c.RawExpires = time.Time{}, 0, ""
		}
		res.Header.Add("Set-Cookie", c.String())
	}
	return nil
}
