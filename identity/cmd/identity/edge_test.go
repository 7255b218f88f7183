package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/config"
	kitconfig "github.com/learnplatform/platform/kit/config"
	fakeory "github.com/learnplatform/platform/kit/orytest"
	"github.com/learnplatform/platform/kit/server"
)

// rig is the served edge (newEdge, as main wires it) on a real PostgreSQL
// database, in front of the fakes, with an SMTP sink for its mail.
type rig struct {
	t     *testing.T
	URL   string
	f     *fakes
	db    *pgxpool.Pool
	smtp  *smtpSink
	admin string // an admin's access token for the admin API
	edge  *running
}

const rigPolicy = `
lockout:
  max_failures: 5
  window: 15m
  duration: 30m
  ip_throttle: {max_failures: 12, window: 15m, block: 15m}
mail_limits: {per_address: 3, per_ip: 6, window: 1h}
`

// startRig serves the edge with extra lines appended to its config file
// and policy as the policy file ("" for rigPolicy).
func startRig(t *testing.T, extra, policy string) *rig {
	t.Helper()
	f := newFakes(t)
	dsn, db := platformDB(t)
	sink := newSMTPSink(t)
	if policy == "" {
		policy = rigPolicy
	}
	policyPath := filepath.Join(t.TempDir(), "policy.yml")
	if err := os.WriteFile(policyPath, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	yml := strings.Replace(string(raw), "policy_file: ", "policy_file: "+policyPath+"\n# was: ", 1) + extra
	if err := os.WriteFile(f.config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	env := map[string]string{"IDENTITY_DATABASE_URL": dsn, "IDENTITY_HOOK_SECRET": "4d7a0c93e18b52f6a0c3e9d1b7f42a86", "IDENTITY_SMTP_URL": "smtp://" + sink.addr + "/"}
	if err := kitconfig.LoadBytes(f.config, []byte(yml), &cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := cfg.LoadPolicy(f.config); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := server.New("identity", logger)
	wired, err := newEdge(ctx, cfg, db, srv, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wired.close)
	ts := httptest.NewServer(srv.Router)
	t.Cleanup(ts.Close)
	adminID := f.kratos.AddIdentity(fakeory.Identity{Email: "admin@example.org", Role: "admin"})
	admin := f.issuer.Sign(f.issuer.AccessToken(adminID, f.kratos.AddSession(adminID).ID, "admin", "identity-api"))
	return &rig{t: t, URL: ts.URL, f: f, db: db, smtp: sink, admin: admin, edge: wired}
}

type reply struct {
	Status int
	Header http.Header
	Body   string
}

// do sends one request, redirects not followed; headers are name, value
// pairs and may repeat a name.
func (r *rig) do(method, path, body string, headers ...string) reply {
	r.t.Helper()
	req, err := http.NewRequest(method, r.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(b)}
}

// apiLogin posts a password to an API login flow.
func (r *rig) apiLogin(flowID, email, password string, headers ...string) reply {
	body, _ := json.Marshal(map[string]string{"method": "password", "identifier": email, "password": password})
	return r.do("POST", "/self-service/login?flow="+flowID, string(body), append([]string{"Content-Type", "application/json", "Accept", "application/json"}, headers...)...)
}

// browserLogin posts the login form of flow f with the Cookie headers
// given (none: the flow's own).
func (r *rig) browserLogin(f fakeory.LoginFlow, csrf, email, password string, cookies ...string) reply {
	form := url.Values{"method": {"password"}, "identifier": {email}, "password": {password}, "csrf_token": {csrf}}
	h := []string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"}
	if len(cookies) == 0 {
		cookies = []string{f.Cookie}
	}
	for _, c := range cookies {
		h = append(h, "Cookie", c)
	}
	return r.do("POST", "/self-service/login?flow="+f.ID, form.Encode(), h...)
}

func (r *rig) failures(identifier string) int {
	r.t.Helper()
	var n int
	err := r.db.QueryRow(context.Background(), `SELECT coalesce((SELECT failures FROM login_lockouts WHERE identifier = $1), 0)`, identifier).Scan(&n)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *rig) account(email string) string {
	return r.f.kratos.AddIdentity(fakeory.Identity{Email: email, Password: "Right-Password-1!"})
}

// A second Cookie header is refused before anything reaches Kratos: the
// edge and Kratos would read different cookies (issue 15, 1).
func TestDoubleCookieHeaderRefused(t *testing.T) {
	r := startRig(t, "", "")
	r.account("ada@example.org")
	f := r.f.kratos.NewLoginFlow("browser")
	for i := 0; i < 8; i++ {
		res := r.browserLogin(f, f.CSRFToken, "ada@example.org", "wrong", "x=1", f.Cookie)
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "more than one Cookie header") {
			t.Fatalf("try %d: %d %s", i, res.Status, res.Body)
		}
	}
	api := r.do("POST", "/self-service/login?flow="+f.ID, `{"method":"password","identifier":"ada@example.org","password":"x"}`,
		"Content-Type", "application/json", "Cookie", "a=1", "Cookie", "b=2")
	var e struct {
		Error struct{ Code, Message string }
	}
	if api.Status != http.StatusBadRequest || json.Unmarshal([]byte(api.Body), &e) != nil || e.Error.Code != "duplicate_cookie_header" {
		t.Fatalf("API client: %d %s", api.Status, api.Body)
	}
	if n := r.f.kratos.PasswordChecks(); n != 0 {
		t.Fatalf("%d passwords reached Kratos", n)
	}
	// One header with the same cookies is fine.
	if res := r.browserLogin(f, f.CSRFToken, "ada@example.org", "Right-Password-1!", "x=1; "+f.Cookie); res.Status != http.StatusSeeOther {
		t.Fatalf("one Cookie header: %d %s", res.Status, res.Body)
	}
}

// Flow A posted with flow B's cookie: Kratos checks the password, the
// edge cannot re-read flow A and, failing closed, counts the attempt.
func TestCrossFlowCookieCounts(t *testing.T) {
	r := startRig(t, "", "")
	r.account("bob@example.org")
	a, b := r.f.kratos.NewLoginFlow("browser"), r.f.kratos.NewLoginFlow("browser")
	for i := 1; i <= 5; i++ {
		if res := r.browserLogin(a, b.CSRFToken, "bob@example.org", "wrong", b.Cookie); res.Status != http.StatusSeeOther {
			t.Fatalf("try %d: %d", i, res.Status)
		}
	}
	if n := r.failures("bob@example.org"); n != 5 {
		t.Fatalf("%d failures counted, want 5", n)
	}
	res := r.browserLogin(a, b.CSRFToken, "bob@example.org", "Right-Password-1!", b.Cookie)
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(res.Body, "Account temporarily locked") {
		t.Fatalf("locked account: %d %q", res.Status, res.Header.Get("Retry-After"))
	}
	if n := r.f.kratos.PasswordChecks(); n != 5 {
		t.Fatalf("%d passwords reached Kratos, want 5", n)
	}
}

// 25 wrong guesses at once on one API flow: at most max_failures reach
// Kratos, the rest are answered 429 by the edge.
func TestParallelGuessesAreReservedFirst(t *testing.T) {
	r := startRig(t, "", "")
	r.account("cy@example.org")
	r.f.kratos.SetLoginDelay(150 * time.Millisecond)
	f := r.f.kratos.NewLoginFlow("api")
	statuses := parallel(25, func(int) int { return r.apiLogin(f.ID, "cy@example.org", "wrong").Status })
	if statuses[http.StatusBadRequest] > 5 || statuses[http.StatusBadRequest]+statuses[http.StatusTooManyRequests] != 25 {
		t.Fatalf("answers %v", statuses)
	}
	if n := r.f.kratos.PasswordChecks(); n > 5 {
		t.Fatalf("%d guesses reached Kratos, the limit is 5", n)
	}
	// Browser flows alike.
	r.account("di@example.org")
	statuses = parallel(25, func(int) int {
		bf := r.f.kratos.NewLoginFlow("browser")
		return r.browserLogin(bf, bf.CSRFToken, "di@example.org", "wrong").Status
	})
	if statuses[http.StatusSeeOther] > 5 || statuses[http.StatusTooManyRequests] < 20 {
		t.Fatalf("browser answers %v", statuses)
	}
}

// The address throttle reserves too: guesses against many accounts from
// one address stop at ip_throttle.max_failures.
func TestParallelAddressThrottle(t *testing.T) {
	r := startRig(t, "", "")
	r.f.kratos.SetLoginDelay(100 * time.Millisecond)
	statuses := parallel(30, func(i int) int {
		f := r.f.kratos.NewLoginFlow("api")
		return r.apiLogin(f.ID, fmt.Sprintf("nobody%d@example.org", i), "wrong").Status
	})
	if n := r.f.kratos.PasswordChecks(); n > 12 || statuses[http.StatusTooManyRequests] < 18 {
		t.Fatalf("%d guesses reached Kratos (limit 12); answers %v", n, statuses)
	}
}

// A success gives the attempt back: the right password after four wrong
// ones resets the count, and the address's count too.
func TestSuccessSettlesTheReservation(t *testing.T) {
	r := startRig(t, "", "")
	r.account("eve@example.org")
	for round := 0; round < 2; round++ {
		for i := 0; i < 4; i++ {
			r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "eve@example.org", "wrong")
		}
		if res := r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "eve@example.org", "Right-Password-1!"); res.Status != http.StatusOK {
			t.Fatalf("round %d: %d %s", round, res.Status, res.Body)
		}
		if n := r.failures("eve@example.org"); n != 0 {
			t.Fatalf("round %d: %d failures left", round, n)
		}
	}
	var ip int
	if err := r.db.QueryRow(context.Background(), `SELECT failures FROM login_ip_throttle WHERE ip = '127.0.0.1'`).Scan(&ip); err != nil || ip != 8 {
		t.Fatalf("address count %d (want the 8 failures only): %v", ip, err)
	}
}

// A user's failures and lockout are listed under their identity id; email=
// filters by address; unknown parameters are refused.
func TestAuthEventsOfALockedOutUser(t *testing.T) {
	r := startRig(t, "", "")
	id := r.account("fay@example.org")
	for i := 0; i < 6; i++ {
		r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "Fay@Example.org", "wrong")
	}
	list := func(q string) (int, []identity.Event) {
		res := r.do("GET", "/admin/auth-events?"+q, "", "Authorization", "Bearer "+r.admin)
		var out struct{ Events []identity.Event }
		_ = json.Unmarshal([]byte(res.Body), &out)
		return res.Status, out.Events
	}
	count := func(es []identity.Event, typ string) int {
		n := 0
		for _, e := range es {
			if e.Type == typ {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, es := list("identity_id=" + id + "&limit=100")
		if count(es, "login.failed") == 6 && count(es, "lockout") == 1 {
			for _, e := range es {
				if e.IdentityID != id {
					t.Fatalf("event not linked to the identity: %+v", e)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity_id=%s lists %d failures and %d lockouts: %+v", id, count(es, "login.failed"), count(es, "lockout"), es)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, es := list("email=FAY@example.org&type=lockout"); len(es) != 1 {
		t.Fatalf("email filter: %+v", es)
	}
	if _, es := list("email=other@example.org"); len(es) != 0 {
		t.Fatalf("email filter matched another address: %+v", es)
	}
	for _, q := range []string{"mail=fay@example.org", "identity=" + id, "email=fay@example.org&email=x@example.org", "email=not-an-address"} {
		if status, _ := list(q); status != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, status)
		}
	}
}

// Lockout notices go to existing accounts only, singular minutes read
// right, and the notices count against the mail limits.
func TestLockoutMailOnlyToAccounts(t *testing.T) {
	r := startRig(t, "", `
lockout: {max_failures: 2, window: 15m, duration: 1m, ip_throttle: {max_failures: 100, window: 15m, block: 15m}}
mail_limits: {per_address: 5, per_ip: 20, window: 1h}
`)
	r.account("gil@example.org")
	for _, who := range []string{"gil@example.org", "ghost@example.org"} {
		for i := 0; i < 2; i++ {
			r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, who, "wrong")
		}
	}
	res := r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "gil@example.org", "Right-Password-1!")
	if res.Status != http.StatusTooManyRequests || !strings.Contains(res.Body, "Try again in 1 minute.") {
		t.Fatalf("locked: %d %s", res.Status, res.Body)
	}
	// Every notice is sent (the sink has it) once the edge's work after
	// answering is done.
	r.edge.wait()
	if len(r.smtp.to("gil@example.org")) != 1 {
		t.Fatalf("the owner got %d notices", len(r.smtp.to("gil@example.org")))
	}
	if n := len(r.smtp.to("ghost@example.org")); n != 0 {
		t.Fatalf("an address without an account got %d lockout mails", n)
	}
}

// Code requests through the edge are limited per recipient and per
// client address (429, Retry-After, the error shape); refused requests
// never reach Kratos.
func TestMailLimits(t *testing.T) {
	r := startRig(t, "", "")
	send := func(kind, email string, headers ...string) reply {
		return r.do("POST", "/self-service/"+kind+"?flow="+fakeory.NewID(), `{"method":"code","email":"`+email+`"}`,
			append([]string{"Content-Type", "application/json", "Accept", "application/json"}, headers...)...)
	}
	for i := 0; i < 3; i++ {
		kind := []string{"verification", "recovery"}[i%2]
		if res := send(kind, "hal@example.org"); res.Status != http.StatusOK {
			t.Fatalf("code %d: %d %s", i, res.Status, res.Body)
		}
	}
	res := send("recovery", "HAL@example.org")
	var e struct {
		Error struct{ Code, Message string }
	}
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || json.Unmarshal([]byte(res.Body), &e) != nil || e.Error.Code != "too_many_emails" {
		t.Fatalf("fourth code to one address: %d %q %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	// A request Kratos refuses (no address) costs nothing.
	if res := send("verification", "no-at-sign"); res.Status != http.StatusBadRequest {
		t.Fatalf("an address Kratos refuses: %d", res.Status)
	}
	// Per client: three more addresses, then refused.
	for i := 0; i < 3; i++ {
		if res := send("verification", fmt.Sprintf("ivy%d@example.org", i)); res.Status != http.StatusOK {
			t.Fatalf("address %d: %d", i, res.Status)
		}
	}
	if res := send("verification", "jo@example.org"); res.Status != http.StatusTooManyRequests {
		t.Fatalf("seventh code from one client: %d %s", res.Status, res.Body)
	}
	if n := len(r.f.kratos.CodesSent()); n != 6 {
		t.Fatalf("Kratos sent %d codes, want 6", n)
	}
	// A browser gets a page with the message.
	page := r.do("POST", "/self-service/recovery?flow="+fakeory.NewID(), "method=code&email=hal%40example.org",
		"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	if page.Status != http.StatusTooManyRequests || !strings.Contains(page.Body, "Too many emails were requested") {
		t.Fatalf("browser: %d %s", page.Status, page.Body)
	}
}

// X-Forwarded-For counts only from trusted proxies, and then its
// right-most untrusted address is the client.
func TestTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		name, extra, xff, want string
	}{
		{"no trusted proxies", "", "203.0.113.9", "127.0.0.1"},
		{"peer trusted", "trusted_proxies: [127.0.0.1/32, 10.0.0.0/8]\n", "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"},
		{"only trusted hops", "trusted_proxies: [127.0.0.1]\n", "", "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := startRig(t, c.extra, "")
			var h []string
			if c.xff != "" {
				h = []string{"X-Forwarded-For", c.xff}
			}
			r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "kim@example.org", "wrong", h...)
			var ip string
			if err := r.db.QueryRow(context.Background(), `SELECT ip FROM login_ip_throttle WHERE ip NOT LIKE 'mail-%'`).Scan(&ip); err != nil || ip != c.want {
				t.Fatalf("throttled address %q, want %q (%v)", ip, c.want, err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				var logged string
				err := r.db.QueryRow(context.Background(), `SELECT ip FROM auth_event_log WHERE event_type = 'login.failed'`).Scan(&logged)
				if err == nil {
					if logged != c.want {
						t.Fatalf("logged address %q, want %q", logged, c.want)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	// Behind a trusted proxy, one client's failures do not block another.
	r := startRig(t, "trusted_proxies: [127.0.0.0/8]\n", "")
	for i := 0; i < 12; i++ {
		r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, fmt.Sprintf("n%d@example.org", i), "wrong", "X-Forwarded-For", "203.0.113.66")
	}
	if res := r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "x@example.org", "wrong", "X-Forwarded-For", "203.0.113.66"); res.Status != http.StatusTooManyRequests {
		t.Fatalf("the failing client: %d", res.Status)
	}
	if res := r.apiLogin(r.f.kratos.NewLoginFlow("api").ID, "x@example.org", "wrong", "X-Forwarded-For", "198.51.100.7"); res.Status != http.StatusBadRequest {
		t.Fatalf("another client behind the same proxy: %d %s", res.Status, res.Body)
	}
}

func parallel(n int, f func(i int) int) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[int]int{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f(i)
			mu.Lock()
			out[s]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// smtpSink is a minimal SMTP server that keeps each message's recipients.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	rcpt []string
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpSink{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 sink")
	var to []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 sink")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = append(to, strings.ToLower(strings.Trim(strings.TrimSpace(line)[8:], "<> ")))
			say("250 ok")
		case cmd == "DATA":
			say("354 go on")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.TrimRight(l, "\r\n") == "." {
					break
				}
			}
			s.mu.Lock()
			s.rcpt = append(s.rcpt, to...)
			s.mu.Unlock()
			to = nil
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *smtpSink) to(addr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rcpt {
		if r == addr {
			out = append(out, r)
		}
	}
	return out
}
