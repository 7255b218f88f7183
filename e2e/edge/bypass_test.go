package edge

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// browserFlow is a login flow started the way a browser starts it, with
// the CSRF cookie Kratos set and the form's csrf_token.
type browserFlow struct {
	ID, Cookie, CSRF string
}

func raw(t *testing.T, method, path, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(e2etest.Need(t).URL("identity"), "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func newBrowserFlow(t *testing.T) browserFlow {
	t.Helper()
	status, h, _ := raw(t, "GET", "/self-service/login/browser", "", "Accept", "text/html")
	loc, err := url.Parse(h.Get("Location"))
	if status != http.StatusSeeOther || err != nil || loc.Query().Get("flow") == "" {
		t.Fatalf("browser flow: %d %q", status, h.Get("Location"))
	}
	var cookies []string
	for _, c := range (&http.Response{Header: h}).Cookies() {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	f := browserFlow{ID: loc.Query().Get("flow"), Cookie: strings.Join(cookies, "; ")}
	status, _, body := raw(t, "GET", "/self-service/login/flows?id="+f.ID, "", "Cookie", f.Cookie, "Accept", "application/json")
	var flow e2etest.Flow
	if status != 200 || json.Unmarshal([]byte(body), &flow) != nil {
		t.Fatalf("read flow: %d %s", status, body)
	}
	f.CSRF, _ = flow.NodeValue("csrf_token").(string)
	if f.CSRF == "" || f.Cookie == "" {
		t.Fatalf("no CSRF cookie or token: %+v", f)
	}
	return f
}

// postForm submits the login form of flow (the id) with csrf and the
// Cookie headers given.
func postForm(t *testing.T, flowID, csrf, email, password string, cookies ...string) int {
	form := url.Values{"method": {"password"}, "identifier": {email}, "password": {password}, "csrf_token": {csrf}}
	h := []string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"}
	for _, c := range cookies {
		h = append(h, "Cookie", c)
	}
	status, _, _ := raw(t, "POST", "/self-service/login?flow="+flowID, form.Encode(), h...)
	return status
}

func failuresOf(t *testing.T, email string) int {
	var n int
	err := db(t).QueryRow(context.Background(), "SELECT coalesce((SELECT failures FROM login_lockouts WHERE identifier = $1), 0)", email).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Issue 15: a second Cookie header made the edge re-read the flow with
// the wrong cookies and count nothing. Now it is refused before Kratos.
func TestDoubleCookieHeaderRefused(t *testing.T) {
	_, email := newAccount(t, "double-cookie")
	for i := 0; i < 8; i++ {
		f := newBrowserFlow(t)
		if status := postForm(t, f.ID, f.CSRF, email, wrongPassword, "x=1", f.Cookie); status != http.StatusBadRequest {
			t.Fatalf("try %d: %d", i, status)
		}
	}
	status, _, body := raw(t, "POST", "/self-service/login?flow="+newBrowserFlow(t).ID, `{"method":"password"}`,
		"Content-Type", "application/json", "Accept", "application/json", "Cookie", "a=1", "Cookie", "b=2")
	if status != http.StatusBadRequest || !strings.Contains(body, `"duplicate_cookie_header"`) {
		t.Fatalf("API shape: %d %s", status, body)
	}
	// The same cookies in one header work, and the right password signs in.
	f := newBrowserFlow(t)
	if status := postForm(t, f.ID, f.CSRF, email, e2etest.StrongPassword, "x=1; "+f.Cookie); status != http.StatusSeeOther {
		t.Fatalf("one header: %d", status)
	}
}

// Flow A posted with flow B's cookie and token: whatever Kratos did, the
// attempt was counted before it got there.
func TestCrossFlowCookieCounts(t *testing.T) {
	c, email := newAccount(t, "cross-flow")
	for i := 0; i < 5; i++ {
		a, b := newBrowserFlow(t), newBrowserFlow(t)
		postForm(t, a.ID, b.CSRF, email, wrongPassword, b.Cookie)
	}
	if n := failuresOf(t, email); n != 5 {
		t.Fatalf("%d failures counted, want 5", n)
	}
	if res := login(t, c, email, e2etest.StrongPassword); res.Status != http.StatusTooManyRequests {
		t.Fatalf("after five cross-flow guesses: %d %s", res.Status, res.Body)
	}
}

// 25 wrong guesses at once on one API flow, and on 25 browser flows: at
// most max_failures reach Kratos; the rest are answered 429 by the edge.
func TestParallelGuessesStopAtTheLimit(t *testing.T) {
	for _, kind := range []string{"api", "browser"} {
		t.Run(kind, func(t *testing.T) {
			c, email := newAccount(t, "parallel-"+kind)
			flow := c.NewAPIFlow("login")
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			for i := 0; i < 25; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var s int
					if kind == "api" {
						s = e2etest.NewClient(t).Do("POST", "/self-service/login?flow="+flow.ID, map[string]any{
							"method": "password", "identifier": email, "password": wrongPassword}).Status
					} else {
						f := newBrowserFlow(t)
						s = postForm(t, f.ID, f.CSRF, email, wrongPassword, f.Cookie)
					}
					mu.Lock()
					statuses[s]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			if statuses[http.StatusTooManyRequests] < 20 || failuresOf(t, email) != 5 {
				t.Fatalf("answers %v, %d counted", statuses, failuresOf(t, email))
			}
			if res := login(t, c, email, e2etest.StrongPassword); res.Status != http.StatusTooManyRequests {
				t.Fatalf("the right password after: %d", res.Status)
			}
		})
	}
}

// The admin API lists a locked-out user's failures and lockout under
// their identity id; email= filters by address; unknown parameters are
// refused.
func TestAuthEventsByIdentityIncludeFailures(t *testing.T) {
	c, email := newAccount(t, "events-linked")
	ids := e2etest.AdminIdentities(t, email)
	if len(ids) != 1 {
		t.Fatalf("identities for %s: %d", email, len(ids))
	}
	id, _ := ids[0]["id"].(string)
	for i := 0; i < 5; i++ {
		login(t, c, email, wrongPassword)
	}
	events := eventsFor(t, url.Values{"identity_id": {id}, "limit": {"100"}}, func(es []event) bool {
		return count(es, "login.failed", "invalid_credentials") == 5 && count(es, "lockout", "") == 1
	})
	if count(events, "login.failed", "invalid_credentials") != 5 || count(events, "lockout", "") != 1 || count(events, "registration", "") != 1 {
		t.Fatalf("identity_id lists: %+v", events)
	}
	for _, e := range events {
		if (e.Type == "login.failed" || e.Type == "lockout") && e.IdentityID != id {
			t.Fatalf("not linked to the identity: %+v", e)
		}
	}
	byAddr := eventsFor(t, url.Values{"email": {strings.ToUpper(email)}, "type": {"lockout"}}, func(es []event) bool { return len(es) == 1 })
	if len(byAddr) != 1 {
		t.Fatalf("email filter: %+v", byAddr)
	}
	for _, q := range []string{"email=" + url.QueryEscape(email) + "&mail=x", "identity=" + id} {
		if res := api(t, "GET", "/admin/auth-events?"+q, admin(t), nil); res.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, res.Status)
		}
	}
}

// Codes through the edge are limited per recipient (5 an hour by
// default): the sixth is answered 429 with Retry-After, in the error
// shape, and never reaches Kratos.
func TestMailLimitPerAddress(t *testing.T) {
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail("mail-limit")
	for i := 0; i < 5; i++ {
		f := c.NewAPIFlow("recovery")
		if res := c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "email": email}); res.Status != 200 {
			t.Fatalf("code %d: %d %s", i, res.Status, res.Body)
		}
	}
	f := c.NewAPIFlow("verification")
	res := c.Do("POST", "/self-service/verification?flow="+f.ID, map[string]any{"method": "code", "email": email})
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	res.JSON(t, &body)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || body.Error.Code != "too_many_emails" {
		t.Fatalf("sixth code: %d %q %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
}
