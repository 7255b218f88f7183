// Package agent answers learners: Model asks an OpenAI-compatible Chat
// Completions endpoint (github.com/openai/openai-go/v3, streaming) with a
// Socratic system prompt, the page context and course material from a
// tutor.Retriever (also offered to the model as a search tool); Material is
// the course-material mode used when no model is configured: retrieved
// passages and a guiding question, under a notice that says so. Both
// implement tutor.Responder; cmd/tutor picks one. Both run the input
// guardrails (a tutor.Guard) on the learner's message and every passage
// before the model or the learner sees them, and answer without material,
// under a notice, when no retriever answered (tutor.ErrSearchUnavailable).
package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/learnplatform/platform/tutor"
)

// Material is the course-material mode: no model, fully offline. It never
// pretends to be a model: every answer starts with a notice saying no
// model is configured, and the text is the course's own words, quoted.
type Material struct {
	Retriever tutor.Retriever
	// Guard screens the learner's message and the passages before they
	// are quoted; nil: no guardrails.
	Guard tutor.Guard
	// Passages is how many passages to quote (default 3).
	Passages int
}

// NoModelNotice is the notice every course-material answer carries.
const NoModelNotice = "No language model is configured for this tutor, so it answers from the course material alone: the passages below are quoted from the lessons you have unlocked, not written by an AI."

// Respond implements tutor.Responder.
func (m Material) Respond(ctx context.Context, t tutor.Turn, w tutor.AnswerWriter) error {
	w.Notice("info", "Course-material mode", NoModelNotice)
	a := &access{retriever: m.Retriever, guard: m.Guard, turn: t, w: w}
	if !a.available() {
		if _, _, ok := a.screenInput(ctx, nil); !ok {
			return nil
		}
		w.Text("This conversation is not about a course you are enrolled in, so there is no material to draw on. " +
			"Start a new conversation from a lesson page (or enrol in a course) and ask again.\n\n" +
			"Meanwhile, a question to think about: what do you already know about this, and where exactly do you get stuck?")
		return nil
	}
	w.Progress("Searching the course material…")
	ps, answered, err := a.search(ctx, strings.TrimSpace(t.Question+" "+t.QuotedText), m.limit())
	if err != nil {
		return err
	}
	_, ps, ok := a.screenInput(ctx, ps)
	if !ok {
		return nil
	}
	if !answered {
		w.Text("I cannot search the course material right now, so I have no passages to show you. Please ask again in a minute.\n\n" +
			"Meanwhile, a question to start from: what have you tried so far, and what did you expect to happen?")
		return nil
	}
	if len(ps) == 0 {
		w.Text(fmt.Sprintf("I found nothing about that in the material you have unlocked so far (up to stage %d). "+
			"Try other words, or name the lesson or idea you are working on.\n\n"+
			"A question to start from: what have you tried so far, and what did you expect to happen?", t.MaxStage))
		return nil
	}
	w.Text("Here is what your course material says about it.\n\n")
	for _, p := range ps {
		w.Source(p)
		w.Text(fmt.Sprintf("**%s › %s** (stage %d)\n\n%s\n\n", p.LessonTitle, p.Section, p.Stage, quote(excerpt(p.Text, 700))))
	}
	w.Text(guidingQuestion(ps[0]))
	return nil
}

func (m Material) limit() int {
	if m.Passages > 0 {
		return m.Passages
	}
	return 3
}

// guidingQuestion asks the learner to work with the passage rather than
// just read it.
func guidingQuestion(p tutor.Passage) string {
	return fmt.Sprintf("Before reading further, try this: in your own words, what does “%s” say, "+
		"and how does it answer your question? Write your explanation here and I will point you to what to read next.", p.Section)
}

// excerpt shortens text to about n bytes at a word boundary.
func excerpt(text string, n int) string {
	text = strings.TrimSpace(text)
	if len(text) <= n {
		return text
	}
	cut := strings.LastIndexAny(text[:n], " \n")
	if cut < n/2 {
		cut = n
	}
	for cut > 0 && cut < len(text) && text[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return strings.TrimSpace(text[:cut]) + " …"
}

// quote renders text as a Markdown block quote.
func quote(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("> "+l, " ")
	}
	return strings.Join(lines, "\n")
}
