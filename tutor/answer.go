package tutor

import (
	"context"
	"github.com/learnplatform/platform/kit/account"
)

// Turn is everything the tutor knows when it answers one message.
type Turn struct {
	Caller account.User
	Thread Thread
	// History is the conversation before the message, oldest first.
	History []Message
	// Question is the learner's message.
	Question string
	// QuotedText is text the learner selected on the page and asked about.
	QuotedText string
	// Page is the page the learner asked from, if the client said
	// (learner-supplied: untrusted).
	Page *PageContext
	// Course is the course whose material may be used ("" for none) and
	// MaxStage the learner's unlocked stage in it (0: no material).
	Course   string
	MaxStage int
}

// Message is one earlier turn of the conversation.
type Message struct {
	// Role is user or assistant.
	Role string
	Text string
}

// PageContext is what the client says about the page the learner is on.
// It is stored as a hidden context item: kept and auditable, given to the
// model, never shown back to the learner. It comes from the learner's
// browser, so it is untrusted input like the message itself: it reaches
// the model only as user-role content marked as untrusted context, never
// with the system prompt's authority (agent.Prompt).
type PageContext struct {
	URL      string   `json:"url,omitempty"`
	Title    string   `json:"title,omitempty"`
	Headings []string `json:"headings,omitempty"`
}

// AnswerWriter receives an answer as it is produced. Calls come from one
// goroutine.
type AnswerWriter interface {
	// Progress says what the tutor is doing (searching the material...).
	Progress(text string)
	// Notice tells the learner something that is not part of the answer;
	// level is info, warning or danger.
	Notice(level, title, message string)
	// Text appends to the answer.
	Text(delta string)
	// Source records a passage the answer draws on.
	Source(p Passage)
	// Usage reports tokens the model used.
	Usage(in, out int64)
}

// RefusalWriter is an AnswerWriter that keeps a refusal apart from an
// answer. The agent refuses when the input guardrails blocked a message:
// the refusal text is the guardrails' (or the tutor's own when one
// failed), not the model's, so it is never screened by the output
// guardrails; with uncounted (a guardrail failed) the learner's message
// does not count against the quota.
type RefusalWriter interface {
	Refuse(text string, uncounted bool)
}

// Refuse writes a refusal through w: w.Refuse when w is a RefusalWriter,
// else as the answer's text.
func Refuse(w AnswerWriter, text string, uncounted bool) {
	if r, ok := w.(RefusalWriter); ok {
		r.Refuse(text, uncounted)
		return
	}
	w.Text(text)
}

// Responder answers a learner's message. An error ends the answer; the
// caller turns it into a protocol error the learner can retry.
type Responder interface {
	Respond(ctx context.Context, turn Turn, w AnswerWriter) error
}
