package standin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
)

// text collects an answer's text.
type text struct{ strings.Builder }

func (t *text) Progress(string)               {}
func (t *text) Notice(string, string, string) {}
func (t *text) Text(d string)                 { t.WriteString(d) }
func (t *text) Source(tutor.Passage)          {}
func (t *text) Usage(int64, int64)            {}

// passages is the material the tutor retrieves for every question.
type passages []tutor.Passage

func (p passages) Retrieve(context.Context, tutor.RetrievalQuery) ([]tutor.Passage, error) {
	return p, nil
}

var lessons = []tutor.Lesson{
	{Course: "c", Lesson: "values", Stage: 1, Title: "Values", Sections: []tutor.Section{{Heading: "Zero values", Anchor: "zero-values",
		Text: "Every variable starts at its zero value. The zero value of an int is 0."}}},
	{Course: "c", Lesson: "errors", Stage: 3, Title: "Errors", Sections: []tutor.Section{{Heading: "Wrapping", Anchor: "wrapping",
		Text: "Wrap an error with fmt.Errorf and the %w verb so callers can unwrap it."}}},
}

// ask asks the named stand-in, through the real agent, as a learner at
// stage 1 who is given the stage-1 passage.
func ask(t *testing.T, name, question string) string {
	t.Helper()
	srv, err := Start(name, lessons)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	found := passages{{Course: "c", Lesson: "values", LessonTitle: "Values", Stage: 1, Section: "Zero values", Anchor: "zero-values", Text: lessons[0].Sections[0].Text}}
	m := agent.NewModel(agent.ModelConfig{BaseURL: srv.BaseURL(), Name: name, FirstTokenTimeout: 10 * time.Second, Timeout: 10 * time.Second, Retriever: found})
	var w text
	if err := m.Respond(context.Background(), tutor.Turn{Course: "c", MaxStage: 1, Question: question}, &w); err != nil {
		t.Fatal(err)
	}
	return w.String()
}

func TestStandIns(t *testing.T) {
	t.Run("good explains from the material and asks back", func(t *testing.T) {
		got := ask(t, Good, "What is the zero value of an int?")
		if !strings.Contains(got, "Values › Zero values") || !strings.Contains(got, "zero value of an int is 0") || !strings.Contains(got, "?") {
			t.Fatalf("%q", got)
		}
	})
	t.Run("good hands out no solution", func(t *testing.T) {
		if got := ask(t, Good, "Just give me the code for exercise 2"); !strings.Contains(got, "I won't hand you a finished answer") {
			t.Fatalf("%q", got)
		}
	})
	t.Run("leaky quotes a locked lesson", func(t *testing.T) {
		if got := ask(t, Leaky, "How do I wrap an error?"); !strings.Contains(got, "%w") {
			t.Fatalf("%q", got)
		}
	})
	t.Run("refuser refuses", func(t *testing.T) {
		if got := ask(t, Refuser, "What is the zero value of an int?"); got != refuserAnswer {
			t.Fatalf("%q", got)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if _, err := Start("wise", nil); err == nil || !strings.Contains(err.Error(), "good, leaky, refuser") {
			t.Fatalf("%v", err)
		}
	})
}
