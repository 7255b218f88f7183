// Package model tests the tutor on the real stack with a language model:
// a scripted OpenAI-compatible server in this test process (the tutor
// reaches it through its real openai-go client, configured by the
// TUTOR_MODEL_* environment the launcher passes on), streaming plain text,
// tool calls, a mid-stream failure, a slow first token, and a client that
// leaves mid-stream.
package model

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/tutor/internal/ck"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

var (
	model *fakemodel.Server
	// failedOnce remembers questions marked [fail-once] that already failed.
	failedOnce sync.Map
)

const longAnswer = "Let us take this one step at a time. First, think about what a variable holds before you give it a value. " +
	"In Go nothing is left undefined. So what would a counter of type int start at? Try to say it in your own words."

func script(req fakemodel.Request) fakemodel.Script {
	q := req.LastUser()
	last := req.Messages[len(req.Messages)-1]
	switch {
	case strings.Contains(q, "[tool]") && last.Role != "tool":
		return fakemodel.Script{Steps: []fakemodel.Step{
			{Tool: &fakemodel.ToolCall{ID: "call_zero", Name: "search_course_material", Arguments: `{"query":"zero values"}`}},
		}, PromptTokens: 40, CompletionTokens: 5}
	case strings.Contains(q, "[tool]"):
		return fakemodel.Script{Steps: fakemodel.Words("The lesson on zero values has the answer. What does it say about int?", 0), PromptTokens: 90, CompletionTokens: 15}
	case strings.Contains(q, "[fail-once]"):
		if _, failed := failedOnce.LoadOrStore(q, true); !failed {
			return fakemodel.Script{Steps: []fakemodel.Step{{Text: "I was about to say "}, {Delay: 20 * time.Millisecond, Break: true}}}
		}
		return fakemodel.Script{Steps: fakemodel.Words("Second try: what do you think?", 0)}
	case strings.Contains(q, "[slow]"):
		return fakemodel.Script{Steps: []fakemodel.Step{{Delay: 5 * time.Second, Text: "too late"}}}
	case strings.Contains(q, "[long]"):
		return fakemodel.Script{Steps: fakemodel.Words(longAnswer, 60*time.Millisecond), PromptTokens: 70, CompletionTokens: 40}
	}
	return fakemodel.Script{Steps: fakemodel.Words("Good question! What do you expect it to be, and why?", 0), PromptTokens: 50, CompletionTokens: 12}
}

func TestMain(m *testing.M) {
	model = fakemodel.New(script)
	// The launcher hands its environment to the tutor it starts.
	os.Setenv("TUTOR_MODEL_BASE_URL", model.BaseURL())
	os.Setenv("TUTOR_MODEL_NAME", "scripted-tutor")
	os.Setenv("TUTOR_MODEL_API_KEY", "sk-scripted")
	os.Setenv("TUTOR_MODEL_FIRST_TOKEN_TIMEOUT", "1s")
	os.Unsetenv("TUTOR_DAILY_MESSAGES")
	e2etest.Main(m)
}

// staff is a client for a new instructor: staff need no enrollment and
// have no daily quota.
func staff(t *testing.T) *ck.Client {
	return ck.For(t, ck.Verified(t, "instructor"))
}

var goBasics = map[string]any{"course": "go-basics"}

func TestModelAnswerStreams(t *testing.T) {
	c := ck.For(t, ck.Verified(t, ""))
	res := c.Do(t, ck.Create("What is the zero value of an int?", goBasics))
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	if res.Find("notice") != nil && strings.Contains(fmt.Sprint(res.Find("notice")["message"]), "No language model") {
		t.Fatal("a configured model must not answer in course-material mode")
	}
	if got := res.Text(); got != "Good question! What do you expect it to be, and why?" {
		t.Fatalf("text %q", got)
	}
	items := res.DoneItems()
	answer := items[len(items)-1]
	if answer["type"] != "assistant_message" || answer["content"].([]any)[0].(map[string]any)["text"] != res.Text() {
		t.Fatalf("done item %v", answer)
	}
	// The model saw the Socratic prompt, the lesson material and the question.
	var req *fakemodel.Request
	for _, r := range model.Requests() {
		if r.LastUser() == "What is the zero value of an int?" {
			req = &r
		}
	}
	if req == nil || req.Model != "scripted-tutor" || req.Authorization != "Bearer sk-scripted" ||
		!strings.Contains(req.Text(0), "Socratic") || !strings.Contains(req.Text(1), "Zero values") {
		t.Fatalf("model request %+v", req)
	}
}

func TestToolCallsSearchTheMaterial(t *testing.T) {
	res := staff(t).Do(t, ck.Create("[tool] why do counters start at zero?", goBasics))
	types := res.Types()
	if !contains(types, "thread.item.updated:annotation_added") || res.Text() != "The lesson on zero values has the answer. What does it say about int?" {
		t.Fatalf("%v %q", types, res.Text())
	}
	progress := 0
	for _, e := range res.Events {
		if e.Type() == "progress_update" && strings.Contains(fmt.Sprint(e["text"]), "zero values") {
			progress++
		}
	}
	if progress != 1 {
		t.Fatalf("no progress update for the model's search: %v", types)
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

// A model that fails mid-stream: the stream ends with an error event the
// client may retry, the partial answer is stored as interrupted, and
// threads.retry_after_item regenerates it.
func TestModelFailureIsARetryableErrorEvent(t *testing.T) {
	c := staff(t)
	res := c.Do(t, ck.Create("[fail-once] what is a constant?", goBasics))
	if res.Status != 200 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	last := res.Events[len(res.Events)-1]
	if last.Type() != "error" || last["allow_retry"] != true || last["code"] != "custom" {
		t.Fatalf("stream should end with a retryable error event: %v", res.Types())
	}
	id := res.ThreadID(t)
	items := c.Items(t, id)
	if len(items) != 2 || !strings.Contains(ck.AnswerText(items[1]), "I was about to say") || !strings.Contains(ck.AnswerText(items[1]), "interrupted") {
		t.Fatalf("after the failure: %v", items)
	}
	var status string
	if err := ck.DB(t).QueryRow(context.Background(), `SELECT status FROM tutor_items WHERE id = $1`, items[1]["id"]).Scan(&status); err != nil || status != "interrupted" {
		t.Fatalf("stored status %q %v", status, err)
	}
	retry := c.Do(t, ck.Req("threads.retry_after_item", map[string]any{"thread_id": id, "item_id": items[0]["id"]}))
	if retry.Text() != "Second try: what do you think?" || retry.Find("error") != nil {
		t.Fatalf("retry: %v %q", retry.Types(), retry.Text())
	}
	items = c.Items(t, id)
	if len(items) != 2 || ck.AnswerText(items[1]) != "Second try: what do you think?" {
		t.Fatalf("after the retry: %v", items)
	}
}

func TestSlowFirstTokenTimesOut(t *testing.T) {
	start := time.Now()
	res := staff(t).Do(t, ck.Create("[slow] anyone there?", goBasics))
	last := res.Events[len(res.Events)-1]
	if last.Type() != "error" || last["allow_retry"] != true || !strings.Contains(fmt.Sprint(last["message"]), "too long") {
		t.Fatalf("%v %v", res.Types(), last)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("the first-token timeout (1s) took %s", d)
	}
}

// The learner closes the page mid-answer: the answer is still completed
// and stored, and shows on reload.
func TestDisconnectMidStreamStillStoresTheAnswer(t *testing.T) {
	c := staff(t)
	httpRes, err := c.Send(ck.Create("[long] where does a counter start?", goBasics))
	if err != nil {
		t.Fatal(err)
	}
	r := ck.NewReader(httpRes)
	threadID := ""
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Type() == "thread.created" {
			threadID = e["thread"].(map[string]any)["id"].(string)
		}
		if u, ok := e["update"].(map[string]any); ok && u["type"] == "assistant_message.content_part.text_delta" {
			break // the first words arrived: leave
		}
	}
	httpRes.Body.Close()
	c.HTTP.CloseIdleConnections()

	deadline := time.Now().Add(15 * time.Second)
	for {
		items := c.Items(t, threadID)
		if len(items) == 2 && ck.AnswerText(items[1]) == longAnswer {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the answer was not completed after the client left: %v", items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestUsageCountsTokens(t *testing.T) {
	l := ck.Verified(t, "")
	ck.For(t, l).Do(t, ck.Create("How many tokens is this?", goBasics))
	admin := ck.For(t, ck.Verified(t, "admin"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		var rep struct {
			Usage []struct {
				Messages  int   `json:"messages"`
				TokensIn  int64 `json:"tokens_in"`
				TokensOut int64 `json:"tokens_out"`
			} `json:"usage"`
		}
		admin.Get(t, "api/v1/admin/usage?user_id="+l.ID).JSON(t, &rep)
		if len(rep.Usage) == 1 && rep.Usage[0].TokensIn == 50 && rep.Usage[0].TokensOut == 12 && rep.Usage[0].Messages == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %+v", rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
