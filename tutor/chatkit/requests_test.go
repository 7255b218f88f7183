package chatkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
)

// Every request type the handler dispatches, over HTTP against the
// in-memory stores: what it answers, and that bad input is a clear 4xx
// in the protocol's error shape, never a 500. Each subtest has an env of
// its own, so it runs alone (-run 'TestX/name').

func req(typ string, params map[string]any) map[string]any {
	return map[string]any{"type": typ, "params": params}
}

// started creates a thread of user about the course and returns its id,
// its user message's id and its answer's id.
func (e *env) started(t *testing.T, user string) (thread, msg, answer string) {
	t.Helper()
	r := e.do(t, user, create("What is a zero value?", map[string]any{"course": course}))
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %v", r.status, r.body)
	}
	return r.threadID(t), r.doneItem(tutor.ItemUserMessage)["id"].(string), r.doneItem(tutor.ItemAssistantMessage)["id"].(string)
}

// post sends a raw body as user.
func (e *env) post(t *testing.T, user string, body []byte) result {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, e.srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Test-User", user)
	res, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, res)
}

func types(r result) []string {
	var out []string
	for _, ev := range r.events {
		typ := ev["type"].(string)
		if typ == protocol.EvItemUpdated {
			typ += "/" + ev["update"].(map[string]any)["type"].(string)
		}
		out = append(out, typ)
	}
	return out
}

func TestEnvelope(t *testing.T) {
	cases := map[string]struct {
		body   string
		status int
		code   string
		want   string
	}{
		"not JSON":         {`{"type":`, 400, tutor.EINVALID, "not valid JSON"},
		"two values":       {`{"type":"threads.list"} {}`, 400, tutor.EINVALID, "data after the JSON value"},
		"not an object":    {`[1]`, 400, tutor.EINVALID, "not valid JSON"},
		"no type":          {`{"params":{}}`, 400, tutor.EINVALID, "the request has no type"},
		"unknown type":     {`{"type":"threads.frobnicate"}`, 400, tutor.EINVALID, `unknown request type "threads.frobnicate"`},
		"long type":        {`{"type":"` + strings.Repeat("t", 300) + `"}`, 400, tutor.EINVALID, "…"},
		"params not a map": {`{"type":"threads.list","params":"x"}`, 400, tutor.EINVALID, "params: "},
		"body too large":   {`{"type":"threads.list","params":{"x":"` + strings.Repeat("x", 8192*6+64<<10) + `"}}`, 413, tutor.ETOOLARGE, "larger than"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			r := e.post(t, "u1", []byte(tc.body))
			wantRefused(t, r, tc.status, tc.code)
			if !strings.Contains(r.body["message"].(string), tc.want) {
				t.Fatalf("message %q lacks %q", r.body["message"], tc.want)
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		e := newEnv(t, Config{})
		for _, typ := range []string{"threads.add_client_tool_output", "threads.add_structured_input", "threads.custom_action",
			"threads.sync_custom_action", "attachments.create", "attachments.delete", "input.transcribe"} {
			r := e.do(t, "u1", req(typ, map[string]any{}))
			wantRefused(t, r, http.StatusBadRequest, tutor.EUNSUPPORTED)
			if !strings.Contains(r.body["message"].(string), typ+" is not supported") {
				t.Fatalf("%s: %v", typ, r.body)
			}
		}
		if n := len(e.store.UserThreads("u1")); n != 0 {
			t.Fatalf("%d threads stored", n)
		}
	})
	t.Run("no user", func(t *testing.T) {
		h := New(Config{MaxMessageBytes: 8192, MaxPageSize: 100})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"type":"threads.list"}`)))
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusUnauthorized || body["type"] != "error" {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
	t.Run("email not verified", func(t *testing.T) {
		h := New(Config{MaxMessageBytes: 8192, MaxPageSize: 100})
		u := token.User{User: account.User{ID: "u1", Role: account.RoleStudent}}
		r := httptest.NewRequestWithContext(token.WithUser(context.Background(), u), http.MethodPost, "/", strings.NewReader(`{"type":"threads.list"}`))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := read(t, w.Result())
		wantRefused(t, res, http.StatusForbidden, tutor.EUNVERIFIED)
		if !strings.Contains(res.body["message"].(string), "verify your email address") {
			t.Fatalf("%v", res.body)
		}
	})
}

// Protect reshapes kit/token's refusals into the protocol's error body.
func TestProtect(t *testing.T) {
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(keys.Close)
	v, err := token.New(token.Config{Issuer: keys.URL + "/", JWKSURL: keys.URL + "/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	h := Protect(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }))
	for name, auth := range map[string]string{"no token": "", "not a token": "Bearer nope"} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/chatkit", strings.NewReader(`{}`))
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := read(t, w.Result())
			if res.status != http.StatusUnauthorized || res.body["type"] != "error" || res.body["code"] != "custom" ||
				res.body["message"] == "" || res.body["error"].(map[string]any)["code"] == "" || reached {
				t.Fatalf("%d %v (reached %v)", res.status, res.body, reached)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("no WWW-Authenticate: %v", w.Header())
			}
		})
	}
}

func TestThreadsCreate(t *testing.T) {
	t.Run("streams the thread, the message and the answer", func(t *testing.T) {
		e := newEnv(t, Config{})
		r := e.do(t, "u1", create("What is a zero value?", map[string]any{"course": course}))
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		want := []string{protocol.EvThreadCreated, protocol.EvItemDone, protocol.EvStreamOptions, protocol.EvItemAdded,
			protocol.EvItemUpdated + "/" + protocol.UpdPartAdded, protocol.EvItemUpdated + "/" + protocol.UpdTextDelta,
			protocol.EvItemUpdated + "/" + protocol.UpdPartDone, protocol.EvItemDone}
		if got := types(r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events %v\nwant   %v", got, want)
		}
		th := r.find(protocol.EvThreadCreated)["thread"].(map[string]any)
		md := th["metadata"].(map[string]any)
		if th["title"] != "What is a zero value?" || th["status"].(map[string]any)["type"] != "active" || md["course"] != course || md["stage"] != float64(1) {
			t.Fatalf("thread %v", th)
		}
		if opts := r.find(protocol.EvStreamOptions)["stream_options"].(map[string]any); opts["allow_cancel"] != false {
			t.Fatalf("stream options %v", opts)
		}
		items := e.items(t, r.threadID(t))
		if len(items) != 2 || items[0].Type != tutor.ItemUserMessage || items[1].Type != tutor.ItemAssistantMessage || items[1].Status != tutor.ItemDone {
			t.Fatalf("stored %+v", items)
		}
		if text, _ := protocol.MessageText(items[1].Payload); text != "About What is a zero value?: what do you think?" {
			t.Fatalf("stored answer %q", text)
		}
		if e.counted("u1") != 1 {
			t.Fatalf("counted %d", e.counted("u1"))
		}
	})
	t.Run("the page context is stored hidden before the message", func(t *testing.T) {
		e := newEnv(t, Config{})
		r := e.do(t, "u1", create("And this?", map[string]any{"course": course, "lesson": "values",
			"page": map[string]any{"url": "https://learn.example/values", "title": "Values", "headings": []string{"Zero values"}}}))
		items := e.items(t, r.threadID(t))
		if len(items) != 3 || items[0].Type != tutor.ItemHiddenContext || items[1].Type != tutor.ItemUserMessage ||
			!items[0].CreatedAt.Before(items[1].CreatedAt) {
			t.Fatalf("stored %+v", items)
		}
		if pc := protocol.PageContextOf(items[0].Payload); pc == nil || pc.Title != "Values" {
			t.Fatalf("page context %+v", pc)
		}
		for _, ev := range r.events { // hidden context never goes to the client
			if it, ok := ev["item"].(map[string]any); ok && it["type"] == tutor.ItemHiddenContext {
				t.Fatalf("hidden item sent: %v", ev)
			}
		}
		if md := r.find(protocol.EvThreadCreated)["thread"].(map[string]any)["metadata"].(map[string]any); md["lesson"] != "values" {
			t.Fatalf("metadata %v", md)
		}
	})
	t.Run("without a course: the only active enrollment, else none", func(t *testing.T) {
		e := newEnv(t, Config{})
		r := e.do(t, "u1", create("hello", nil))
		if md := r.find(protocol.EvThreadCreated)["thread"].(map[string]any)["metadata"].(map[string]any); md["course"] != nil {
			t.Fatalf("a course without an enrollment: %v", md)
		}
		if _, err := e.store.SetEnrollment(context.Background(), "u1", course, 2, false); err != nil {
			t.Fatal(err)
		}
		r = e.do(t, "u1", create("hello again", nil))
		if md := r.find(protocol.EvThreadCreated)["thread"].(map[string]any)["metadata"].(map[string]any); md["course"] != course || md["stage"] != float64(2) {
			t.Fatalf("the only enrollment: %v", md)
		}
	})
	t.Run("naming a course enrols at stage 1", func(t *testing.T) {
		e := newEnv(t, Config{})
		e.started(t, "u1")
		if en, err := e.store.Enrollment(context.Background(), "u1", course); err != nil || en.UnlockedStage != 1 || !en.Active() {
			t.Fatalf("%+v %v", en, err)
		}
	})
	refusals := map[string]struct {
		req    map[string]any
		status int
		code   string
	}{
		"no input":        {req(protocol.ReqThreadsCreate, map[string]any{}), 400, tutor.EINVALID},
		"no text":         {create("   ", nil), 400, tutor.EINVALID},
		"unknown content": {req(protocol.ReqThreadsCreate, map[string]any{"input": map[string]any{"content": []any{map[string]any{"type": "input_image"}}}}), 400, tutor.EINVALID},
		"attachments": {req(protocol.ReqThreadsCreate, map[string]any{"input": map[string]any{"content": []any{map[string]any{"type": "input_text", "text": "x"}},
			"attachments": []string{"att_1"}}}), 400, tutor.EUNSUPPORTED},
		"message too long": {create(strings.Repeat("x", 8193), nil), 413, tutor.ETOOLARGE},
		"bad metadata":     {create("hi", map[string]any{"course": strings.Repeat("c", 65)}), 400, tutor.EINVALID},
		"bad page":         {create("hi", map[string]any{"page": "https://x/"}), 400, tutor.EINVALID},
		"unknown course":   {create("hi", map[string]any{"course": "cobol"}), 404, tutor.ENOTFOUND},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			wantRefused(t, e.do(t, "u1", tc.req), tc.status, tc.code)
			if n := len(e.store.UserThreads("u1")); n != 0 || e.counted("u1") != 0 {
				t.Fatalf("a refused request stored %d threads, counted %d", n, e.counted("u1"))
			}
		})
	}
	t.Run("ended enrollment", func(t *testing.T) {
		e := newEnv(t, Config{})
		if _, err := e.store.SetEnrollment(context.Background(), "u1", course, 1, true); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, e.do(t, "u1", create("hi", map[string]any{"course": course})), http.StatusConflict, tutor.ECONFLICT)
	})
	t.Run("quota", func(t *testing.T) {
		e := newEnv(t, Config{DailyMessages: 4})
		for i := range 4 {
			r := e.do(t, "u1", create(fmt.Sprintf("question %d", i), nil))
			n := r.find(protocol.EvNotice)
			if r.status != http.StatusOK || n == nil {
				t.Fatalf("message %d of 4: %d, notice %v", i+1, r.status, n)
			}
			if left := 3 - i; (left == 0) != (n["title"] == "Daily limit reached") || (left > 0 && !strings.Contains(n["message"].(string), fmt.Sprintf("You have %d", left))) {
				t.Fatalf("message %d: notice %v", i+1, n)
			}
		}
		r := e.do(t, "u1", create("one more", nil))
		wantRefused(t, r, http.StatusTooManyRequests, tutor.ERATELIMITED)
		if r.body["limit"] != float64(4) || r.body["remaining"] != float64(0) || r.body["allow_retry"] != false {
			t.Fatalf("%v", r.body)
		}
		if n := len(e.store.UserThreads("u1")); n != 4 {
			t.Fatalf("%d threads", n)
		}
		// Staff are exempt.
		for range 5 {
			if r := e.do(t, "boss", create("staff question", nil), account.RoleAdmin); r.status != http.StatusOK || r.find(protocol.EvNotice) != nil {
				t.Fatalf("staff: %d %v", r.status, r.find(protocol.EvNotice))
			}
		}
	})
}

// locked is a store whose threads are all locked (the protocol's
// status; the stores keep every thread active today).
type locked struct{ tutor.ThreadStore }

func (l locked) Thread(ctx context.Context, userID, threadID string) (tutor.Thread, error) {
	th, err := l.ThreadStore.Thread(ctx, userID, threadID)
	th.Status, th.StatusReason = "locked", "archived"
	return th, err
}

// history records the turns it is asked to answer.
type history struct {
	mu    sync.Mutex
	turns []tutor.Turn
}

func (h *history) Respond(_ context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	h.mu.Lock()
	h.turns = append(h.turns, t)
	h.mu.Unlock()
	w.Text("Answer to " + t.Question)
	return nil
}

func TestThreadsAddUserMessage(t *testing.T) {
	t.Run("answers with the thread's history", func(t *testing.T) {
		rec := &history{}
		e := newEnv(t, Config{Responder: rec})
		thread, _, _ := e.started(t, "u1")
		r := e.do(t, "u1", add(thread, "And for a string?"))
		if got := types(r); r.status != http.StatusOK || got[0] != protocol.EvItemDone || r.find(protocol.EvThreadCreated) != nil {
			t.Fatalf("%d %v", r.status, got)
		}
		if r.doneItem(tutor.ItemUserMessage)["thread_id"] != thread || r.doneItem(tutor.ItemAssistantMessage) == nil {
			t.Fatalf("%v", r.events)
		}
		last := rec.turns[len(rec.turns)-1]
		if last.Question != "And for a string?" || len(last.History) != 2 || last.History[0].Text != "What is a zero value?" ||
			last.History[1].Role != "assistant" || last.Course != course || last.MaxStage != 1 {
			t.Fatalf("turn %+v", last)
		}
		if n := len(e.items(t, thread)); n != 4 || e.counted("u1") != 2 {
			t.Fatalf("%d items, %d counted", n, e.counted("u1"))
		}
	})
	t.Run("a course the learner left", func(t *testing.T) {
		rec := &history{}
		e := newEnv(t, Config{Responder: rec})
		thread, _, _ := e.started(t, "u1")
		if _, err := e.store.SetEnrollment(context.Background(), "u1", course, 1, true); err != nil {
			t.Fatal(err)
		}
		r := e.do(t, "u1", add(thread, "still there?"))
		if n := r.find(protocol.EvNotice); n == nil || n["title"] != "Not enrolled" || rec.turns[1].Course != "" {
			t.Fatalf("notice %v, turn %+v", n, rec.turns[1])
		}
	})
	refusals := map[string]struct {
		req    func(thread string) map[string]any
		user   string
		status int
		code   string
	}{
		"no thread id":     {func(string) map[string]any { return add("", "hi") }, "u1", 400, tutor.EINVALID},
		"no such thread":   {func(string) map[string]any { return add("thr_nope", "hi") }, "u1", 404, tutor.ENOTFOUND},
		"another's thread": {func(th string) map[string]any { return add(th, "hi") }, "u2", 404, tutor.ENOTFOUND},
		"a very long id":   {func(string) map[string]any { return add(strings.Repeat("t", 200), "hi") }, "u1", 404, tutor.ENOTFOUND},
		"no text":          {func(th string) map[string]any { return add(th, "") }, "u1", 400, tutor.EINVALID},
		"too long":         {func(th string) map[string]any { return add(th, strings.Repeat("x", 9000)) }, "u1", 413, tutor.ETOOLARGE},
		"bad page metadata": {func(th string) map[string]any {
			r := add(th, "hi")
			r["metadata"] = map[string]any{"page": 1}
			return r
		}, "u1", 400, tutor.EINVALID},
	}
	for name, tc := range refusals {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			thread, _, _ := e.started(t, "u1")
			wantRefused(t, e.do(t, tc.user, tc.req(thread)), tc.status, tc.code)
			if n := len(e.items(t, thread)); n != 2 || e.counted("u1") != 1 || e.counted("u2") != 0 {
				t.Fatalf("a refused message stored or counted: %d items, counted %d/%d", n, e.counted("u1"), e.counted("u2"))
			}
		})
	}
	t.Run("a locked thread", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, msg, _ := e.started(t, "u1")
		h := New(Config{Threads: locked{e.store}, Courses: e.store, Reports: e.store, Responder: echo{}, MaxMessageBytes: 8192, MaxPageSize: 100})
		for _, r := range []map[string]any{add(thread, "hi"), retry(thread, msg)} {
			b, _ := json.Marshal(r)
			u := token.User{User: account.User{ID: "u1", EmailVerified: true, Role: account.RoleStudent}}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequestWithContext(token.WithUser(context.Background(), u), http.MethodPost, "/", bytes.NewReader(b)))
			wantRefused(t, read(t, w.Result()), http.StatusConflict, tutor.ECONFLICT)
		}
		if n := len(e.items(t, thread)); n != 2 || e.counted("u1") != 1 {
			t.Fatalf("%d items, %d counted", n, e.counted("u1"))
		}
	})
	t.Run("quota", func(t *testing.T) {
		e := newEnv(t, Config{DailyMessages: 2})
		thread, _, _ := e.started(t, "u1")
		if r := e.do(t, "u1", add(thread, "second")); r.status != http.StatusOK {
			t.Fatalf("%d", r.status)
		}
		wantRefused(t, e.do(t, "u1", add(thread, "third")), http.StatusTooManyRequests, tutor.ERATELIMITED)
		if n := len(e.items(t, thread)); n != 4 {
			t.Fatalf("%d items", n)
		}
	})
}

func TestThreadsRetryAfterItem(t *testing.T) {
	t.Run("answers the message again", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, msg, answer := e.started(t, "u1")
		r := e.do(t, "u1", retry(thread, msg))
		again := r.doneItem(tutor.ItemAssistantMessage)
		if r.status != http.StatusOK || again == nil || again["id"] == answer || r.find(protocol.EvThreadCreated) != nil {
			t.Fatalf("%d %v", r.status, r.events)
		}
		items := e.items(t, thread)
		if len(items) != 2 || items[0].ID != msg || items[1].ID != again["id"] {
			t.Fatalf("stored %+v", items)
		}
	})
	for name, p := range map[string]map[string]any{
		"no thread id": {"item_id": "msg_1"},
		"no item id":   {"thread_id": "thr_1"},
		"bad params":   {"thread_id": 1},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			wantRefused(t, e.do(t, "u1", req(protocol.ReqThreadsRetryAfterItem, p)), http.StatusBadRequest, tutor.EINVALID)
		})
	}
}

func TestThreadsGetByID(t *testing.T) {
	t.Run("the thread with its first items, ascending, no hidden ones", func(t *testing.T) {
		e := newEnv(t, Config{})
		r := e.do(t, "u1", create("first", map[string]any{"course": course, "page": map[string]any{"title": "Values"}}))
		thread := r.threadID(t)
		for i := range 11 {
			e.do(t, "u1", add(thread, fmt.Sprintf("message %d", i)))
		}
		got := e.do(t, "u1", req(protocol.ReqThreadsGetByID, map[string]any{"thread_id": thread}))
		if got.status != http.StatusOK || got.body["id"] != thread || got.body["title"] != "first" {
			t.Fatalf("%d %v", got.status, got.body)
		}
		items := got.body["items"].(map[string]any)
		data := items["data"].([]any)
		if len(data) != protocol.DefaultPageSize || items["has_more"] != true || data[0].(map[string]any)["content"].([]any)[0].(map[string]any)["text"] != "first" {
			t.Fatalf("%d items, has_more %v", len(data), items["has_more"])
		}
		for _, it := range data {
			if it.(map[string]any)["type"] == tutor.ItemHiddenContext {
				t.Fatal("a hidden item in the thread")
			}
		}
	})
	for name, tc := range map[string]struct {
		params map[string]any
		user   string
		status int
		code   string
	}{
		"no thread id":     {map[string]any{}, "u1", 400, tutor.EINVALID},
		"no such thread":   {map[string]any{"thread_id": "thr_nope"}, "u1", 404, tutor.ENOTFOUND},
		"another's thread": {nil, "u2", 404, tutor.ENOTFOUND},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			thread, _, _ := e.started(t, "u1")
			if tc.params == nil {
				tc.params = map[string]any{"thread_id": thread}
			}
			wantRefused(t, e.do(t, tc.user, req(protocol.ReqThreadsGetByID, tc.params)), tc.status, tc.code)
		})
	}
}

// ids returns the ids of a page's data.
func ids(body map[string]any) []string {
	var out []string
	for _, d := range body["data"].([]any) {
		out = append(out, d.(map[string]any)["id"].(string))
	}
	return out
}

func TestThreadsList(t *testing.T) {
	t.Run("newest first, in pages, only the caller's", func(t *testing.T) {
		e := newEnv(t, Config{})
		var made []string
		for range 5 {
			th, _, _ := e.started(t, "u1")
			made = append(made, th)
		}
		e.started(t, "u2")
		r := e.do(t, "u1", req(protocol.ReqThreadsList, map[string]any{"limit": 2}))
		if r.status != http.StatusOK || fmt.Sprint(ids(r.body)) != fmt.Sprint([]string{made[4], made[3]}) || r.body["has_more"] != true || r.body["after"] != made[3] {
			t.Fatalf("first page %v", r.body)
		}
		r = e.do(t, "u1", req(protocol.ReqThreadsList, map[string]any{"limit": 2, "after": made[3]}))
		if fmt.Sprint(ids(r.body)) != fmt.Sprint([]string{made[2], made[1]}) {
			t.Fatalf("second page %v", ids(r.body))
		}
		r = e.do(t, "u1", req(protocol.ReqThreadsList, map[string]any{"order": "asc"}))
		if fmt.Sprint(ids(r.body)) != fmt.Sprint(made) || r.body["has_more"] != false {
			t.Fatalf("ascending %v", ids(r.body))
		}
		th := r.body["data"].([]any)[0].(map[string]any)
		if th["items"].(map[string]any)["data"] == nil || th["metadata"].(map[string]any)["course"] != course {
			t.Fatalf("listed thread %v", th)
		}
		if r := e.do(t, "nobody", req(protocol.ReqThreadsList, nil)); r.status != http.StatusOK || len(r.body["data"].([]any)) != 0 {
			t.Fatalf("no threads: %v", r.body)
		}
	})
	for name, p := range map[string]map[string]any{
		"over the page size": {"limit": 101},
		"negative limit":     {"limit": -1},
		"bad order":          {"order": "random"},
		"unknown cursor":     {"after": "thr_nope"},
		"bad params":         {"limit": "ten"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.started(t, "u1")
			wantRefused(t, e.do(t, "u1", req(protocol.ReqThreadsList, p)), http.StatusBadRequest, tutor.EINVALID)
		})
	}
}

func TestItemsList(t *testing.T) {
	t.Run("pages of a thread's items", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, msg, answer := e.started(t, "u1")
		e.do(t, "u1", add(thread, "more"))
		r := e.do(t, "u1", req(protocol.ReqItemsList, map[string]any{"thread_id": thread, "order": "asc", "limit": 2}))
		if r.status != http.StatusOK || fmt.Sprint(ids(r.body)) != fmt.Sprint([]string{msg, answer}) || r.body["has_more"] != true || r.body["after"] != answer {
			t.Fatalf("%d %v", r.status, r.body)
		}
		r = e.do(t, "u1", req(protocol.ReqItemsList, map[string]any{"thread_id": thread, "order": "asc", "after": answer}))
		if n := len(ids(r.body)); n != 2 || r.body["has_more"] != false {
			t.Fatalf("rest %v", r.body)
		}
		r = e.do(t, "u1", req(protocol.ReqItemsList, map[string]any{"thread_id": thread}))
		if got := ids(r.body); len(got) != 4 || got[3] != msg {
			t.Fatalf("descending %v", got)
		}
	})
	for name, tc := range map[string]struct {
		params func(thread string) map[string]any
		user   string
		status int
		code   string
	}{
		"no thread id":       {func(string) map[string]any { return map[string]any{} }, "u1", 400, tutor.EINVALID},
		"another's thread":   {func(th string) map[string]any { return map[string]any{"thread_id": th} }, "u2", 404, tutor.ENOTFOUND},
		"unknown cursor":     {func(th string) map[string]any { return map[string]any{"thread_id": th, "after": "msg_nope"} }, "u1", 400, tutor.EINVALID},
		"over the page size": {func(th string) map[string]any { return map[string]any{"thread_id": th, "limit": 1000} }, "u1", 400, tutor.EINVALID},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			thread, _, _ := e.started(t, "u1")
			wantRefused(t, e.do(t, tc.user, req(protocol.ReqItemsList, tc.params(thread))), tc.status, tc.code)
		})
	}
}

func TestThreadsUpdate(t *testing.T) {
	t.Run("renames", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, _, _ := e.started(t, "u1")
		r := e.do(t, "u1", req(protocol.ReqThreadsUpdate, map[string]any{"thread_id": thread, "title": "  Zero values  "}))
		if r.status != http.StatusOK || r.body["title"] != "Zero values" || r.body["id"] != thread {
			t.Fatalf("%d %v", r.status, r.body)
		}
		if th, _ := e.store.Thread(context.Background(), "u1", thread); th.Title != "Zero values" {
			t.Fatalf("stored %q", th.Title)
		}
	})
	for name, tc := range map[string]struct {
		params func(thread string) map[string]any
		user   string
		status int
		code   string
	}{
		"no thread id": {func(string) map[string]any { return map[string]any{"title": "x"} }, "u1", 400, tutor.EINVALID},
		"no title":     {func(th string) map[string]any { return map[string]any{"thread_id": th} }, "u1", 400, tutor.EINVALID},
		"title too long": {func(th string) map[string]any {
			return map[string]any{"thread_id": th, "title": strings.Repeat("t", 201)}
		}, "u1", 400, tutor.EINVALID},
		"another's thread": {func(th string) map[string]any { return map[string]any{"thread_id": th, "title": "mine"} }, "u2", 404, tutor.ENOTFOUND},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{})
			thread, _, _ := e.started(t, "u1")
			wantRefused(t, e.do(t, tc.user, req(protocol.ReqThreadsUpdate, tc.params(thread))), tc.status, tc.code)
			if th, _ := e.store.Thread(context.Background(), "u1", thread); th.Title != "What is a zero value?" {
				t.Fatalf("renamed to %q", th.Title)
			}
		})
	}
}

func TestThreadsDelete(t *testing.T) {
	t.Run("deletes", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, _, _ := e.started(t, "u1")
		if r := e.do(t, "u1", req(protocol.ReqThreadsDelete, map[string]any{"thread_id": thread})); r.status != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		wantRefused(t, e.do(t, "u1", req(protocol.ReqThreadsGetByID, map[string]any{"thread_id": thread})), http.StatusNotFound, tutor.ENOTFOUND)
		wantRefused(t, e.do(t, "u1", req(protocol.ReqThreadsDelete, map[string]any{"thread_id": thread})), http.StatusNotFound, tutor.ENOTFOUND)
	})
	t.Run("another's thread", func(t *testing.T) {
		e := newEnv(t, Config{})
		thread, _, _ := e.started(t, "u1")
		wantRefused(t, e.do(t, "u2", req(protocol.ReqThreadsDelete, map[string]any{"thread_id": thread})), http.StatusNotFound, tutor.ENOTFOUND)
		if len(e.items(t, thread)) != 2 {
			t.Fatal("another user deleted the thread")
		}
	})
	t.Run("no thread id", func(t *testing.T) {
		e := newEnv(t, Config{})
		wantRefused(t, e.do(t, "u1", req(protocol.ReqThreadsDelete, nil)), http.StatusBadRequest, tutor.EINVALID)
	})
}

// sourced answers with a source, so feedback has a section to count.
type sourced struct{}

func (sourced) Respond(_ context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	w.Source(tutor.Passage{Course: course, Lesson: "values", LessonTitle: "Values", Stage: 1, Section: "Zero values", Anchor: "zero-values"})
	w.Text("What do you expect?")
	return nil
}

func TestItemsFeedback(t *testing.T) {
	t.Run("on answers, counted by section", func(t *testing.T) {
		e := newEnv(t, Config{Responder: sourced{}})
		thread, _, answer := e.started(t, "u1")
		r := e.do(t, "u1", req(protocol.ReqItemsFeedback, map[string]any{"thread_id": thread, "item_ids": []string{answer}, "kind": tutor.FeedbackNegative}))
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Fatalf("%d %v", r.status, r.body)
		}
		worst, err := e.store.WorstSections(context.Background(), course, 10)
		if err != nil || len(worst) != 1 || worst[0].Anchor != "zero-values" || worst[0].Negative != 1 {
			t.Fatalf("%+v %v", worst, err)
		}
	})
	for name, tc := range map[string]struct {
		params func(thread, msg, answer string) map[string]any
		user   string
		status int
		code   string
	}{
		"no thread id": {func(_, _, a string) map[string]any {
			return map[string]any{"item_ids": []string{a}, "kind": "positive"}
		}, "u1", 400, tutor.EINVALID},
		"bad kind": {func(th, _, a string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{a}, "kind": "meh"}
		}, "u1", 400, tutor.EINVALID},
		"no items": {func(th, _, _ string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{}, "kind": "positive"}
		}, "u1", 400, tutor.EINVALID},
		"too many items": {func(th, _, a string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": make([]string, 51), "kind": "positive"}
		}, "u1", 400, tutor.EINVALID},
		"on a user message": {func(th, m, _ string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{m}, "kind": "positive"}
		}, "u1", 400, tutor.EINVALID},
		"empty item id": {func(th, _, _ string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{""}, "kind": "positive"}
		}, "u1", 400, tutor.EINVALID},
		"no such item": {func(th, _, _ string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{"msg_nope"}, "kind": "positive"}
		}, "u1", 404, tutor.ENOTFOUND},
		"another's thread": {func(th, _, a string) map[string]any {
			return map[string]any{"thread_id": th, "item_ids": []string{a}, "kind": "positive"}
		}, "u2", 404, tutor.ENOTFOUND},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{Responder: sourced{}})
			thread, msg, answer := e.started(t, "u1")
			wantRefused(t, e.do(t, tc.user, req(protocol.ReqItemsFeedback, tc.params(thread, msg, answer))), tc.status, tc.code)
			if worst, _ := e.store.WorstSections(context.Background(), course, 10); len(worst) != 0 {
				t.Fatalf("refused feedback stored: %+v", worst)
			}
		})
	}
}

// A store that fails answers 503 (retryable), not 500, for every request.
func TestStoreFailureIsUnavailable(t *testing.T) {
	e := newEnv(t, Config{})
	thread, msg, answer := e.started(t, "u1")
	e.store.Fail = func(context.Context, string) error { return syscall.ECONNRESET }
	for _, r := range []map[string]any{
		req(protocol.ReqThreadsGetByID, map[string]any{"thread_id": thread}),
		req(protocol.ReqThreadsList, nil),
		req(protocol.ReqItemsList, map[string]any{"thread_id": thread}),
		req(protocol.ReqThreadsUpdate, map[string]any{"thread_id": thread, "title": "x"}),
		req(protocol.ReqThreadsDelete, map[string]any{"thread_id": thread}),
		req(protocol.ReqItemsFeedback, map[string]any{"thread_id": thread, "item_ids": []string{answer}, "kind": "positive"}),
		add(thread, "hi"),
		retry(thread, msg),
	} {
		res := e.do(t, "u1", r)
		wantRefused(t, res, http.StatusServiceUnavailable, tutor.EUNAVAILABLE)
		if res.body["allow_retry"] != true || res.header.Get("Retry-After") != "5" {
			t.Fatalf("%s: %v %v", r["type"], res.body, res.header)
		}
	}
}
