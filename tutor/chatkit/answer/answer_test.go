package answer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
	"github.com/learnplatform/platform/tutor/memstore"
)

const course = "go-basics"

var student = account.User{ID: "u1", Role: account.RoleStudent}

// respond is a Responder made of a function.
type respond func(context.Context, tutor.Turn, tutor.AnswerWriter) error

func (f respond) Respond(ctx context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	return f(ctx, t, w)
}

// fixture is a store with a thread of student's about the course, and
// the events and outcomes of the answers run over it.
type fixture struct {
	store    *memstore.Store
	clock    tutor.Clock
	thread   tutor.Thread
	mu       sync.Mutex
	outcomes []Outcome
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: memstore.New()}
	ctx := context.Background()
	if _, err := f.store.Ingest(ctx, []tutor.Lesson{{Course: course, Lesson: "values", Stage: 1, Title: "Values",
		Sections: []tutor.Section{{Heading: "Zero values", Anchor: "zero-values", Text: "The zero value of int is 0."}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetEnrollment(ctx, student.ID, course, 1, false); err != nil {
		t.Fatal(err)
	}
	f.thread = tutor.Thread{ID: tutor.NewID("thr"), UserID: student.ID, Title: "t", Status: "active", Course: course, Stage: 1, CreatedAt: f.clock.Now()}
	if _, err := f.store.CreateThread(ctx, f.thread, nil, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

// message stores a learner's message (after a page context item, when pc
// is set) and returns it.
func (f *fixture) message(t *testing.T, text string, pc *tutor.PageContext) tutor.Item {
	t.Helper()
	m, err := protocol.CheckMessage(&protocol.UserMessageInput{Content: []protocol.UserMessageContent{{Type: "input_text", Text: text}}}, 8192)
	if err != nil {
		t.Fatal(err)
	}
	var items []tutor.Item
	if pc != nil {
		hc, err := protocol.PageContextItem(f.thread.ID, f.clock.Now(), pc)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, hc)
	}
	msg, err := m.Item(f.thread.ID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AddItems(context.Background(), student.ID, f.thread.ID, append(items, msg), &tutor.Quota{Limit: 20, Window: tutor.QuotaWindow}); err != nil {
		t.Fatal(err)
	}
	return msg
}

// run answers msg as caller with r and returns the events sent.
func (f *fixture) run(ctx context.Context, r tutor.Responder, g tutor.Guard, caller account.User, msg tutor.Item) []any {
	runner := NewRunner(Config{Threads: f.store, Courses: f.store, Reports: f.store, Responder: r, Guard: g, Clock: &f.clock,
		Finished: func(o Outcome) { f.mu.Lock(); f.outcomes = append(f.outcomes, o); f.mu.Unlock() }})
	var events []any
	runner.Run(ctx, Job{Caller: caller, Thread: f.thread, Message: msg, Start: msg.CreatedAt}, func(ev any) { events = append(events, ev) })
	return events
}

// stored is the thread's last item (the answer) and its text.
func (f *fixture) stored(t *testing.T) (tutor.Item, string) {
	t.Helper()
	items := f.store.ThreadItems(f.thread.ID)
	last := items[len(items)-1]
	if last.Type != tutor.ItemAssistantMessage {
		t.Fatalf("no answer stored: %+v", items)
	}
	var item protocol.AssistantMessageItem
	if err := json.Unmarshal(last.Payload, &item); err != nil {
		t.Fatal(err)
	}
	return last, item.Content[0].Text
}

func eventTypes(events []any) string {
	var out []string
	for _, ev := range events {
		b, _ := json.Marshal(ev)
		var v struct {
			Type   string `json:"type"`
			Update struct {
				Type string `json:"type"`
			} `json:"update"`
		}
		_ = json.Unmarshal(b, &v)
		if v.Update.Type != "" {
			v.Type += "/" + strings.TrimPrefix(v.Update.Type, "assistant_message.content_part.")
		}
		out = append(out, v.Type)
	}
	return strings.Join(out, " ")
}

func TestAnswerIsStreamedAndStored(t *testing.T) {
	f := newFixture(t)
	msg := f.message(t, "What is the zero value of an int?", nil)
	events := f.run(context.Background(), respond(func(_ context.Context, turn tutor.Turn, w tutor.AnswerWriter) error {
		w.Progress("Searching…")
		w.Source(tutor.Passage{Course: course, Lesson: "values", LessonTitle: "Values", Section: "Zero values", Anchor: "zero-values", Stage: 1})
		w.Source(tutor.Passage{Course: course, Lesson: "values", LessonTitle: "Values", Section: "Zero values", Anchor: "zero-values", Stage: 1})
		w.Text("What do ")
		w.Text("you think?")
		w.Usage(100, 5)
		return nil
	}), nil, student, msg)
	want := "progress_update thread.item.added thread.item.updated/added thread.item.updated/annotation_added " +
		"thread.item.updated/text_delta thread.item.updated/text_delta thread.item.updated/done thread.item.done"
	if got := eventTypes(events); got != want {
		t.Fatalf("events %s\nwant   %s", got, want)
	}
	ann := events[3].(protocol.ItemUpdatedEvent).Update.(protocol.AnnotationAdded).Annotation
	if ann.Source.URL != "/courses/go-basics/values#zero-values" || ann.Source.Title != "Values › Zero values" || *ann.Source.Group != "Course material" {
		t.Fatalf("annotation %+v", ann.Source)
	}
	item, text := f.stored(t)
	if text != "What do you think?" || item.Status != tutor.ItemDone || len(item.Sources) != 1 || !item.CreatedAt.After(msg.CreatedAt) {
		t.Fatalf("stored %+v %q", item, text)
	}
	days, err := f.store.Usage(context.Background(), tutor.UsageFilter{UserID: student.ID, From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(48 * time.Hour)})
	if err != nil || len(days) != 1 || days[0].Messages != 1 || days[0].TokensIn != 100 || days[0].TokensOut != 5 || days[0].Errors != 0 {
		t.Fatalf("usage %+v %v", days, err)
	}
	if len(f.outcomes) != 1 || f.outcomes[0].Failed || f.outcomes[0].FirstText <= 0 || f.outcomes[0].Replaced {
		t.Fatalf("outcomes %+v", f.outcomes)
	}
}

func TestTheTurn(t *testing.T) {
	f := newFixture(t)
	page := &tutor.PageContext{URL: "https://learn.example/values", Title: "Values"}
	first := f.message(t, "first question", page)
	var turns []tutor.Turn
	r := respond(func(_ context.Context, turn tutor.Turn, w tutor.AnswerWriter) error {
		turns = append(turns, turn)
		w.Text("answer to " + turn.Question)
		return nil
	})
	f.run(context.Background(), r, nil, student, first)
	second := f.message(t, "second question", nil)
	f.run(context.Background(), r, nil, student, second)
	one, two := turns[0], turns[1]
	if one.Question != "first question" || one.Page == nil || one.Page.Title != "Values" || len(one.History) != 0 ||
		one.Course != course || one.MaxStage != 1 || one.Caller != student || one.Thread.ID != f.thread.ID {
		t.Fatalf("first turn %+v", one)
	}
	// A page context belongs to its message only; the history is in order.
	if two.Page != nil || len(two.History) != 2 || two.History[0] != (tutor.Message{Role: "user", Text: "first question"}) ||
		two.History[1] != (tutor.Message{Role: "assistant", Text: "answer to first question"}) {
		t.Fatalf("second turn %+v", two)
	}
}

func TestNotEnrolledAnyMore(t *testing.T) {
	f := newFixture(t)
	msg := f.message(t, "q", nil)
	if _, err := f.store.SetEnrollment(context.Background(), student.ID, course, 1, true); err != nil {
		t.Fatal(err)
	}
	var turn tutor.Turn
	events := f.run(context.Background(), respond(func(_ context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
		turn = t
		w.Text("ok")
		return nil
	}), nil, student, msg)
	if n, ok := events[0].(protocol.NoticeEvent); !ok || *n.Title != "Not enrolled" || turn.Course != "" || turn.MaxStage != 0 {
		t.Fatalf("%+v, turn %+v", events[0], turn)
	}
}

func TestFailedAnswers(t *testing.T) {
	cases := map[string]struct {
		respond   respond
		stored    bool
		errorText string
	}{
		"fails after some text": {respond(func(_ context.Context, _ tutor.Turn, w tutor.AnswerWriter) error {
			w.Text("Half an")
			return errors.New("model: stream broke")
		}), true, "could not answer just now"},
		"times out": {respond(func(ctx context.Context, _ tutor.Turn, w tutor.AnswerWriter) error {
			w.Text("Slow")
			return fmt.Errorf("the model took too long: %w", context.DeadlineExceeded)
		}), true, "took too long"},
		"fails before any text": {respond(func(context.Context, tutor.Turn, tutor.AnswerWriter) error {
			return errors.New("model down")
		}), false, "could not answer just now"},
		"says nothing": {respond(func(context.Context, tutor.Turn, tutor.AnswerWriter) error { return nil }), false, "could not answer just now"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			msg := f.message(t, "q", nil)
			events := f.run(context.Background(), tc.respond, nil, student, msg)
			last, ok := events[len(events)-1].(protocol.ErrorEvent)
			if !ok || !last.AllowRetry || last.Code != protocol.ErrorCodeCustom || !strings.Contains(*last.Message, tc.errorText) {
				t.Fatalf("last event %+v", events[len(events)-1])
			}
			items := f.store.ThreadItems(f.thread.ID)
			if !tc.stored {
				if len(items) != 1 {
					t.Fatalf("stored %+v", items)
				}
			} else if item, text := f.stored(t); item.Status != tutor.ItemInterrupted || !strings.Contains(text, "This answer was interrupted") {
				t.Fatalf("stored %+v %q", item, text)
			}
			if len(f.outcomes) != 1 || !f.outcomes[0].Failed {
				t.Fatalf("outcomes %+v", f.outcomes)
			}
		})
	}
}

// An answer cancelled mid-way (a shutdown) is still stored.
func TestCancelledAnswerIsStored(t *testing.T) {
	f := newFixture(t)
	msg := f.message(t, "q", nil)
	ctx, cancel := context.WithCancel(context.Background())
	f.run(ctx, respond(func(ctx context.Context, _ tutor.Turn, w tutor.AnswerWriter) error {
		w.Text("Part of it")
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}), nil, student, msg)
	if item, text := f.stored(t); item.Status != tutor.ItemInterrupted || !strings.HasPrefix(text, "Part of it") {
		t.Fatalf("%+v %q", item, text)
	}
}

// guard replaces every answer, and blocks (unchecked) inputs on request.
type guard struct{ checked int }

func (g *guard) CheckInput(_ context.Context, in tutor.GuardInput) tutor.InputVerdict {
	return tutor.InputVerdict{Message: in.Message}
}

func (g *guard) CheckOutput(_ context.Context, out tutor.GuardOutput) tutor.OutputVerdict {
	g.checked++
	return tutor.OutputVerdict{Answer: "Replaced: " + out.Answer, Replaced: true}
}

func TestOutputGuardrails(t *testing.T) {
	t.Run("replace the finished answer", func(t *testing.T) {
		f := newFixture(t)
		g := &guard{}
		events := f.run(context.Background(), respond(func(_ context.Context, _ tutor.Turn, w tutor.AnswerWriter) error {
			w.Text("x := 1")
			return nil
		}), g, student, f.message(t, "q", nil))
		last, ok := events[len(events)-1].(protocol.ItemReplacedEvent)
		if !ok || last.Item.(protocol.AssistantMessageItem).Content[0].Text != "Replaced: x := 1" {
			t.Fatalf("last event %+v", events[len(events)-1])
		}
		if _, text := f.stored(t); text != "Replaced: x := 1" || !f.outcomes[0].Replaced || g.checked != 1 {
			t.Fatalf("stored %q, outcome %+v", text, f.outcomes[0])
		}
	})
	t.Run("leave a refusal alone, and give back an unchecked message", func(t *testing.T) {
		f := newFixture(t)
		g := &guard{}
		refuse := respond(func(_ context.Context, _ tutor.Turn, w tutor.AnswerWriter) error {
			w.(tutor.RefusalWriter).Refuse("The tutor cannot check messages right now.", true)
			return nil
		})
		events := f.run(context.Background(), refuse, g, student, f.message(t, "q", nil))
		last, ok := events[len(events)-1].(protocol.NoticeEvent)
		if !ok || last.Message != "This message did not count against your daily limit." || g.checked != 0 {
			t.Fatalf("last event %+v, checked %d", events[len(events)-1], g.checked)
		}
		if n := f.store.Counted(student.ID, tutor.QuotaWindow); n != 0 {
			t.Fatalf("%d counted", n)
		}
		staff := account.User{ID: "i1", Role: account.RoleInstructor}
		events = f.run(context.Background(), refuse, g, staff, f.message(t, "q", nil))
		if _, notice := events[len(events)-1].(protocol.NoticeEvent); notice {
			t.Fatal("told staff a message was given back")
		}
	})
}
