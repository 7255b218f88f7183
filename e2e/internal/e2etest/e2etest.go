// Package e2etest is what the integration tests share: one real stack per
// test binary (started in TestMain), a Mailpit reader, and an HTTP client for
// Kratos' flows through the identity edge.
package e2etest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/stack"
)

// Stack is the test binary's running platform.
var Stack *stack.TestStack

// Main starts the stack, runs the tests and stops it; use it as TestMain.
// With -short the stack is not started and tests that need it skip.
func Main(m *testing.M) { MainWith(m, nil) }

// MainWith is Main with a setup that adjusts the stack's Options (its ports
// already chosen) before it starts, e.g. to add a social sign-in provider.
func MainWith(m *testing.M, setup func(*stack.Options)) {
	if isShort() {
		os.Exit(m.Run())
	}
	var setups []func(*stack.Options)
	if setup != nil {
		setups = append(setups, setup)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	s, err := stack.StartForTest(ctx, setups...)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etest: starting the stack:", err)
		os.Exit(1)
	}
	Stack = s
	code := m.Run()
	s.Close(code != 0)
	os.Exit(code)
}

func isShort() bool {
	for _, a := range os.Args {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

// Need skips a test when no stack runs (go test -short).
func Need(t testing.TB) *stack.TestStack {
	t.Helper()
	if Stack == nil {
		t.Skip("needs the stack (not started with -short)")
	}
	return Stack
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s@example.org", prefix, hex.EncodeToString(b[:]))
}

// StrongPassword meets every rule of the default profile.
const StrongPassword = "Correct-Horse-42!x"

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// MailCode waits for the newest mail to addr whose subject contains
// subject, newer than since, and returns the six-digit code in it.
func MailCode(t testing.TB, addr, subject string, since time.Time) string {
	t.Helper()
	return MailCodeFor(t, addr, subject, since, "")
}

// MailCodeFor is MailCode for the mail whose text contains match (a flow
// id: verification mails link their flow). Kratos also mails a code when an
// account registers, so a test that asks for another must pick its own.
func MailCodeFor(t testing.TB, addr, subject string, since time.Time, match string) string {
	t.Helper()
	base := Need(t).URL("mailpit")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var list struct {
			Messages []struct {
				ID      string    `json:"ID"`
				Subject string    `json:"Subject"`
				Created time.Time `json:"Created"`
			} `json:"messages"`
		}
		if getJSON(base+"api/v1/search?query="+url.QueryEscape("to:"+addr), &list) == nil {
			for _, m := range list.Messages { // newest first
				if !strings.Contains(m.Subject, subject) || m.Created.Before(since.Add(-time.Second)) {
					continue
				}
				var msg struct {
					Text string `json:"Text"`
				}
				if err := getJSON(base+"api/v1/message/"+m.ID, &msg); err != nil {
					t.Fatal(err)
				}
				if match != "" && !strings.Contains(msg.Text, match) {
					continue
				}
				if c := codeRE.FindStringSubmatch(msg.Text); c != nil {
					return c[1]
				}
				t.Fatalf("mail %q to %s has no code:\n%s", m.Subject, addr, msg.Text)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no mail %q to %s arrived", subject, addr)
	return ""
}

// MailCount counts mails to addr whose subject contains subject.
func MailCount(t testing.TB, addr, subject string) int {
	t.Helper()
	var list struct {
		Messages []struct {
			Subject string `json:"Subject"`
		} `json:"messages"`
	}
	if err := getJSON(Need(t).URL("mailpit")+"api/v1/search?query="+url.QueryEscape("to:"+addr), &list); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range list.Messages {
		if strings.Contains(m.Subject, subject) {
			n++
		}
	}
	return n
}

func getJSON(u string, v any) error {
	res, err := http.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// Client is an HTTP client for one user: a cookie jar for browser flows,
// no redirects followed unless asked.
type Client struct {
	T    testing.TB
	HTTP *http.Client
	Base string // the identity edge
}

// NewClient makes a client that talks to the edge.
func NewClient(t testing.TB) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{T: t, Base: Need(t).URL("identity"), HTTP: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Response is a finished request, body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("not JSON (%d): %v\n%s", r.Status, err, r.Body)
	}
}

// Do sends a request; body may be nil, a string, []byte or a value sent as JSON.
func (c *Client) Do(method, path string, body any, header ...string) *Response {
	c.T.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = strings.TrimSuffix(c.Base, "/") + path
	}
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = strings.NewReader(string(b))
	case url.Values:
		rd = strings.NewReader(b.Encode())
		ct = "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.T.Fatal(err)
		}
		rd = strings.NewReader(string(j))
		ct = "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.T.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return &Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// Flow is the part of a Kratos flow the tests read.
type Flow struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	State     string    `json:"state"`
	ExpiresAt time.Time `json:"expires_at"`
	IssuedAt  time.Time `json:"issued_at"`
	UI        struct {
		Action   string `json:"action"`
		Messages []Msg  `json:"messages"`
		Nodes    []struct {
			Group      string         `json:"group"`
			Attributes map[string]any `json:"attributes"`
			Messages   []Msg          `json:"messages"`
		} `json:"nodes"`
	} `json:"ui"`
	ContinueWith []map[string]any `json:"continue_with"`
}

// Msg is a UI message.
type Msg struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
	Type string `json:"type"`
}

// NodeMessages returns the messages of the input named name.
func (f *Flow) NodeMessages(name string) []Msg {
	for _, n := range f.UI.Nodes {
		if n.Attributes["name"] == name {
			return n.Messages
		}
	}
	return nil
}

// NodeValue returns the value of the input named name.
func (f *Flow) NodeValue(name string) any {
	for _, n := range f.UI.Nodes {
		if n.Attributes["name"] == name {
			return n.Attributes["value"]
		}
	}
	return nil
}

// NewAPIFlow starts a native-app flow of kind through the edge.
func (c *Client) NewAPIFlow(kind string, header ...string) *Flow {
	c.T.Helper()
	res := c.Do("GET", "/self-service/"+kind+"/api", nil, header...)
	if res.Status != 200 {
		c.T.Fatalf("start %s API flow: %d %s", kind, res.Status, res.Body)
	}
	var f Flow
	res.JSON(c.T, &f)
	return &f
}

// Register creates an account through the API flow and returns its session token.
func (c *Client) Register(email, password, name string) string {
	c.T.Helper()
	f := c.NewAPIFlow("registration")
	res := c.Do("POST", "/self-service/registration?flow="+f.ID, map[string]any{
		"method": "password", "password": password, "traits": map[string]any{"email": email, "name": name},
	})
	if res.Status != 200 {
		c.T.Fatalf("register %s: %d %s", email, res.Status, res.Body)
	}
	var out struct {
		SessionToken string `json:"session_token"`
	}
	res.JSON(c.T, &out)
	return out.SessionToken
}

// Login signs in through the API flow; it returns the session token, or ""
// and the response when Kratos refuses.
func (c *Client) Login(email, password string) (string, *Response) {
	c.T.Helper()
	f := c.NewAPIFlow("login")
	res := c.Do("POST", "/self-service/login?flow="+f.ID, map[string]any{
		"method": "password", "identifier": email, "password": password,
	})
	if res.Status != 200 {
		return "", res
	}
	var out struct {
		SessionToken string `json:"session_token"`
	}
	res.JSON(c.T, &out)
	return out.SessionToken, res
}

// AdminIdentities lists identities whose credentials use identifier.
func AdminIdentities(t testing.TB, identifier string) []map[string]any {
	t.Helper()
	var out []map[string]any
	u := Need(t).URL("kratos-admin") + "admin/identities?credentials_identifier=" + url.QueryEscape(identifier)
	if err := getJSON(u, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
