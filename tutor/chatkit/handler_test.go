package chatkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
	"github.com/learnplatform/platform/tutor/memstore"
)

// These tests drive the endpoint over HTTP (httptest) against the
// in-memory stores (tutor/memstore), with a Responder the test controls.

const course = "go-basics"

// env is one handler on a test server. Requests name their caller with
// X-Test-User (and X-Test-Role), standing in for kit/token's middleware.
type env struct {
	store *memstore.Store
	h     *Handler
	srv   *httptest.Server
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvWith is newEnv with a Responder made over the env's store (nil:
// cfg.Responder, else echo).
func newEnvWith(t *testing.T, cfg Config, responder func(*memstore.Store) tutor.Responder) *env {
	t.Helper()
	store := memstore.New()
	_, err := store.Ingest(context.Background(), []tutor.Lesson{
		{Course: course, Lesson: "values", Stage: 1, Title: "Values", Body: "zero values",
			Sections: []tutor.Section{{Heading: "Zero values", Anchor: "zero-values", Text: "The zero value of int is 0."}}},
		{Course: course, Lesson: "funcs", Stage: 2, Title: "Functions", Body: "functions",
			Sections: []tutor.Section{{Heading: "Functions", Anchor: "functions", Text: "Functions take values."}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Threads, cfg.Courses, cfg.Reports = store, store, store
	if cfg.DailyMessages == 0 {
		cfg.DailyMessages = 20
	}
	cfg.MaxMessageBytes, cfg.MaxPageSize = 8192, 100
	if responder != nil {
		cfg.Responder = responder(store)
	}
	if cfg.Responder == nil {
		cfg.Responder = echo{}
	}
	h := New(cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := token.User{User: account.User{ID: r.Header.Get("X-Test-User"), EmailVerified: true, Role: r.Header.Get("X-Test-Role")}}
		if u.Role == "" {
			u.Role = account.RoleStudent
		}
		h.ServeHTTP(w, r.WithContext(token.WithUser(r.Context(), u)))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // first: answers still running end before the server closes
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Shutdown(ctx)
	})
	return &env{store: store, h: h, srv: srv}
}

// echo answers at once.
type echo struct{}

func (echo) Respond(_ context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	w.Text("About " + t.Question + ": what do you think?")
	return nil
}

// gate is a Responder whose answers wait until the test lets them go
// (release) or their context ends.
type gate struct {
	started chan string
	release chan error
}

func newGate() *gate { return &gate{started: make(chan string, 100), release: make(chan error, 100)} }

func (g *gate) Respond(ctx context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	g.started <- t.Question
	select {
	case err := <-g.release:
		if err != nil {
			return err
		}
		w.Text("Answer to " + t.Question)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait returns the questions of the next n answers to start.
func (g *gate) wait(t *testing.T, n int) []string {
	t.Helper()
	var qs []string
	for range n {
		select {
		case q := <-g.started:
			qs = append(qs, q)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d answers started", len(qs), n)
		}
	}
	return qs
}

func create(text string, md map[string]any) map[string]any {
	req := map[string]any{"type": protocol.ReqThreadsCreate, "params": map[string]any{"input": input(text)}}
	if md != nil {
		req["metadata"] = md
	}
	return req
}

func add(thread, text string) map[string]any {
	return map[string]any{"type": protocol.ReqThreadsAddUserMessage, "params": map[string]any{"thread_id": thread, "input": input(text)}}
}

func retry(thread, item string) map[string]any {
	return map[string]any{"type": protocol.ReqThreadsRetryAfterItem, "params": map[string]any{"thread_id": thread, "item_id": item}}
}

func input(text string) map[string]any {
	return map[string]any{"content": []any{map[string]any{"type": "input_text", "text": text}}, "attachments": []any{}, "inference_options": map[string]any{}}
}

// open sends a request and returns the response with its body unread.
func (e *env) open(ctx context.Context, t *testing.T, user string, req map[string]any, role ...string) *http.Response {
	t.Helper()
	b, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Test-User", user)
	if len(role) > 0 {
		r.Header.Set("X-Test-Role", role[0])
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// result is a whole response: a JSON body or the stream's events.
type result struct {
	status int
	header http.Header
	body   map[string]any
	events []map[string]any
}

func (e *env) do(t *testing.T, user string, req map[string]any, role ...string) result {
	t.Helper()
	return read(t, e.open(context.Background(), t, user, req, role...))
}

func read(t *testing.T, res *http.Response) result {
	t.Helper()
	defer res.Body.Close()
	out := result{status: res.StatusCode, header: res.Header}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(b, &out.body); err != nil {
			t.Fatalf("%d %s: %v", res.StatusCode, b, err)
		}
		return out
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev map[string]any
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("event %q: %v", data, err)
			}
			out.events = append(out.events, ev)
		}
	}
	return out
}

func (r result) find(typ string) map[string]any {
	for _, ev := range r.events {
		if ev["type"] == typ {
			return ev
		}
	}
	return nil
}

func (r result) threadID(t *testing.T) string {
	t.Helper()
	ev := r.find(protocol.EvThreadCreated)
	if ev == nil {
		t.Fatalf("no thread.created: %d %v %v", r.status, r.body, r.events)
	}
	return ev["thread"].(map[string]any)["id"].(string)
}

// doneItem returns the first thread.item.done of the given item type.
func (r result) doneItem(typ string) map[string]any {
	for _, ev := range r.events {
		if ev["type"] == protocol.EvItemDone && ev["item"].(map[string]any)["type"] == typ {
			return ev["item"].(map[string]any)
		}
	}
	return nil
}

// wantRefused checks a refusal's status, codes and Retry-After.
func wantRefused(t *testing.T, r result, status int, code string) {
	t.Helper()
	if r.status != status || r.body == nil {
		t.Fatalf("want %d %s, got %d %v %v", status, code, r.status, r.body, r.events)
	}
	errObj, _ := r.body["error"].(map[string]any)
	if r.body["type"] != "error" || r.body["code"] != "custom" || errObj["code"] != code || r.body["message"] == "" || errObj["message"] != r.body["message"] {
		t.Fatalf("not the protocol's error shape with code %s: %v", code, r.body)
	}
	if status == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("429 without a Retry-After: %v", r.header)
		}
	}
}

func (e *env) items(t *testing.T, thread string) []tutor.Item { return e.store.ThreadItems(thread) }

func (e *env) counted(user string) int { return e.store.Counted(user, tutor.QuotaWindow) }

// waitFree waits until no answer of user holds a slot (an answer whose
// client left ends on its own).
func (e *env) waitFree(t *testing.T, user string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		total, mine := e.h.slots.inFlight(user)
		if mine == 0 && total == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots still taken: %d in all, %d of %s", total, mine, user)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStreamsClosed waits until no stream is open (tutor_open_streams 0):
// every request has returned, whatever its answer is doing.
func (e *env) waitStreamsClosed(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var m dto.Metric
		if err := e.h.metrics.openStreams.Write(&m); err != nil {
			t.Fatal(err)
		}
		if m.GetGauge().GetValue() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v streams still open", m.GetGauge().GetValue())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// --- A. a retry is a message ---

// 30 retries of one message: the first 19 pass (the thread's first
// message was the 1st of 20), each charged; from then on 429 with the
// quota body and Retry-After, and nothing deleted.
func TestRetryCountsAgainstTheQuota(t *testing.T) {
	e := newEnv(t, Config{})
	first := e.do(t, "u1", create("What is a constant?", map[string]any{"course": course}))
	thread := first.threadID(t)
	msg := first.doneItem(tutor.ItemUserMessage)["id"].(string)
	if e.counted("u1") != 1 {
		t.Fatalf("counted %d after the first message", e.counted("u1"))
	}
	var lastAnswer string
	for i := range 30 {
		r := e.do(t, "u1", retry(thread, msg))
		if i < 19 {
			if r.status != http.StatusOK || r.doneItem(tutor.ItemAssistantMessage) == nil {
				t.Fatalf("retry %d: %d %v", i+1, r.status, r.body)
			}
			lastAnswer = r.doneItem(tutor.ItemAssistantMessage)["id"].(string)
			if got := e.counted("u1"); got != i+2 {
				t.Fatalf("retry %d: %d counted, want %d", i+1, got, i+2)
			}
			remaining := 20 - (i + 2)
			if n := r.find(protocol.EvNotice); (remaining <= 3) != (n != nil) {
				t.Fatalf("retry %d (%d left): notice %v", i+1, remaining, n)
			}
			continue
		}
		wantRefused(t, r, http.StatusTooManyRequests, tutor.ERATELIMITED)
		if r.body["limit"] != float64(20) || r.body["remaining"] != float64(0) || r.body["resets_at"] == nil || r.body["allow_retry"] == true {
			t.Fatalf("429 body: %v", r.body)
		}
	}
	if got := e.counted("u1"); got != 20 {
		t.Fatalf("%d counted, want 20", got)
	}
	qs, _ := e.store.QuotaState(context.Background(), "u1", tutor.Quota{Limit: 20, Window: tutor.QuotaWindow})
	if qs.Remaining != 0 {
		t.Fatalf("quota state %+v", qs)
	}
	// The refused retries deleted nothing: the last answer is still there.
	items := e.items(t, thread)
	if len(items) != 2 || items[0].ID != msg || items[1].ID != lastAnswer {
		t.Fatalf("items after refused retries: %+v", items)
	}
	// A new message is refused the same way.
	wantRefused(t, e.do(t, "u1", add(thread, "and now?")), http.StatusTooManyRequests, tutor.ERATELIMITED)
}

func TestRetryRefusalsCostNothing(t *testing.T) {
	e := newEnv(t, Config{DailyMessages: 5})
	first := e.do(t, "u1", create("What is a constant?", map[string]any{"course": course}))
	thread := first.threadID(t)
	msg := first.doneItem(tutor.ItemUserMessage)["id"].(string)
	answer := first.doneItem(tutor.ItemAssistantMessage)["id"].(string)

	wantRefused(t, e.do(t, "u1", retry(thread, answer)), http.StatusBadRequest, tutor.EINVALID)
	wantRefused(t, e.do(t, "u2", retry(thread, msg)), http.StatusNotFound, tutor.ENOTFOUND)
	wantRefused(t, e.do(t, "u1", retry(thread, "msg_nope")), http.StatusNotFound, tutor.ENOTFOUND)
	if e.counted("u1") != 1 || e.counted("u2") != 0 {
		t.Fatalf("refused retries were counted: u1 %d, u2 %d", e.counted("u1"), e.counted("u2"))
	}
	// Staff are exempt for retries as for messages.
	staff := e.do(t, "boss", create("hello", map[string]any{"course": course}), account.RoleInstructor)
	sm := staff.doneItem(tutor.ItemUserMessage)["id"].(string)
	for range 7 {
		if r := e.do(t, "boss", retry(staff.threadID(t), sm), account.RoleInstructor); r.status != http.StatusOK {
			t.Fatalf("staff retry: %d %v", r.status, r.body)
		}
	}
	if e.counted("boss") != 0 {
		t.Fatalf("staff retries counted: %d", e.counted("boss"))
	}
}

// Retries racing each other and new messages: exactly the quota passes.
func TestRetriesAndMessagesShareTheQuotaExactly(t *testing.T) {
	e := newEnv(t, Config{DailyMessages: 6, MaxAnswersPerUser: 64, MaxAnswers: 64})
	first := e.do(t, "u1", create("What is a constant?", map[string]any{"course": course}))
	thread := first.threadID(t)
	msg := first.doneItem(tutor.ItemUserMessage)["id"].(string)
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := retry(thread, msg)
			if i%2 == 0 {
				req = add(thread, fmt.Sprintf("question %d", i))
			}
			statuses[i] = e.do(t, "u1", req).status
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d", s)
		}
	}
	if ok != 5 || e.counted("u1") != 6 {
		t.Fatalf("%d passed, %d counted; want 5 and 6", ok, e.counted("u1"))
	}
}

// --- B. answers in flight ---

func TestThirdAnswerOfAUserIsRefused(t *testing.T) {
	g := newGate()
	e := newEnv(t, Config{Responder: g})
	ctx := context.Background()
	r1 := e.open(ctx, t, "u1", create("first question", map[string]any{"course": course}))
	r2 := e.open(ctx, t, "u1", create("second question", map[string]any{"course": course}))
	if r1.StatusCode != http.StatusOK || r2.StatusCode != http.StatusOK {
		t.Fatalf("%d %d", r1.StatusCode, r2.StatusCode)
	}
	g.wait(t, 2)
	threads := e.store.UserThreads("u1")
	if len(threads) != 2 || e.counted("u1") != 2 {
		t.Fatalf("threads %v, counted %d", threads, e.counted("u1"))
	}
	before := map[string]int{}
	for _, th := range threads {
		before[th] = len(e.items(t, th))
	}
	msg := e.items(t, threads[0])[0].ID

	// A third, in any of the three forms: 429 busy, nothing stored or counted.
	for name, req := range map[string]map[string]any{
		"create": create("third question", map[string]any{"course": course}),
		"add":    add(threads[0], "third question"),
		"retry":  retry(threads[0], msg),
	} {
		r := e.do(t, "u1", req)
		wantRefused(t, r, http.StatusTooManyRequests, tutor.EBUSY)
		if r.body["allow_retry"] != true || r.body["limit"] != nil || !strings.Contains(r.body["message"].(string), "2 of your answers") {
			t.Fatalf("%s: %v", name, r.body)
		}
	}
	if got := e.store.UserThreads("u1"); len(got) != 2 || e.counted("u1") != 2 {
		t.Fatalf("a refused request stored or counted: threads %v, counted %d", got, e.counted("u1"))
	}
	for th, n := range before {
		if got := len(e.items(t, th)); got != n {
			t.Fatalf("thread %s: %d items, was %d", th, got, n)
		}
	}
	// Another learner is not held up by u1.
	r3 := e.open(ctx, t, "u2", create("my question", map[string]any{"course": course}))
	if r3.StatusCode != http.StatusOK {
		t.Fatalf("u2: %d", r3.StatusCode)
	}
	g.wait(t, 1)

	// Slots come back when answers finish: after one, u1 may ask again.
	g.release <- nil
	g.release <- nil
	g.release <- nil
	for _, r := range []*http.Response{r1, r2, r3} {
		if res := read(t, r); res.doneItem(tutor.ItemAssistantMessage) == nil {
			t.Fatalf("no answer: %v", res.events)
		}
	}
	if total, mine := e.h.slots.inFlight("u1"); total != 0 || mine != 0 {
		t.Fatalf("slots taken after the streams ended: %d, %d", total, mine)
	}
	g.release <- nil
	if r := e.do(t, "u1", add(threads[0], "next question")); r.status != http.StatusOK || r.doneItem(tutor.ItemAssistantMessage) == nil {
		t.Fatalf("after the answers ended: %d %v", r.status, r.body)
	}
	g.wait(t, 1)
}

func TestGlobalCap(t *testing.T) {
	g := newGate()
	e := newEnv(t, Config{Responder: g, MaxAnswersPerUser: 2, MaxAnswers: 3})
	ctx := context.Background()
	var open []*http.Response
	for _, u := range []string{"u1", "u1", "u2"} {
		r := e.open(ctx, t, u, create("question of "+u, map[string]any{"course": course}))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", u, r.StatusCode)
		}
		open = append(open, r)
	}
	g.wait(t, 3)
	r := e.do(t, "u3", create("question of u3", map[string]any{"course": course}))
	wantRefused(t, r, http.StatusTooManyRequests, tutor.EBUSY)
	if !strings.Contains(r.body["message"].(string), "as many questions as it can") {
		t.Fatalf("message: %v", r.body)
	}
	if len(e.store.UserThreads("u3")) != 0 || e.counted("u3") != 0 {
		t.Fatal("a refused request stored or counted something")
	}
	// Exempt staff are capped too: the cap protects the model and the pool.
	wantRefused(t, e.do(t, "boss", create("staff question", nil), account.RoleAdmin), http.StatusTooManyRequests, tutor.EBUSY)

	// One answer ends (whichever): its slot lets u3 in.
	g.release <- nil
	deadline := time.Now().Add(5 * time.Second)
	for total, _ := e.h.slots.inFlight(""); total != 2; total, _ = e.h.slots.inFlight("") {
		if time.Now().After(deadline) {
			t.Fatalf("%d answers in flight after one ended", total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r4 := e.open(ctx, t, "u3", create("question of u3", map[string]any{"course": course}))
	if r4.StatusCode != http.StatusOK {
		t.Fatalf("after a slot came back: %d", r4.StatusCode)
	}
	g.wait(t, 1)
	for range 3 {
		g.release <- nil
	}
	for _, r := range append(open, r4) {
		if res := read(t, r); res.doneItem(tutor.ItemAssistantMessage) == nil {
			t.Fatalf("no answer: %v", res.events)
		}
	}
	if total, _ := e.h.slots.inFlight(""); total != 0 {
		t.Fatalf("%d slots taken after every stream ended", total)
	}
}

// A client that leaves does not stop its answer (it is stored when it
// ends), so the slot stays taken until then, and comes back then.
func TestSlotOfAnAbandonedStreamComesBackWhenItsAnswerEnds(t *testing.T) {
	g := newGate()
	e := newEnv(t, Config{Responder: g, MaxAnswersPerUser: 1})
	ctx, leave := context.WithCancel(context.Background())
	res := e.open(ctx, t, "u1", create("a question", map[string]any{"course": course}))
	g.wait(t, 1)
	leave()
	res.Body.Close()
	e.waitStreamsClosed(t) // the handler saw the client leave
	if _, mine := e.h.slots.inFlight("u1"); mine != 1 {
		t.Fatalf("the slot was given back while the answer is still being written (%d)", mine)
	}
	wantRefused(t, e.do(t, "u1", create("again", nil)), http.StatusTooManyRequests, tutor.EBUSY)
	g.release <- nil
	e.waitFree(t, "u1")
	thread := e.store.UserThreads("u1")[0]
	if items := e.items(t, thread); len(items) != 2 || items[1].Type != tutor.ItemAssistantMessage {
		t.Fatalf("the abandoned answer was not stored: %+v", items)
	}
	g.release <- nil
	if r := e.do(t, "u1", add(thread, "next")); r.status != http.StatusOK {
		t.Fatalf("after the answer ended: %d %v", r.status, r.body)
	}
	g.wait(t, 1)
}

// Slots come back when an answer fails, times out or is cancelled by a
// shutdown, and when a request fails before its answer starts.
func TestSlotsComeBackHoweverAnswersEnd(t *testing.T) {
	t.Run("failed", func(t *testing.T) {
		g := newGate()
		e := newEnv(t, Config{Responder: g, MaxAnswersPerUser: 1})
		res := e.open(context.Background(), t, "u1", create("q", map[string]any{"course": course}))
		g.wait(t, 1)
		g.release <- errors.New("model down")
		if r := read(t, res); r.find(protocol.EvError) == nil {
			t.Fatalf("no error event: %v", r.events)
		}
		e.waitFree(t, "u1")
	})
	t.Run("timed out", func(t *testing.T) {
		g := newGate()
		e := newEnv(t, Config{Responder: g, MaxAnswersPerUser: 1, AnswerTimeout: 100 * time.Millisecond})
		r := e.do(t, "u1", create("q", map[string]any{"course": course}))
		if ev := r.find(protocol.EvError); ev == nil || !strings.Contains(ev["message"].(string), "too long") {
			t.Fatalf("events %v", r.events)
		}
		e.waitFree(t, "u1")
	})
	t.Run("cancelled by shutdown", func(t *testing.T) {
		g := newGate()
		e := newEnv(t, Config{Responder: g, MaxAnswersPerUser: 1})
		res := e.open(context.Background(), t, "u1", create("q", map[string]any{"course": course}))
		g.wait(t, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // no grace: cancel the answers now
		e.h.Shutdown(ctx)
		read(t, res)
		e.waitFree(t, "u1")
	})
	t.Run("refused before the answer", func(t *testing.T) {
		e := newEnv(t, Config{MaxAnswersPerUser: 1})
		wantRefused(t, e.do(t, "u1", add("thr_nope", "q")), http.StatusNotFound, tutor.ENOTFOUND)
		wantRefused(t, e.do(t, "u1", map[string]any{"type": protocol.ReqThreadsCreate, "params": map[string]any{}}), http.StatusBadRequest, tutor.EINVALID)
		e.waitFree(t, "u1")
		if r := e.do(t, "u1", create("q", map[string]any{"course": course})); r.status != http.StatusOK {
			t.Fatalf("%d %v", r.status, r.body)
		}
		e.waitFree(t, "u1")
	})
	t.Run("store fails", func(t *testing.T) {
		e := newEnv(t, Config{MaxAnswersPerUser: 1})
		e.store.Fail = func(_ context.Context, method string) error {
			if method == "CreateThread" {
				return errors.New("conn closed")
			}
			return nil
		}
		wantRefused(t, e.do(t, "u1", create("q", map[string]any{"course": course})), http.StatusServiceUnavailable, tutor.EUNAVAILABLE)
		e.waitFree(t, "u1")
	})
}

func TestSlotsUnit(t *testing.T) {
	s := newSlots(2, 3)
	r1, err1 := s.acquire("a")
	r2, err2 := s.acquire("a")
	_, err3 := s.acquire("a")
	if err1 != nil || err2 != nil || tutor.ErrorCode(err3) != tutor.EBUSY {
		t.Fatal(err1, err2, err3)
	}
	r4, _ := s.acquire("b")
	if _, err := s.acquire("c"); tutor.ErrorCode(err) != tutor.EBUSY {
		t.Fatal(err)
	}
	r1()
	r1() // twice gives back once
	if total, a := s.inFlight("a"); total != 2 || a != 1 {
		t.Fatalf("%d %d", total, a)
	}
	r2()
	r4()
	if total, _ := s.inFlight("a"); total != 0 || len(s.byUser) != 0 {
		t.Fatalf("%d %v", total, s.byUser)
	}
}
