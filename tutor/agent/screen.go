package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/learnplatform/platform/tutor"
)

// access is one answer's access to course material and guardrails:
// searches that degrade to a notice when no retriever answers, and the
// guardrails' screening of the learner's message and of every passage
// before the model (or, in course-material mode, the learner) sees it.
type access struct {
	retriever tutor.Retriever
	guard     tutor.Guard // nil: none configured
	turn      tutor.Turn
	w         tutor.AnswerWriter
	noticed   bool
}

// available reports whether this turn may draw on course material.
func (a *access) available() bool {
	return a.retriever != nil && a.turn.Course != "" && a.turn.MaxStage > 0
}

// search finds passages the learner may see. When no retriever answers
// it tells the learner once (a notice) and returns none with answered
// false: the answer goes on without material. Other errors end the answer.
func (a *access) search(ctx context.Context, text string, limit int) (ps []tutor.Passage, answered bool, err error) {
	q := tutor.RetrievalQuery{Course: a.turn.Course, MaxStage: a.turn.MaxStage, Text: text, Limit: limit}
	ps, err = a.retriever.Retrieve(ctx, q)
	if errors.Is(err, tutor.ErrSearchUnavailable) {
		a.unavailable()
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("retrieve: %w", err)
	}
	return tutor.Allowed(q, ps), true, nil
}

func (a *access) unavailable() {
	if !a.noticed {
		a.noticed = true
		a.w.Notice("warning", "Course search unavailable", tutor.SearchUnavailableNotice)
	}
}

// screenInput runs the input guardrails on the learner's message, the text
// they quoted and the passages found for them, before anything streams.
// It returns the turn as the model gets it (the message possibly
// rewritten) and the passages left. ok is false when a guardrail blocked:
// the guardrail's message to the learner was written as the answer.
func (a *access) screenInput(ctx context.Context, ps []tutor.Passage) (t tutor.Turn, kept []tutor.Passage, ok bool) {
	t = a.turn
	if a.guard == nil {
		return t, ps, true
	}
	v := a.guard.CheckInput(ctx, tutor.GuardInput{Turn: a.turn, Message: t.Question, QuotedText: t.QuotedText, Passages: ps})
	if v.Blocked {
		tutor.Refuse(a.w, v.LearnerMessage, v.Unchecked)
		return t, nil, false
	}
	if v.LearnerMessage != "" {
		a.w.Notice("info", "", v.LearnerMessage)
	}
	t.Question, t.QuotedText = v.Message, v.QuotedText
	return t, v.Passages, true
}

// screenPassages runs the input guardrails on passages found later in the
// answer (the model's searches). ok is false when a guardrail blocked
// (one that failed and fails closed): none may be used.
func (a *access) screenPassages(ctx context.Context, ps []tutor.Passage) (kept []tutor.Passage, ok bool) {
	if a.guard == nil || len(ps) == 0 {
		return ps, true
	}
	v := a.guard.CheckInput(ctx, tutor.GuardInput{Turn: a.turn, Passages: ps})
	if v.Blocked {
		return nil, false
	}
	return v.Passages, true
}
