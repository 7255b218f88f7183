// Package edge tests what the identity edge adds to Kratos, on the real
// stack: lockout (with a short lock so expiry is testable), the address
// throttle, roles, the auth event log and the admin API. It owns its stack:
// the address throttle blocks 127.0.0.1, which every test shares.
package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/stack"
)

// The test policy: the default counts, a 4-second lock, and an address
// throttle that TestAddressThrottle fills from an address of its own.
const (
	lockSeconds   = 4
	ipMaxFailures = 150
	testPolicy    = `
password_policy:
  profile: composition
lockout:
  max_failures: 5
  window: 15m
  duration: 4s
  ip_throttle:
    max_failures: 150
    window: 15m
    block: 3s
`
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edge-policy-")
	if err != nil {
		panic(err)
	}
	policy := filepath.Join(dir, "identity.yml")
	if err := os.WriteFile(policy, []byte(testPolicy), 0o644); err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	e2etest.MainWith(m, func(o *stack.Options) { o.IdentityPolicy = policy })
}

const wrongPassword = "Wrong-Password-99!"

// login posts one API-flow sign-in through the edge.
func login(t *testing.T, c *e2etest.Client, identifier, password string) *e2etest.Response {
	t.Helper()
	f := c.NewAPIFlow("login")
	return c.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{
		"method": "password", "identifier": identifier, "password": password,
	})
}

func newAccount(t *testing.T, prefix string) (*e2etest.Client, string) {
	t.Helper()
	c := e2etest.NewClient(t)
	email := e2etest.UniqueEmail(prefix)
	c.Register(email, e2etest.StrongPassword, "")
	return c, email
}

// api calls the edge's admin API with a bearer token.
func api(t *testing.T, method, path, bearer string, body any) *e2etest.Response {
	t.Helper()
	c := e2etest.NewClient(t)
	var hdr []string
	if _, raw := body.(string); raw {
		hdr = append(hdr, "Content-Type", "application/json")
	}
	if bearer != "" {
		hdr = append(hdr, "Authorization", "Bearer "+bearer)
	}
	return c.Do(method, path, body, hdr...)
}

var (
	adminOnce  sync.Once
	adminToken string
)

func admin(t *testing.T) string {
	adminOnce.Do(func() { adminToken = e2etest.NewLearner(t, "admin").AccessToken })
	return adminToken
}

func db(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), e2etest.Need(t).DSN("platform"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

type event struct {
	Type       string         `json:"event_type"`
	IdentityID string         `json:"identity_id"`
	Email      string         `json:"email"`
	IP         string         `json:"ip"`
	UserAgent  string         `json:"user_agent"`
	FlowID     string         `json:"flow_id"`
	Detail     map[string]any `json:"detail"`
}

// eventsFor lists the admin API's events, waiting until want(events)
// holds (the log is written asynchronously) or 10 seconds pass.
func eventsFor(t *testing.T, query url.Values, want func([]event) bool) []event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := api(t, "GET", "/admin/auth-events?"+query.Encode(), admin(t), nil)
		if res.Status != 200 {
			t.Fatalf("auth-events: %d %s", res.Status, res.Body)
		}
		var out struct {
			Events []event `json:"events"`
		}
		res.JSON(t, &out)
		if want(out.Events) || time.Now().After(deadline) {
			return out.Events
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func byEmail(events []event, email string) []event {
	var out []event
	for _, e := range events {
		if e.Email == email {
			out = append(out, e)
		}
	}
	return out
}

func count(events []event, typ, reason string) int {
	n := 0
	for _, e := range events {
		if e.Type == typ && (reason == "" || e.Detail["reason"] == reason) {
			n++
		}
	}
	return n
}

// The acceptance scenario: five wrong passwords, then the right one is
// refused with 429 and Retry-After; the log shows the five failures and the
// lockout; the owner gets a mail; existing sessions survive.
func TestLockoutAfterFiveFailures(t *testing.T) {
	c, email := newAccount(t, "lock")
	session, _ := c.Login(email, e2etest.StrongPassword)
	since := time.Now()
	for i := 1; i <= 5; i++ {
		if res := login(t, c, email, wrongPassword); res.Status != http.StatusBadRequest {
			t.Fatalf("wrong password %d: %d %s", i, res.Status, res.Body)
		}
	}
	res := login(t, c, email, e2etest.StrongPassword)
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.Status != http.StatusTooManyRequests || retry < 1 || retry > lockSeconds {
		t.Fatalf("sixth try: %d Retry-After %q %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	res.JSON(t, &body)
	if body.Error.Code != "account_locked" || !strings.Contains(body.Error.Message, "Account temporarily locked. Try again in 1 minute.") {
		t.Fatalf("lock answer: %+v", body)
	}
	events := eventsFor(t, url.Values{"limit": {"100"}}, func(es []event) bool {
		return count(byEmail(es, email), "login.failed", "invalid_credentials") >= 5 && count(byEmail(es, email), "lockout", "") >= 1
	})
	mine := byEmail(events, email)
	if n := count(mine, "login.failed", "invalid_credentials"); n != 5 {
		t.Fatalf("want 5 failures in the log, got %d", n)
	}
	if n := count(mine, "lockout", ""); n != 1 {
		t.Fatalf("want 1 lockout in the log, got %d", n)
	}
	for _, e := range mine {
		if e.IP == "" || e.UserAgent == "" {
			t.Fatalf("event without address or agent: %+v", e)
		}
	}
	waitMail(t, email, "temporarily locked", since)
	if res := c.Do("GET", "/sessions/whoami", nil, "X-Session-Token", session); res.Status != 200 {
		t.Fatalf("locking must not end existing sessions: %d", res.Status)
	}
	// Listed for admins.
	res = api(t, "GET", "/admin/lockouts", admin(t), nil)
	if res.Status != 200 || !strings.Contains(string(res.Body), email) {
		t.Fatalf("admin list: %d %s", res.Status, res.Body)
	}
}

func waitMail(t *testing.T, email, subject string, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e2etest.MailCount(t, email, subject) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %q mail to %s", subject, email)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestEmailVariantsShareOneCounter(t *testing.T) {
	c, email := newAccount(t, "variants")
	variants := []string{email, strings.ToUpper(email), "  " + email, email + " ", " " + strings.ToUpper(email[:1]) + email[1:] + "\t"}
	for _, v := range variants {
		if res := login(t, c, v, wrongPassword); res.Status != http.StatusBadRequest {
			t.Fatalf("variant %q: %d", v, res.Status)
		}
	}
	if res := login(t, c, email, e2etest.StrongPassword); res.Status != http.StatusTooManyRequests {
		t.Fatalf("five failures over variants must lock: %d", res.Status)
	}
}

// Twenty wrong passwords at once: every one is either counted or refused
// as locked, the count in the database matches the failures logged, and
// exactly one of them locks (one mail, one lockout event).
func TestConcurrentFailuresCountExactly(t *testing.T) {
	_, email := newAccount(t, "concurrent")
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = login(t, e2etest.NewClient(t), email, wrongPassword).Status
		}()
	}
	wg.Wait()
	refused, failed := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusBadRequest:
			failed++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("unexpected status %d", s)
		}
	}
	var dbFailures int
	if err := db(t).QueryRow(context.Background(), "SELECT failures FROM login_lockouts WHERE identifier = $1", email).Scan(&dbFailures); err != nil {
		t.Fatal(err)
	}
	if dbFailures != failed {
		t.Fatalf("%d wrong passwords reached Kratos but %d were counted", failed, dbFailures)
	}
	events := eventsFor(t, url.Values{"limit": {"200"}, "type": {"login.failed"}}, func(es []event) bool {
		return len(byEmail(es, email)) >= 20
	})
	mine := byEmail(events, email)
	if count(mine, "login.failed", "invalid_credentials") != failed || count(mine, "login.failed", "locked") != refused {
		t.Fatalf("log: %d invalid, %d locked; answers: %d failed, %d refused",
			count(mine, "login.failed", "invalid_credentials"), count(mine, "login.failed", "locked"), failed, refused)
	}
	locks := eventsFor(t, url.Values{"type": {"lockout"}, "limit": {"200"}}, func(es []event) bool { return len(byEmail(es, email)) > 0 })
	if n := len(byEmail(locks, email)); n != 1 {
		t.Fatalf("want exactly one lockout event, got %d", n)
	}
}

func TestSuccessResetsTheCount(t *testing.T) {
	c, email := newAccount(t, "reset")
	for round := 0; round < 2; round++ {
		for i := 0; i < 4; i++ {
			login(t, c, email, wrongPassword)
		}
		if res := login(t, c, email, e2etest.StrongPassword); res.Status != 200 {
			t.Fatalf("round %d: four failures must not lock: %d", round, res.Status)
		}
	}
}

func TestLockExpires(t *testing.T) {
	c, email := newAccount(t, "expiry")
	for i := 0; i < 5; i++ {
		login(t, c, email, wrongPassword)
	}
	res := login(t, c, email, e2etest.StrongPassword)
	if res.Status != http.StatusTooManyRequests {
		t.Fatalf("not locked: %d", res.Status)
	}
	signsInAfter(t, c, email, res)
}

// signsInAfter checks that a lock or block answered with res (a 429) lifts
// by itself: within its Retry-After, plus slack for a loaded machine, the
// right password signs in again. Attempts while refused are answered
// before Kratos and do not extend the lock.
func signsInAfter(t *testing.T, c *e2etest.Client, email string, res *e2etest.Response) {
	t.Helper()
	retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || retry < 1 {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	deadline := time.Now().Add(time.Duration(retry)*time.Second + 30*time.Second)
	for {
		res := login(t, c, email, e2etest.StrongPassword)
		if res.Status == http.StatusOK {
			return
		}
		if res.Status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("after Retry-After (%d s): %d %s", retry, res.Status, res.Body)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestAdminClearsLock(t *testing.T) {
	c, email := newAccount(t, "clear")
	for i := 0; i < 5; i++ {
		login(t, c, email, wrongPassword)
	}
	path := "/admin/lockouts/" + url.PathEscape(strings.ToUpper(email))
	student := e2etest.NewLearner(t, "").AccessToken
	if res := api(t, "DELETE", path, "", nil); res.Status != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("no token: %d", res.Status)
	}
	if res := api(t, "DELETE", path, student, nil); res.Status != http.StatusForbidden {
		t.Fatalf("student: %d", res.Status)
	}
	if res := api(t, "DELETE", path, admin(t), nil); res.Status != http.StatusNoContent {
		t.Fatalf("admin clear: %d %s", res.Status, res.Body)
	}
	if res := api(t, "DELETE", path, admin(t), nil); res.Status != http.StatusNotFound {
		t.Fatalf("clearing again: %d", res.Status)
	}
	if res := login(t, c, email, e2etest.StrongPassword); res.Status != 200 {
		t.Fatalf("after clearing: %d", res.Status)
	}
	unlocks := eventsFor(t, url.Values{"type": {"unlock"}}, func(es []event) bool { return len(byEmail(es, email)) > 0 })
	if u := byEmail(unlocks, email); len(u) != 1 || u[0].Detail["reason"] != "admin" {
		t.Fatalf("unlock events: %+v", u)
	}
}

func TestRecoveryClearsLock(t *testing.T) {
	c, email := newAccount(t, "recover-lock")
	for i := 0; i < 5; i++ {
		login(t, c, email, wrongPassword)
	}
	since := time.Now()
	f := c.NewAPIFlow("recovery")
	c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "email": email})
	code := e2etest.MailCode(t, email, "Recover access", since)
	if res := c.Do("POST", "/self-service/recovery?flow="+f.ID, map[string]any{"method": "code", "code": code}); res.Status != 200 {
		t.Fatalf("recovery: %d %s", res.Status, res.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res := login(t, c, email, e2etest.StrongPassword)
		if res.Status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a completed recovery did not clear the lock: %d", res.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRoles(t *testing.T) {
	learner := e2etest.NewLearner(t, "")
	path := "/admin/users/" + learner.ID + "/role"
	cases := []struct {
		name, bearer string
		body         any
		status       int
	}{
		{"no token", "", map[string]string{"role": "admin"}, 401},
		{"student", learner.AccessToken, map[string]string{"role": "admin"}, 403},
		{"unknown role", admin(t), map[string]string{"role": "root"}, 400},
		{"malformed", admin(t), `{"role":`, 400},
		{"extra field", admin(t), map[string]string{"role": "admin", "x": "y"}, 400},
	}
	for _, tc := range cases {
		if res := api(t, "PUT", path, tc.bearer, tc.body); res.Status != tc.status {
			t.Fatalf("%s: %d %s", tc.name, res.Status, res.Body)
		}
	}
	if res := api(t, "PUT", "/admin/users/not-a-uuid/role", admin(t), map[string]string{"role": "admin"}); res.Status != 400 {
		t.Fatalf("bad id: %d", res.Status)
	}
	if res := api(t, "PUT", "/admin/users/00000000-0000-0000-0000-000000000000/role", admin(t), map[string]string{"role": "admin"}); res.Status != 404 {
		t.Fatalf("unknown user: %d", res.Status)
	}
	if res := api(t, "PUT", path, admin(t), map[string]string{"role": "instructor"}); res.Status != 200 {
		t.Fatalf("set role: %d %s", res.Status, res.Body)
	}
	next := e2etest.Tokens(t, learner.Email, learner.Password).AccessToken
	if role := e2etest.JWTClaims(t, next)["role"]; role != "instructor" {
		t.Fatalf("the next token says %v", role)
	}
	changes := eventsFor(t, url.Values{"type": {"role.changed"}, "identity_id": {learner.ID}}, func(es []event) bool { return len(es) > 0 })
	if len(changes) != 1 || changes[0].Detail["from"] != "student" || changes[0].Detail["to"] != "instructor" {
		t.Fatalf("role change events: %+v", changes)
	}
}

func TestAuthEventsAPIBadInput(t *testing.T) {
	for _, q := range []string{"identity_id=nope", "type=made.up", "since=yesterday", "limit=0", "limit=501", "limit=x", "after=!!!", "after=bm9wZQ"} {
		res := api(t, "GET", "/admin/auth-events?"+q, admin(t), nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		res.JSON(t, &e)
		if res.Status != 400 || e.Error.Code != "bad_request" {
			t.Fatalf("%s: %d %s", q, res.Status, res.Body)
		}
	}
	// Keyset pagination walks every page once.
	first := api(t, "GET", "/admin/auth-events?limit=2", admin(t), nil)
	var p1 struct {
		Events []event `json:"events"`
		Next   string  `json:"next"`
	}
	first.JSON(t, &p1)
	if len(p1.Events) != 2 || p1.Next == "" {
		t.Fatalf("first page: %s", first.Body)
	}
	second := api(t, "GET", "/admin/auth-events?limit=2&after="+url.QueryEscape(p1.Next), admin(t), nil)
	var p2 struct {
		Events []event `json:"events"`
	}
	second.JSON(t, &p2)
	if len(p2.Events) == 0 || fmt.Sprint(p2.Events[0]) == fmt.Sprint(p1.Events[1]) {
		t.Fatalf("second page repeats the first: %s", second.Body)
	}
}

func TestHookNeedsTheSecret(t *testing.T) {
	c := e2etest.NewClient(t)
	for _, secret := range []string{"", "wrong-secret-value"} {
		res := c.Do("POST", "/hooks/kratos/registration", map[string]any{"identity_id": "x"}, "X-Hook-Secret", secret)
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("secret %q: %d", secret, res.Status)
		}
	}
}
