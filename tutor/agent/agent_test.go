package agent

import (
	"github.com/learnplatform/platform/kit/account"

	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

// recorder is an AnswerWriter that keeps everything.
type recorder struct {
	mu       sync.Mutex
	events   []string
	text     strings.Builder
	sources  []tutor.Passage
	in, out  int64
	notices  []string
	progress []string
}

func (r *recorder) Progress(t string) { r.add("progress"); r.progress = append(r.progress, t) }
func (r *recorder) Notice(level, title, msg string) {
	r.add("notice")
	r.notices = append(r.notices, msg)
}
func (r *recorder) Text(d string)          { r.add("text"); r.text.WriteString(d) }
func (r *recorder) Source(p tutor.Passage) { r.add("source"); r.sources = append(r.sources, p) }
func (r *recorder) Usage(in, out int64)    { r.in += in; r.out += out }
func (r *recorder) add(kind string)        { r.mu.Lock(); r.events = append(r.events, kind); r.mu.Unlock() }

// retriever serves fixed passages and remembers the queries, including
// one passage above every stage it is asked for (which must be dropped).
type retriever struct {
	mu      sync.Mutex
	queries []tutor.RetrievalQuery
}

func (f *retriever) Retrieve(_ context.Context, q tutor.RetrievalQuery) ([]tutor.Passage, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return []tutor.Passage{
		{Course: q.Course, Lesson: "values", LessonTitle: "Values", Stage: 1, Section: "Zero values", Anchor: "zero-values", Text: "The zero value of int is 0."},
		{Course: q.Course, Lesson: "later", LessonTitle: "Later", Stage: q.MaxStage + 1, Section: "Secret", Anchor: "secret", Text: "SECRET later lesson"},
	}, nil
}

var turn = tutor.Turn{
	Caller:   account.User{ID: "u1", Role: account.RoleStudent},
	Course:   "go-basics",
	MaxStage: 1,
	Question: "what is the zero value of an int?",
	History:  []tutor.Message{{Role: "user", Text: "hi"}, {Role: "assistant", Text: "Hello! What are you working on?"}},
	Page:     &tutor.PageContext{URL: "https://learn.example.org/values", Title: "Values", Headings: []string{"Zero values"}},
}

func newModel(t *testing.T, choose func(fakemodel.Request) fakemodel.Script) (*Model, *fakemodel.Server, *retriever) {
	t.Helper()
	srv := fakemodel.New(choose)
	t.Cleanup(srv.Close)
	r := &retriever{}
	m := NewModel(ModelConfig{BaseURL: srv.BaseURL(), APIKey: "sk-test", Name: "tutor-test", FirstTokenTimeout: 2 * time.Second, Timeout: 10 * time.Second, Retriever: r})
	return m, srv, r
}

func TestModelStreamsText(t *testing.T) {
	m, srv, r := newModel(t, func(fakemodel.Request) fakemodel.Script {
		return fakemodel.Script{Steps: fakemodel.Words("What do you think happens when you declare an int without a value?", 0), PromptTokens: 120, CompletionTokens: 14}
	})
	var w recorder
	if err := m.Respond(context.Background(), turn, &w); err != nil {
		t.Fatal(err)
	}
	if got := w.text.String(); got != "What do you think happens when you declare an int without a value?" {
		t.Fatalf("text %q", got)
	}
	if w.in != 120 || w.out != 14 {
		t.Fatalf("usage %d/%d", w.in, w.out)
	}
	if len(w.sources) != 1 || w.sources[0].Stage != 1 {
		t.Fatalf("sources %+v (a passage above the stage must be dropped)", w.sources)
	}
	if q := r.queries[0]; q.MaxStage != 1 || q.Course != "go-basics" {
		t.Fatalf("query %+v", q)
	}
	req := srv.Requests()[0]
	if req.Model != "tutor-test" || !req.Stream || req.Authorization != "Bearer sk-test" || req.StreamOptions == nil || !req.StreamOptions.IncludeUsage {
		t.Fatalf("request %+v", req)
	}
	if req.Messages[0].Role != "system" || !strings.Contains(req.Text(0), "Socratic") {
		t.Fatalf("first message is not the Socratic prompt: %s", req.Text(0))
	}
	ctx := req.Text(1)
	for _, want := range []string{"go-basics", "Zero values", "The zero value of int is 0."} {
		if !strings.Contains(ctx, want) {
			t.Fatalf("context message lacks %q:\n%s", want, ctx)
		}
	}
	if strings.Contains(ctx, "SECRET") {
		t.Fatal("material above the learner's stage reached the model")
	}
	if n := len(req.Messages); req.Messages[n-1].Role != "user" || !strings.HasSuffix(req.LastUser(), "\n\n"+turn.Question) || req.Messages[n-2].Role != "assistant" {
		t.Fatalf("history not in order: %+v", req.Messages)
	}
	if !strings.Contains(req.LastUser(), "https://learn.example.org/values") {
		t.Fatalf("the page context did not reach the model: %q", req.LastUser())
	}
	if len(req.Tools) != 1 || !strings.Contains(string(req.Tools[0]), searchTool) {
		t.Fatalf("tools %s", req.Tools)
	}
}

func TestModelRunsSearchToolCalls(t *testing.T) {
	m, srv, r := newModel(t, func(req fakemodel.Request) fakemodel.Script {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == "tool" {
			return fakemodel.Script{Steps: fakemodel.Words("The lesson says ints start at 0. Why might that be useful?", 0)}
		}
		return fakemodel.Script{Steps: []fakemodel.Step{
			{Text: "Let me look that up. "},
			{Tool: &fakemodel.ToolCall{ID: "call_1", Name: searchTool, Arguments: `{"query":"zero value int"}`}},
		}}
	})
	var w recorder
	if err := m.Respond(context.Background(), turn, &w); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls, want 2", len(reqs))
	}
	second := reqs[1]
	n := len(second.Messages)
	if second.Messages[n-2].Role != "assistant" || !strings.Contains(string(second.Messages[n-2].ToolCalls), `"call_1"`) ||
		second.Messages[n-1].Role != "tool" || second.Messages[n-1].ToolCallID != "call_1" {
		t.Fatalf("tool round trip: %+v", second.Messages[n-2:])
	}
	if res := second.Text(n - 1); !strings.Contains(res, "The zero value of int is 0.") || strings.Contains(res, "SECRET") {
		t.Fatalf("tool result %q", res)
	}
	if q := r.queries[1]; q.Text != "zero value int" || q.MaxStage != 1 {
		t.Fatalf("tool query %+v", q)
	}
	if got := w.text.String(); got != "Let me look that up. The lesson says ints start at 0. Why might that be useful?" {
		t.Fatalf("text %q", got)
	}
}

func TestModelFailuresAreErrors(t *testing.T) {
	cases := map[string]fakemodel.Script{
		"mid-stream break": {Steps: []fakemodel.Step{{Text: "Half an "}, {Text: "answer", Delay: 10 * time.Millisecond}, {Break: true}}},
		"error event":      {Steps: []fakemodel.Step{{Text: "Half an answer"}, {ErrorEvent: "overloaded"}}},
		"http 500":         {Status: 500},
		"http 429":         {Status: 429},
	}
	for name, sc := range cases {
		t.Run(name, func(t *testing.T) {
			m, _, _ := newModel(t, func(fakemodel.Request) fakemodel.Script { return sc })
			var w recorder
			err := m.Respond(context.Background(), turn, &w)
			if err == nil {
				t.Fatalf("no error; text %q", w.text.String())
			}
		})
	}
}

// manualTimer is a first-token timer the test fires; like a *time.Timer,
// a stopped one does nothing when fired.
type manualTimer struct {
	mu      sync.Mutex
	f       func()
	stopped bool
}

func (m *manualTimer) Stop() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := !m.stopped
	m.stopped = true
	return was
}

func (m *manualTimer) fire() {
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if !stopped {
		m.f()
	}
}

// manualTimers makes m's first-token timers manual ones, handed to the
// test as they start.
func manualTimers(m *Model) <-chan *manualTimer {
	started := make(chan *manualTimer, 4)
	m.afterFunc = func(_ time.Duration, f func()) timer {
		mt := &manualTimer{f: f}
		started <- mt
		return mt
	}
	return started
}

// firstText signals its first Text.
type firstText struct {
	*recorder
	once sync.Once
	came chan struct{}
}

func (w *firstText) Text(d string) { w.recorder.Text(d); w.once.Do(func() { close(w.came) }) }

// The first-token timer, not the clock, decides: a model that says
// nothing until the timer fires is given up on; one whose first token
// came stops the timer, however slow the rest.
func TestModelSlowFirstTokenTimesOut(t *testing.T) {
	t.Run("nothing before the timer fires", func(t *testing.T) {
		asked := make(chan struct{}, 1)
		never := make(chan struct{})
		m, _, _ := newModel(t, func(fakemodel.Request) fakemodel.Script {
			asked <- struct{}{}
			return fakemodel.Script{Steps: []fakemodel.Step{{Wait: never, Text: "too late"}}}
		})
		timers := manualTimers(m)
		errc := make(chan error, 1)
		var w recorder
		go func() { errc <- m.Respond(context.Background(), turn, &w) }()
		mt := <-timers
		<-asked
		mt.fire()
		if err := <-errc; !errors.Is(err, ErrFirstTokenTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if w.text.Len() != 0 {
			t.Fatalf("text %q", w.text.String())
		}
	})
	t.Run("slow but steady", func(t *testing.T) {
		rest := make(chan struct{})
		m, _, _ := newModel(t, func(fakemodel.Request) fakemodel.Script {
			return fakemodel.Script{Steps: append([]fakemodel.Step{{Text: "Slow "}, {Wait: rest, Text: "but "}}, fakemodel.Words("steady answer", 0)...)}
		})
		timers := manualTimers(m)
		errc := make(chan error, 1)
		w := &firstText{recorder: &recorder{}, came: make(chan struct{})}
		go func() { errc <- m.Respond(context.Background(), turn, w) }()
		mt := <-timers
		<-w.came
		mt.fire() // too late: the first token stopped it
		close(rest)
		if err := <-errc; err != nil || w.text.String() != "Slow but steady answer" {
			t.Fatalf("%v %q", err, w.text.String())
		}
	})
}

func TestMaterialModeSaysSo(t *testing.T) {
	var w recorder
	if err := (Material{Retriever: &retriever{}}).Respond(context.Background(), turn, &w); err != nil {
		t.Fatal(err)
	}
	if w.events[0] != "notice" || !strings.Contains(w.notices[0], "No language model is configured") {
		t.Fatalf("the first event must be the no-model notice: %v %v", w.events, w.notices)
	}
	text := w.text.String()
	if !strings.Contains(text, "> The zero value of int is 0.") || strings.Contains(text, "SECRET") || !strings.Contains(text, "in your own words") {
		t.Fatalf("text:\n%s", text)
	}
	var none recorder
	noCourse := turn
	noCourse.Course, noCourse.MaxStage = "", 0
	if err := (Material{Retriever: &retriever{}}).Respond(context.Background(), noCourse, &none); err != nil || !strings.Contains(none.text.String(), "not about a course") {
		t.Fatalf("%v %q", err, none.text.String())
	}
}
