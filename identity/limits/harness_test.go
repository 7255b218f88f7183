package limits

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/internal/edgetest"
	"github.com/learnplatform/platform/identity/pages"
	"github.com/learnplatform/platform/kit/kratos"
	fakeory "github.com/learnplatform/platform/kit/orytest"
)

// rig is a Guard on in-memory lockouts and mail quotas with their
// PostgreSQL stores' rules, a fake clock, and fake Kratos behind it: what
// the guard lets through is posted to the fake and settled with its
// answer, as the proxy does.
type rig struct {
	t        *testing.T
	g        *Guard
	kratos   *fakeory.Kratos
	lockouts *edgetest.Lockouts
	mail     *edgetest.MailQuota
	notices  *edgetest.Notifier
	events   *edgetest.Events
	reg      *prometheus.Registry
	logs     *edgetest.Logs

	mu  sync.Mutex
	now time.Time
}

// testPolicy locks an identifier after 3 failures for 30 minutes and
// blocks an address after 5 failures for 15 minutes.
var testPolicy = identity.LockoutPolicy{MaxFailures: 3, Window: 15 * time.Minute, Duration: 30 * time.Minute,
	IPThrottle: identity.IPThrottle{MaxFailures: 5, Window: 15 * time.Minute, Block: 15 * time.Minute}}

var testMailLimits = identity.MailLimits{PerAddress: 2, PerIP: 3, Window: time.Hour}

const rightPassword = "Right-Password-1!"

func newRig(t *testing.T) *rig {
	t.Helper()
	e := &rig{t: t, kratos: fakeory.NewKratos(t), lockouts: edgetest.NewLockouts(testPolicy),
		mail: edgetest.NewMailQuota(testMailLimits), notices: edgetest.NewNotifier(), events: &edgetest.Events{},
		reg: prometheus.NewRegistry(), logs: &edgetest.Logs{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	kc := edgetest.KratosClient(e.kratos.Public.URL, e.kratos.Admin.URL)
	public, _ := url.Parse("http://127.0.0.1:4455/")
	revoked := &edgetest.Revocations{}
	ui, err := pages.New(pages.Options{Kratos: kc, PublicURL: public, Password: identity.DefaultPolicy().PasswordPolicy.Active(),
		Revoker: revoked, Accounts: &identity.Accounts{Identities: kc, Revoker: revoked}, Logger: e.logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	e.g = New(Options{Kratos: kc, Pages: ui, Lockouts: e.lockouts, MailQuota: e.mail, Directory: kc, Notifier: e.notices,
		Events: e.events, Logger: e.logs.Logger(), Now: e.clock, Registerer: e.reg})
	t.Cleanup(e.g.Wait)
	return e
}

func (e *rig) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *rig) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func (e *rig) account(email string) string {
	return e.kratos.AddIdentity(fakeory.Identity{Email: email, Password: rightPassword})
}

// outcome is what became of one sign-in: refused by the guard (Refused,
// the guard's answer), or sent to Kratos and settled (Succeeded).
type outcome struct {
	Refused   *httptest.ResponseRecorder
	Succeeded bool
}

// signIn posts a password to a new login flow (browser: a form post with
// the flow's cookie; else JSON) from ip, through the guard.
func (e *rig) signIn(browser bool, ip, identifier, password string) outcome {
	e.t.Helper()
	typ := "api"
	if browser {
		typ = "browser"
	}
	f := e.kratos.NewLoginFlow(typ)
	var body []byte
	header := http.Header{}
	if browser {
		body = []byte(url.Values{"method": {"password"}, "identifier": {identifier}, "password": {password},
			"csrf_token": {f.CSRFToken}}.Encode())
		header.Set("Content-Type", "application/x-www-form-urlencoded")
		header.Set("Accept", "text/html")
		header.Set("Cookie", f.Cookie)
	} else {
		body, _ = json.Marshal(map[string]string{"method": "password", "identifier": identifier, "password": password})
		header.Set("Content-Type", "application/json")
		header.Set("Accept", "application/json")
	}
	in := httptest.NewRequest("POST", "/self-service/login?flow="+f.ID, bytes.NewReader(body))
	in.Header = header.Clone()
	rec := httptest.NewRecorder()
	a, ok := e.g.Login(rec, in, edge.Client{IP: ip, UserAgent: "test"}, identifier)
	if !ok {
		return outcome{Refused: rec}
	}
	out, err := http.NewRequest("POST", e.kratos.Public.URL+"/self-service/login?flow="+f.ID, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	out.Header = header
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(out)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if a == nil {
		return outcome{Succeeded: res.StatusCode < 400}
	}
	return outcome{Succeeded: a.Settle(context.Background(), res)}
}

// codeRequest asks for a code of kind to address from ip through the
// guard; the answer is the guard's when it refused.
func (e *rig) codeRequest(kind kratos.Kind, ip, address string) (*MailRequest, *httptest.ResponseRecorder) {
	in := httptest.NewRequest("POST", "/self-service/"+string(kind)+"?flow="+fakeory.NewID(), nil)
	in.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	m, ok := e.g.Mail(rec, in, edge.Client{IP: ip}, kind, address)
	if !ok {
		return nil, rec
	}
	return m, nil
}

func (e *rig) counter(name string, labels ...string) float64 {
	return edgetest.Counter(e.t, e.reg, name, labels...)
}

// apiError reads the guard's 429 JSON.
func apiError(t *testing.T, rec *httptest.ResponseRecorder) (code string, id int64, retryAfter int) {
	t.Helper()
	var b struct {
		Error struct {
			Code       string `json:"code"`
			ID         int64  `json:"id"`
			RetryAfter int    `json:"retry_after"`
		} `json:"error"`
	}
	body, _ := io.ReadAll(rec.Result().Body)
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return b.Error.Code, b.Error.ID, b.Error.RetryAfter
}

// codeRequestAs asks for a recovery code with the Accept header given and
// returns the guard's answer (empty when it let the request go on).
func (e *rig) codeRequestAs(accept, address string) (*httptest.ResponseRecorder, *MailRequest) {
	in := httptest.NewRequest("POST", "/self-service/recovery?flow="+fakeory.NewID(), nil)
	in.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	m, _ := e.g.Mail(rec, in, e.client(), kratos.Recovery, address)
	return rec, m
}

func (e *rig) client() edge.Client { return edge.Client{IP: "192.0.2.13", UserAgent: "test"} }
