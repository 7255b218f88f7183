package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/learnplatform/platform/identity/internal/edge"
)

// "Keep me signed in": the hosted login form has a checkbox Kratos does not
// know. The edge takes it out of the submission and, when the sign-in
// succeeds, makes Kratos' session cookie end with the browser session unless
// it was ticked. Hydra's memory of the login never outlives the Kratos
// session: the consent app accepts Hydra's "skip" only while a Kratos
// session is alive.

// RememberField is the checkbox's name on the login form.
const RememberField = "remember"

// takeRemember takes the checkbox out of a login post and notes it.
func takeRemember(r *http.Request, ex *exchange) *http.Request {
	sub := ex.sub
	if _, present := sub.values[RememberField]; !present && sub.isJSON {
		return r // native apps keep their tokens themselves
	}
	v := sub.values[RememberField]
	remember := v == "true" || v == "on" || v == true
	ex.remember = &remember
	body := sub.without(RememberField)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return r
}

// applyRemember rewrites the session cookie of a successful browser sign-in.
func applyRemember(res *http.Response, ex *exchange) {
	if ex.remember == nil {
		return
	}
	remember := *ex.remember
	cookies := res.Cookies()
	var session *http.Cookie
	for _, c := range cookies {
		if c.Name == edge.SessionCookie && c.MaxAge >= 0 && c.Value != "" {
			session = c
		}
	}
	if session == nil || remember {
		return // failed, or Kratos' cookie is persistent already
	}
	res.Header.Del("Set-Cookie")
	for _, c := range cookies {
		if c == session {
			// No Expires, no Max-Age: the browser drops it when it closes.
			c.Expires, c.MaxAge, c.RawExpires = time.Time{}, 0, ""
		}
		res.Header.Add("Set-Cookie", c.String())
	}
}
