// Package tutor tests the tutor on the real stack in course-material mode
// (no model configured, as `make run` starts it): the ChatKit protocol's
// request types and framing, ownership, pagination, bad input, the rate
// limit under concurrency, enrollments and stages, feedback, usage and
// retention, against the real PostgreSQL. The model-backed answers are
// tested in e2e/tutor/model against a scripted OpenAI-compatible server.
package tutor

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/tutor/internal/ck"
	"github.com/learnplatform/platform/tutor/postgres"
)

func TestMain(m *testing.M) {
	// Course-material mode: whatever the developer's shell says.
	for _, k := range []string{"TUTOR_MODEL_BASE_URL", "TUTOR_MODEL_NAME", "TUTOR_MODEL_API_KEY", "TUTOR_DAILY_MESSAGES"} {
		os.Unsetenv(k)
	}
	// TestRateLimitIsExactUnderConcurrency sends 100 messages of one learner
	// at once to check the quota counts exactly; the answers-in-flight caps
	// (checked in tutor/chatkit) would refuse most of them first.
	os.Setenv("TUTOR_CONCURRENT_ANSWERS_PER_USER", "200")
	os.Setenv("TUTOR_CONCURRENT_ANSWERS", "200")
	e2etest.Main(m)
}

const course = "go-basics"

func metadata() map[string]any { return map[string]any{"course": course} }

// wantError checks a protocol-shaped error answer.
func wantError(t *testing.T, res *ck.Response, status int, code string) map[string]any {
	t.Helper()
	if res.Status != status {
		t.Fatalf("status %d, want %d: %s", res.Status, status, res.Body)
	}
	m := res.Map(t)
	e, _ := m["error"].(map[string]any)
	if m["type"] != "error" || e == nil || e["code"] != code || e["message"] == "" || m["message"] != e["message"] {
		t.Fatalf("want a protocol error with error.code %q, got %s", code, res.Body)
	}
	return m
}

func db(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), e2etest.Need(t).DSN("platform"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// The acceptance path: a verified student asks about the sample course and
// gets a streamed course-material answer with a notice; the stream's
// framing and order are the reference server's.
func TestCreateThreadStreamsCourseMaterialAnswer(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	res := c.Do(t, ck.Create("What is the zero value of a variable?", metadata()))
	if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %s: %s", res.Status, res.Header.Get("Content-Type"), res.Body)
	}
	types := res.Types()
	want := []string{"thread.created", "thread.item.done", "stream_options"}
	if strings.Join(types[:3], ",") != strings.Join(want, ",") {
		t.Fatalf("stream starts %v, want %v", types, want)
	}
	if last := types[len(types)-1]; last != "thread.item.done" {
		t.Fatalf("stream ends with %s: %v", last, types)
	}
	for _, need := range []string{"notice", "progress_update", "thread.item.added", "thread.item.updated:added",
		"thread.item.updated:annotation_added", "thread.item.updated:text_delta", "thread.item.updated:done"} {
		if !contains(types, need) {
			t.Fatalf("no %s in %v", need, types)
		}
	}
	notice := res.Find("notice")
	if !strings.Contains(notice["message"].(string), "No language model is configured") {
		t.Fatalf("the answer must say no model is configured: %v", notice)
	}
	th := res.Find("thread.created")["thread"].(map[string]any)
	if th["status"].(map[string]any)["type"] != "active" || th["title"] == "" {
		t.Fatalf("thread %v", th)
	}
	items := res.DoneItems()
	if items[0]["type"] != "user_message" || items[len(items)-1]["type"] != "assistant_message" {
		t.Fatalf("done items %v", items)
	}
	text := res.Text()
	if !strings.Contains(text, "Zero values") || !strings.Contains(text, "zero value of int is 0") {
		t.Fatalf("answer does not quote the lesson:\n%s", text)
	}
	answer := items[len(items)-1]
	content := answer["content"].([]any)[0].(map[string]any)
	if content["text"] != text {
		t.Fatalf("done item text differs from the deltas:\n%q\n%q", content["text"], text)
	}
	anns := content["annotations"].([]any)
	src := anns[0].(map[string]any)["source"].(map[string]any)
	if src["type"] != "url" || !strings.HasSuffix(src["url"].(string), "courses/go-basics/values-and-variables#zero-values") {
		t.Fatalf("first source %v", src)
	}

	// Reload: the thread has the question and the answer, in order.
	id := res.ThreadID(t)
	got := c.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id}))
	if got.Status != 200 {
		t.Fatalf("get: %d %s", got.Status, got.Body)
	}
	var thread struct {
		ID       string         `json:"id"`
		Title    string         `json:"title"`
		Metadata map[string]any `json:"metadata"`
		Items    struct {
			Data []map[string]any `json:"data"`
		} `json:"items"`
	}
	got.JSON(t, &thread)
	if thread.ID != id || len(thread.Items.Data) != 2 || thread.Items.Data[1]["id"] != answer["id"] || thread.Metadata["course"] != course {
		t.Fatalf("reloaded thread: %s", got.Body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Stage access: material above the learner's unlocked stage never comes
// back; completing a stage unlocks the next.
func TestStagesLimitTheMaterial(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	res := c.Do(t, ck.Create("How does a switch statement fall through?", metadata()))
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if text := res.Text(); strings.Contains(text, "Switch") || strings.Contains(text, "stage 2") {
		t.Fatalf("stage 2 material reached a stage 1 learner:\n%s", text)
	}
	id := res.ThreadID(t)

	// Only the current stage can be completed, and only by the learner.
	if r := c.Call(t, "POST", "api/v1/courses/go-basics/stages/2/complete", nil); r.Status != 409 {
		t.Fatalf("completing a locked stage: %d %s", r.Status, r.Body)
	}
	r := c.Call(t, "POST", "api/v1/courses/go-basics/stages/1/complete", nil)
	if r.Status != 200 || r.Map(t)["unlocked_stage"] != float64(2) {
		t.Fatalf("complete stage 1: %d %s", r.Status, r.Body)
	}
	res = c.Do(t, ck.Add(id, "How does a switch statement fall through?"))
	if text := res.Text(); !strings.Contains(text, "Switch") || strings.Contains(text, "Functions and errors") {
		t.Fatalf("after unlocking stage 2 the answer should quote Switch and nothing of stage 3:\n%s", text)
	}

	// Staff set stages; students may not.
	if r := c.Call(t, "PUT", "api/v1/admin/enrollments/"+l.ID+"/go-basics", map[string]any{"unlocked_stage": 3}); r.Status != 403 {
		t.Fatalf("student setting a stage: %d %s", r.Status, r.Body)
	}
	staff := ck.For(t, ck.Verified(t, "instructor"))
	r = staff.Call(t, "PUT", "api/v1/admin/enrollments/"+l.ID+"/go-basics", map[string]any{"unlocked_stage": 3})
	if r.Status != 200 || r.Map(t)["unlocked_stage"] != float64(3) {
		t.Fatalf("instructor setting a stage: %d %s", r.Status, r.Body)
	}
	me := c.Get(t, "api/v1/me").Map(t)
	if e := me["enrollments"].([]any)[0].(map[string]any); e["course"] != course || e["unlocked_stage"] != float64(3) {
		t.Fatalf("me: %v", me)
	}
}

// Another user's thread is 404 for every request type, and costs nothing.
func TestOtherUsersThreadsAreNotFound(t *testing.T) {
	alice := ck.Verified(t, "")
	owner := ck.For(t, alice)
	res := owner.Do(t, ck.Create("What is a constant?", metadata()))
	id := res.ThreadID(t)
	items := res.DoneItems()
	msgID, answerID := items[0]["id"].(string), items[len(items)-1]["id"].(string)

	bob := ck.For(t, ck.Verified(t, ""))
	before := bob.Get(t, "api/v1/me").Map(t)["remaining"]
	for name, req := range map[string]map[string]any{
		"get":      ck.Req("threads.get_by_id", map[string]any{"thread_id": id}),
		"add":      ck.Add(id, "hello"),
		"items":    ck.Req("items.list", map[string]any{"thread_id": id}),
		"update":   ck.Req("threads.update", map[string]any{"thread_id": id, "title": "mine now"}),
		"delete":   ck.Req("threads.delete", map[string]any{"thread_id": id}),
		"retry":    ck.Req("threads.retry_after_item", map[string]any{"thread_id": id, "item_id": msgID}),
		"feedback": ck.Req("items.feedback", map[string]any{"thread_id": id, "item_ids": []string{answerID}, "kind": "negative"}),
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, bob.Do(t, req), 404, "not_found")
		})
	}
	if after := bob.Get(t, "api/v1/me").Map(t)["remaining"]; after != before {
		t.Fatalf("a refused message cost a message: %v → %v", before, after)
	}
	// Identity headers are ignored: only the token says who calls.
	spoof := bob.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id}), "X-User-Id", alice.ID)
	wantError(t, spoof, 404, "not_found")
	// The owner still has it, untouched.
	got := owner.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id}))
	if got.Status != 200 || strings.Contains(string(got.Body), "mine now") {
		t.Fatalf("owner's thread: %d %s", got.Status, got.Body)
	}
}

func TestAuthentication(t *testing.T) {
	base := e2etest.Need(t).URL("tutor")
	t.Run("no token", func(t *testing.T) {
		res := ck.New(base, "").Do(t, ck.Req("threads.list", nil))
		wantError(t, res, 401, "unauthenticated")
		if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("no challenge: %v", res.Header)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		res := ck.New(base, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").Do(t, ck.Req("threads.list", nil))
		wantError(t, res, 401, "invalid_token")
	})
	t.Run("unverified email", func(t *testing.T) {
		c := ck.New(base, ck.Unverified(t))
		res := c.Do(t, ck.Create("hello", metadata()))
		m := wantError(t, res, 403, "email_not_verified")
		if !strings.Contains(m["message"].(string), "verify your email") {
			t.Fatalf("message should ask to verify: %v", m)
		}
		me := c.Get(t, "api/v1/me")
		if me.Status != 200 || me.Map(t)["email_verified"] != false {
			t.Fatalf("/me for an unverified user: %d %s", me.Status, me.Body)
		}
	})
}

func TestBadInputIsAProtocolError(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	id := c.Do(t, ck.Create("What is a variable?", metadata())).ThreadID(t)
	threadsBefore := len(listThreads(t, c))
	big := strings.Repeat("x", 8193)
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"invalid JSON", `{"type": "threads.list",`, 400, "invalid"},
		{"not an object", `[1,2]`, 400, "invalid"},
		{"trailing data", `{"type":"threads.list","params":{}} {}`, 400, "invalid"},
		{"no type", `{"params":{}}`, 400, "invalid"},
		{"unknown type", ck.Req("threads.explode", nil), 400, "invalid"},
		{"attachments", ck.Req("attachments.create", map[string]any{"name": "a", "size": 1, "mime_type": "text/plain"}), 400, "unsupported"},
		{"transcription", ck.Req("input.transcribe", map[string]any{"audio_base64": "", "mime_type": "audio/webm"}), 400, "unsupported"},
		{"message over 8 KB", ck.Create(big, metadata()), 413, "too_large"},
		{"added message over 8 KB", ck.Add(id, big), 413, "too_large"},
		{"body far too large", ck.Create(strings.Repeat("y", 200000), metadata()), 413, "too_large"},
		{"empty message", ck.Create("   ", metadata()), 400, "invalid"},
		{"no input", ck.Req("threads.create", map[string]any{}), 400, "invalid"},
		{"attachment ids", map[string]any{"type": "threads.create", "params": map[string]any{"input": map[string]any{
			"content": []any{map[string]any{"type": "input_text", "text": "hi"}}, "attachments": []string{"atc_1"}, "inference_options": map[string]any{}}}}, 400, "unsupported"},
		{"page too large", ck.Req("items.list", map[string]any{"thread_id": id, "limit": 201}), 400, "invalid"},
		{"negative limit", ck.Req("threads.list", map[string]any{"limit": -1}), 400, "invalid"},
		{"bad order", ck.Req("threads.list", map[string]any{"order": "sideways"}), 400, "invalid"},
		{"unknown cursor", ck.Req("items.list", map[string]any{"thread_id": id, "after": "msg_nope"}), 400, "invalid"},
		{"missing thread id", ck.Req("items.list", map[string]any{}), 400, "invalid"},
		{"wrong param type", ck.Req("items.list", map[string]any{"thread_id": 42}), 400, "invalid"},
		{"bad feedback kind", ck.Req("items.feedback", map[string]any{"thread_id": id, "item_ids": []string{"x"}, "kind": "meh"}), 400, "invalid"},
		{"unknown course", ck.Create("hi", map[string]any{"course": "no-such-course"}), 404, "not_found"},
		{"bad metadata", map[string]any{"type": "threads.create", "params": map[string]any{"input": ck.Text("hi")}, "metadata": "x"}, 400, "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, c.Do(t, tc.body), tc.status, tc.code)
		})
	}
	if after := len(listThreads(t, c)); after != threadsBefore {
		t.Fatalf("bad input left threads behind: %d → %d", threadsBefore, after)
	}
	if remaining := c.Get(t, "api/v1/me").Map(t)["remaining"]; remaining != float64(19) {
		t.Fatalf("bad input cost messages: remaining %v, want 19", remaining)
	}
}

func listThreads(t *testing.T, c *ck.Client) []any {
	t.Helper()
	res := c.Do(t, ck.Req("threads.list", map[string]any{"limit": 200}))
	if res.Status != 200 {
		t.Fatalf("threads.list: %d %s", res.Status, res.Body)
	}
	return res.Map(t)["data"].([]any)
}

// 100 messages at once from many connections: exactly 20 pass.
func TestRateLimitIsExactUnderConcurrency(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	id := c.Do(t, ck.Create("What is a constant?", metadata())).ThreadID(t) // message 1
	c.HTTP = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 100}}
	const n = 100
	var wg sync.WaitGroup
	results := make([]*ck.Response, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var req map[string]any
			if i%4 == 0 { // new threads count too
				req = ck.Create(fmt.Sprintf("Question %d about constants", i), metadata())
			} else {
				req = ck.Add(id, fmt.Sprintf("Question %d about zero values", i))
			}
			results[i] = c.Do(t, req)
		}()
	}
	close(start)
	wg.Wait()
	ok, limited, notices := 0, 0, 0
	for _, r := range results {
		switch r.Status {
		case 200:
			ok++
			for _, e := range r.Events {
				if title := fmt.Sprint(e["title"]); e.Type() == "notice" && (strings.Contains(title, "left") || strings.Contains(title, "limit")) {
					notices++
				}
			}
		case 429:
			limited++
			m := wantError(t, r, 429, "rate_limited")
			if m["limit"] != float64(20) || m["remaining"] != float64(0) || m["resets_at"] == nil {
				t.Fatalf("429 body: %s", r.Body)
			}
			if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Fatalf("429 without Retry-After: %v", r.Header)
			}
		default:
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if ok != 19 || limited != 81 {
		t.Fatalf("%d passed and %d were limited; want exactly 19 (+1 earlier = 20) and 81", ok, limited)
	}
	if notices != 4 { // at 3, 2, 1 and 0 remaining
		t.Fatalf("%d quota notices, want 4", notices)
	}
	me := c.Get(t, "api/v1/me").Map(t)
	if me["remaining"] != float64(0) || me["limit"] != float64(20) || me["resets_at"] == nil || me["role"] != "student" {
		t.Fatalf("me: %v", me)
	}
	// The 21st message of the day, sequentially too.
	wantError(t, c.Do(t, ck.Add(id, "one more?")), 429, "rate_limited")

	// Staff are exempt.
	staff := ck.For(t, ck.Verified(t, "instructor"))
	if me := staff.Get(t, "api/v1/me").Map(t); me["exempt"] != true || me["remaining"] != nil {
		t.Fatalf("instructor me: %v", me)
	}
}

func TestInstructorsAreNotLimited(t *testing.T) {
	staff := ck.For(t, ck.Verified(t, "admin"))
	id := staff.Do(t, ck.Create("What is a constant?", metadata())).ThreadID(t)
	for i := range 22 {
		if res := staff.Do(t, ck.Add(id, fmt.Sprintf("again %d", i))); res.Status != 200 {
			t.Fatalf("message %d: %d %s", i+2, res.Status, res.Body)
		}
	}
}

// Keyset pagination by (created_at, id), both orders, with after.
func TestPagination(t *testing.T) {
	c := ck.For(t, ck.Verified(t, "instructor"))
	id := c.Do(t, ck.Create("What is a variable?", metadata())).ThreadID(t)
	for i := range 5 {
		if res := c.Do(t, ck.Add(id, fmt.Sprintf("And what about step %d?", i))); res.Status != 200 {
			t.Fatal(res.Status)
		}
	}
	all := pageThrough(t, c, id, "asc", 200)
	if len(all) != 12 {
		t.Fatalf("%d items, want 12 (6 questions, 6 answers)", len(all))
	}
	for i, it := range all {
		want := "user_message"
		if i%2 == 1 {
			want = "assistant_message"
		}
		if it["type"] != want {
			t.Fatalf("item %d is %v, want %s", i, it["type"], want)
		}
	}
	for _, size := range []int{1, 5, 7} {
		asc := pageThrough(t, c, id, "asc", size)
		desc := pageThrough(t, c, id, "desc", size)
		for i := range all {
			if asc[i]["id"] != all[i]["id"] || desc[len(desc)-1-i]["id"] != all[i]["id"] {
				t.Fatalf("page size %d: order differs at %d", size, i)
			}
		}
	}
	// Threads too.
	for range 2 {
		c.Do(t, ck.Create("Another question about constants", metadata()))
	}
	first := c.Do(t, ck.Req("threads.list", map[string]any{"limit": 2}))
	var p struct {
		Data []struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"data"`
		HasMore bool   `json:"has_more"`
		After   string `json:"after"`
	}
	first.JSON(t, &p)
	if len(p.Data) != 2 || !p.HasMore || p.After != p.Data[1].ID || !p.Data[0].CreatedAt.After(p.Data[1].CreatedAt) {
		t.Fatalf("first page of threads: %s", first.Body)
	}
	next := c.Do(t, ck.Req("threads.list", map[string]any{"limit": 2, "after": p.After}))
	var p2 struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	next.JSON(t, &p2)
	if len(p2.Data) == 0 || p2.Data[0].ID == p.Data[1].ID {
		t.Fatalf("second page repeats or is empty: %s", next.Body)
	}
}

func pageThrough(t *testing.T, c *ck.Client, id, order string, size int) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	for range 100 {
		params := map[string]any{"thread_id": id, "limit": size, "order": order}
		if after != "" {
			params["after"] = after
		}
		res := c.Do(t, ck.Req("items.list", params))
		var p struct {
			Data    []map[string]any `json:"data"`
			HasMore bool             `json:"has_more"`
			After   string           `json:"after"`
		}
		res.JSON(t, &p)
		if len(p.Data) > size {
			t.Fatalf("page of %d with limit %d", len(p.Data), size)
		}
		out = append(out, p.Data...)
		if !p.HasMore {
			return out
		}
		after = p.After
	}
	t.Fatal("pagination does not end")
	return nil
}

func TestUpdateAndDeleteThread(t *testing.T) {
	c := ck.For(t, ck.Verified(t, "instructor"))
	id := c.Do(t, ck.Create("What is a constant?", metadata())).ThreadID(t)
	res := c.Do(t, ck.Req("threads.update", map[string]any{"thread_id": id, "title": "Constants"}))
	if res.Status != 200 || res.Map(t)["title"] != "Constants" {
		t.Fatalf("update: %d %s", res.Status, res.Body)
	}
	if res := c.Do(t, ck.Req("threads.delete", map[string]any{"thread_id": id})); res.Status != 200 || string(res.Body) != "{}" {
		t.Fatalf("delete: %d %s", res.Status, res.Body)
	}
	wantError(t, c.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id})), 404, "not_found")
	var n int
	if err := db(t).QueryRow(context.Background(), `SELECT count(*) FROM tutor_items WHERE thread_id = $1`, id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("items left after delete: %d %v", n, err)
	}
}

func TestRetryAfterItemRegenerates(t *testing.T) {
	c := ck.For(t, ck.Verified(t, "instructor"))
	res := c.Do(t, ck.Create("What is a constant?", metadata()))
	id := res.ThreadID(t)
	items := res.DoneItems()
	msgID, oldAnswer := items[0]["id"].(string), items[len(items)-1]["id"].(string)

	wantError(t, c.Do(t, ck.Req("threads.retry_after_item", map[string]any{"thread_id": id, "item_id": oldAnswer})), 400, "invalid")
	retry := c.Do(t, ck.Req("threads.retry_after_item", map[string]any{"thread_id": id, "item_id": msgID}))
	if retry.Status != 200 || retry.Types()[0] != "stream_options" {
		t.Fatalf("retry: %d %v", retry.Status, retry.Types())
	}
	newAnswer := retry.DoneItems()[0]["id"]
	all := pageThrough(t, c, id, "asc", 50)
	if len(all) != 2 || all[0]["id"] != msgID || all[1]["id"] != newAnswer || newAnswer == oldAnswer {
		t.Fatalf("after retry: %v", all)
	}
}

// The page context is stored as a hidden item: kept, never shown.
func TestPageContextIsHiddenButKept(t *testing.T) {
	c := ck.For(t, ck.Verified(t, "instructor"))
	md := map[string]any{"course": course, "page": map[string]any{
		"url": "https://learn.example.org/go-basics/values", "title": "Values and variables", "headings": []string{"Zero values", "Constants"},
	}}
	req := ck.Create("Why is it zero?", md)
	req["params"].(map[string]any)["input"].(map[string]any)["quoted_text"] = "A variable declared without a value is not garbage"
	res := c.Do(t, req)
	id := res.ThreadID(t)
	if strings.Contains(string(res.Body), "hidden_context") {
		t.Fatal("the stream showed the hidden context")
	}
	user := res.DoneItems()[0]
	if user["quoted_text"] != "A variable declared without a value is not garbage" {
		t.Fatalf("quoted text not kept: %v", user)
	}
	for _, r := range []*ck.Response{
		c.Do(t, ck.Req("items.list", map[string]any{"thread_id": id})),
		c.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id})),
	} {
		if strings.Contains(string(r.Body), "hidden_context") || strings.Contains(string(r.Body), "learn.example.org") {
			t.Fatalf("hidden context shown: %s", r.Body)
		}
	}
	var payload string
	err := db(t).QueryRow(context.Background(), `SELECT payload::text FROM tutor_items WHERE thread_id = $1 AND type = 'hidden_context_item'`, id).Scan(&payload)
	if err != nil || !strings.Contains(payload, "learn.example.org/go-basics/values") || !strings.Contains(payload, "Zero values") {
		t.Fatalf("hidden context not stored: %v %s", err, payload)
	}
}

func TestFeedbackReachesAuthors(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	res := c.Do(t, ck.Create("What is the zero value of a string?", metadata()))
	id := res.ThreadID(t)
	items := res.DoneItems()
	answer := items[len(items)-1]["id"].(string)
	wantError(t, c.Do(t, ck.Req("items.feedback", map[string]any{"thread_id": id, "item_ids": []any{items[0]["id"]}, "kind": "negative"})), 400, "invalid")
	fb := c.Do(t, ck.Req("items.feedback", map[string]any{"thread_id": id, "item_ids": []string{answer}, "kind": "negative"}))
	if fb.Status != 200 || string(fb.Body) != "{}" {
		t.Fatalf("feedback: %d %s", fb.Status, fb.Body)
	}
	if r := c.Get(t, "api/v1/admin/feedback?course=go-basics"); r.Status != 403 {
		t.Fatalf("student reading feedback: %d", r.Status)
	}
	staff := ck.For(t, ck.Verified(t, "instructor"))
	r := staff.Get(t, "api/v1/admin/feedback?course=go-basics")
	var rep struct {
		Sections []struct {
			Lesson   string `json:"lesson"`
			Anchor   string `json:"anchor"`
			Negative int    `json:"negative"`
		} `json:"sections"`
	}
	r.JSON(t, &rep)
	found := false
	for _, s := range rep.Sections {
		if s.Lesson == "values-and-variables" && s.Anchor == "zero-values" && s.Negative >= 1 {
			found = true
		}
	}
	if r.Status != 200 || !found {
		t.Fatalf("feedback report: %d %s", r.Status, r.Body)
	}
}

func TestUsageReport(t *testing.T) {
	l := ck.Verified(t, "")
	ck.For(t, l).Do(t, ck.Create("What is a constant?", metadata()))
	admin := ck.For(t, ck.Verified(t, "admin"))
	if r := ck.For(t, ck.Verified(t, "instructor")).Get(t, "api/v1/admin/usage"); r.Status != 403 {
		t.Fatalf("instructor reading usage: %d", r.Status)
	}
	today := time.Now().UTC().Format(time.DateOnly)
	var rep struct {
		Usage []struct {
			Day             string `json:"day"`
			UserID          string `json:"user_id"`
			Messages        int    `json:"messages"`
			AvgFirstTokenMS int64  `json:"avg_first_token_ms"`
			TotalResponseMS int64  `json:"total_response_ms"`
		} `json:"usage"`
	}
	// The usage row is written when the answer ends, just after the stream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := admin.Get(t, "api/v1/admin/usage?from="+today+"&to="+today+"&user_id="+l.ID)
		r.JSON(t, &rep)
		if len(rep.Usage) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(rep.Usage) != 1 || rep.Usage[0].Messages != 1 || rep.Usage[0].Day != today || rep.Usage[0].AvgFirstTokenMS < 1 {
		t.Fatalf("usage: %+v", rep)
	}
	csv := admin.Get(t, "api/v1/admin/usage?format=csv&user_id="+l.ID)
	if csv.Status != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(string(csv.Body), "day,user_id,messages,errors,") || !strings.Contains(string(csv.Body), today+","+l.ID+",1,0,") {
		t.Fatalf("csv: %d %s", csv.Status, csv.Body)
	}
	if r := admin.Get(t, "api/v1/admin/usage?from=yesterday"); r.Status != 400 {
		t.Fatalf("bad date: %d", r.Status)
	}
}

// Threads go 30 days after the enrollment ended; the job is idempotent.
func TestRetentionDeletesThreadsOfEndedEnrollments(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	id := c.Do(t, ck.Create("What is a constant?", metadata())).ThreadID(t)
	pool := db(t)
	store := postgres.New(pool)
	ctx := context.Background()

	staff := ck.For(t, ck.Verified(t, "admin"))
	if r := staff.Call(t, "PUT", "api/v1/admin/enrollments/"+l.ID+"/go-basics", map[string]any{"unlocked_stage": 1, "ended": true}); r.Status != 200 {
		t.Fatalf("end enrollment: %d %s", r.Status, r.Body)
	}
	if _, err := store.PurgeExpired(ctx, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if r := c.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id})); r.Status != 200 {
		t.Fatalf("a just-ended enrollment's thread must stay: %d", r.Status)
	}
	// Asking about an ended course is refused, nothing stored.
	wantError(t, c.Do(t, ck.Create("Still there?", metadata())), 409, "conflict")

	if _, err := pool.Exec(ctx, `UPDATE tutor_enrollments SET ended_at = now() - interval '31 days' WHERE user_id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := store.PurgeExpired(ctx, 30*24*time.Hour)
	if err != nil || rep.Threads < 1 {
		t.Fatalf("purge: %+v %v", rep, err)
	}
	wantError(t, c.Do(t, ck.Req("threads.get_by_id", map[string]any{"thread_id": id})), 404, "not_found")
	var n int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM tutor_threads WHERE user_id = $1`, l.ID).Scan(&n)
	if n != 0 {
		t.Fatalf("%d threads left", n)
	}
	rep, err = store.PurgeExpired(ctx, 30*24*time.Hour)
	if err != nil || rep.Threads != 0 {
		t.Fatalf("second purge: %+v %v", rep, err)
	}
}

// `tutor ingest DIR` is idempotent: the stack ingested the sample course at
// start, so ingesting it again changes nothing.
func TestIngestIsIdempotent(t *testing.T) {
	st := e2etest.Need(t)
	run := func() string {
		cmd := exec.Command(filepath.Join(st.BinDir, "tutor"), "ingest", "-config", filepath.Join(st.Dir, "data", "run", "tutor.yml"),
			filepath.Join(st.Root, "tutor", "content", "sample"))
		cmd.Env = append(os.Environ(), "TUTOR_DATABASE_URL="+st.DSN("platform"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ingest: %v\n%s", err, out)
		}
		return string(out)
	}
	for range 2 {
		if out := run(); !strings.Contains(out, "1 course(s), 0 lesson(s) added, 0 updated, 3 unchanged, 0 removed") {
			t.Fatalf("ingest again: %s", out)
		}
	}
	var lessons, chunks int
	_ = db(t).QueryRow(context.Background(), `SELECT (SELECT count(*) FROM tutor_lessons WHERE course = 'go-basics'), (SELECT count(*) FROM tutor_chunks WHERE course = 'go-basics')`).Scan(&lessons, &chunks)
	if lessons != 3 || chunks < 9 {
		t.Fatalf("%d lessons, %d chunks", lessons, chunks)
	}
	// A broken lesson stops ingestion, naming the file, and stores nothing.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.md"), []byte("---\ncourse: x\nstage: one\n---\ntext\n"), 0o644)
	cmd := exec.Command(filepath.Join(st.BinDir, "tutor"), "ingest", "-config", filepath.Join(st.Dir, "data", "run", "tutor.yml"), dir)
	cmd.Env = append(os.Environ(), "TUTOR_DATABASE_URL="+st.DSN("platform"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad.md") {
		t.Fatalf("a broken lesson must fail naming the file: %v %s", err, out)
	}
}
