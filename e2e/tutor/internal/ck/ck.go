// Package ck is what the tutor's integration tests and benchmarks share: a
// small ChatKit client for POST /api/v1/chatkit that checks the framing of
// every streamed event, and learners with tokens.
package ck

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// Client calls one tutor as one user.
type Client struct {
	Base  string // the tutor's base URL, with a trailing slash
	Token string
	HTTP  *http.Client
}

// New returns a client for base with token.
func New(base, token string) *Client {
	return &Client{Base: base, Token: token, HTTP: &http.Client{Timeout: 2 * time.Minute}}
}

// Response is a finished call.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// Events are the streamed events of a text/event-stream answer.
	Events []Event
}

// Event is one streamed event, decoded.
type Event map[string]any

// Type is the event's type.
func (e Event) Type() string { s, _ := e["type"].(string); return s }

// JSON decodes the body.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("not JSON (%d): %v\n%s", r.Status, err, r.Body)
	}
}

// Map is the body as a map.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Types lists the events' types.
func (r *Response) Types() []string {
	out := make([]string, len(r.Events))
	for i, e := range r.Events {
		out[i] = e.Type()
		if e.Type() == "thread.item.updated" {
			if u, ok := e["update"].(map[string]any); ok {
				out[i] += ":" + strings.TrimPrefix(fmt.Sprint(u["type"]), "assistant_message.content_part.")
			}
		}
	}
	return out
}

// Find returns the first event of type typ, or nil.
func (r *Response) Find(typ string) Event {
	for _, e := range r.Events {
		if e.Type() == typ {
			return e
		}
	}
	return nil
}

// Text is the answer's text, from the text deltas.
func (r *Response) Text() string {
	var b strings.Builder
	for _, e := range r.Events {
		if u, ok := e["update"].(map[string]any); ok && u["type"] == "assistant_message.content_part.text_delta" {
			b.WriteString(u["delta"].(string))
		}
	}
	return b.String()
}

// Do posts body (a value sent as JSON, or a string/[]byte sent as is).
func (c *Client) Do(t testing.TB, body any, header ...string) *Response {
	t.Helper()
	res, err := c.Send(body, header...)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return Read(t, res)
}

// Send posts body and returns the response unread.
func (c *Client) Send(body any, header ...string) (*http.Response, error) {
	var data []byte
	switch b := body.(type) {
	case string:
		data = []byte(b)
	case []byte:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequest(http.MethodPost, c.Base+"api/v1/chatkit", bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.HTTP.Do(req)
}

// Read reads a response; a stream is parsed into events, each frame held
// to the reference framing: "data: <json>\n\n" with no null field.
func Read(t testing.TB, res *http.Response) *Response {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: body}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		if out.Events, err = ParseSSE(body); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
	}
	return out
}

// ParseSSE splits a stream into events and checks each frame.
func ParseSSE(body []byte) ([]Event, error) {
	var out []Event
	for len(body) > 0 {
		frame, rest, ok := bytes.Cut(body, []byte("\n\n"))
		if !ok {
			return nil, fmt.Errorf("event not ended by a blank line: %q", body)
		}
		body = rest
		data, ok := bytes.CutPrefix(frame, []byte("data: "))
		if !ok || bytes.Contains(data, []byte("\n")) {
			return nil, fmt.Errorf("frame is not one data line: %q", frame)
		}
		if bytes.Contains(data, []byte(":null")) {
			return nil, fmt.Errorf("event has a null field (they must be omitted): %s", data)
		}
		var e Event
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("event is not JSON: %v: %s", err, data)
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadEvents reads events from a live stream one at a time, for tests that
// act in the middle of one.
type ReadEvents struct {
	r *bufio.Reader
}

// NewReader reads the events of res.
func NewReader(res *http.Response) *ReadEvents { return &ReadEvents{r: bufio.NewReader(res.Body)} }

// Next returns the next event.
func (r *ReadEvents) Next() (Event, error) {
	line, err := r.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	blank, err := r.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if blank != "\n" || !strings.HasPrefix(line, "data: ") {
		return nil, fmt.Errorf("bad frame %q %q", line, blank)
	}
	var e Event
	err = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e)
	return e, err
}

// Text is a user message input with text.
func Text(s string) map[string]any {
	return map[string]any{
		"content":           []any{map[string]any{"type": "input_text", "text": s}},
		"attachments":       []any{},
		"inference_options": map[string]any{},
	}
}

// Create is a threads.create request.
func Create(text string, metadata map[string]any) map[string]any {
	req := map[string]any{"type": "threads.create", "params": map[string]any{"input": Text(text)}}
	if metadata != nil {
		req["metadata"] = metadata
	}
	return req
}

// Add is a threads.add_user_message request.
func Add(threadID, text string) map[string]any {
	return map[string]any{"type": "threads.add_user_message", "params": map[string]any{"thread_id": threadID, "input": Text(text)}}
}

// Req is any request with params.
func Req(typ string, params map[string]any) map[string]any {
	return map[string]any{"type": typ, "params": params}
}

// ThreadID is the id of the thread a threads.create stream created.
func (r *Response) ThreadID(t testing.TB) string {
	t.Helper()
	e := r.Find("thread.created")
	if e == nil {
		t.Fatalf("no thread.created event (%d): %s", r.Status, r.Body)
	}
	return e["thread"].(map[string]any)["id"].(string)
}

// DoneItems are the items of the thread.item.done events.
func (r *Response) DoneItems() []map[string]any {
	var out []map[string]any
	for _, e := range r.Events {
		if e.Type() == "thread.item.done" {
			out = append(out, e["item"].(map[string]any))
		}
	}
	return out
}

// Get calls a GET JSON route of the tutor.
func (c *Client) Get(t testing.TB, path string, header ...string) *Response {
	t.Helper()
	return c.call(t, http.MethodGet, path, nil, header...)
}

// Call calls any route of the tutor with a JSON body (or none).
func (c *Client) call(t testing.TB, method, path string, body any, header ...string) *Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return Read(t, res)
}

// Call is call exported: method, path relative to the tutor, JSON body.
func (c *Client) Call(t testing.TB, method, path string, body any, header ...string) *Response {
	t.Helper()
	return c.call(t, method, path, body, header...)
}

// Verified is e2etest.NewLearner, tried again when the token it got does
// not say email_verified (Kratos may mail two codes at registration, and
// the helper can pick the stale one). Each call makes a new account: tests
// do not share learners, so none sees another's threads, quota or role.
func Verified(t testing.TB, role string) e2etest.Learner {
	t.Helper()
	var l e2etest.Learner
	for range 3 {
		l = e2etest.NewLearner(t, role)
		if e2etest.JWTClaims(t, l.AccessToken)["email_verified"] == true {
			return l
		}
	}
	t.Fatalf("could not get a verified learner: %s", l.Email)
	return l
}

// Unverified returns a token of an account whose email is not verified.
func Unverified(t testing.TB) string {
	t.Helper()
	email := e2etest.UniqueEmail("unverified")
	e2etest.NewClient(t).Register(email, e2etest.StrongPassword, "Not Verified")
	return e2etest.Tokens(t, email, e2etest.StrongPassword).AccessToken
}

// For returns a client of the stack's tutor for l.
func For(t testing.TB, l e2etest.Learner) *Client {
	return New(e2etest.Need(t).URL("tutor"), l.AccessToken)
}

// Items lists a thread's items, oldest first.
func (c *Client) Items(t testing.TB, threadID string) []map[string]any {
	t.Helper()
	res := c.Do(t, Req("items.list", map[string]any{"thread_id": threadID, "order": "asc"}))
	if res.Status != http.StatusOK {
		t.Fatalf("items.list: %d %s", res.Status, res.Body)
	}
	var p struct {
		Data []map[string]any `json:"data"`
	}
	res.JSON(t, &p)
	return p.Data
}

// AnswerText is the text of an assistant message item.
func AnswerText(item map[string]any) string {
	content, _ := item["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	s, _ := content[0].(map[string]any)["text"].(string)
	return s
}

// DB opens the stack's platform database for the test.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), e2etest.Need(t).DSN("platform"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
