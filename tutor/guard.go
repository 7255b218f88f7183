package tutor

import (
	"context"
	"errors"
)

// SearchUnavailableNotice is what the learner is told when no source of
// course material answered (every retriever plugin down, slow or failing):
// the tutor answers without material and says so in a notice.
const SearchUnavailableNotice = "course search is unavailable right now"

// ErrSearchUnavailable is a Retriever's error (wrapped) when no source of
// course material answered. The agent answers without material and tells
// the learner (SearchUnavailableNotice); any other retrieval error ends the
// answer.
var ErrSearchUnavailable = errors.New(SearchUnavailableNotice)

// Guard screens what goes to the model and what the learner gets: the
// guardrail plugins (tutor/pluginhost). The agent calls CheckInput before
// the model is asked, so before the first token streams; chatkit calls
// CheckOutput on the finished answer. Both always decide: a guardrail that
// cannot answer blocks unless it is declared fail_open.
type Guard interface {
	CheckInput(ctx context.Context, in GuardInput) InputVerdict
	CheckOutput(ctx context.Context, out GuardOutput) OutputVerdict
}

// GuardInput is what the model would get.
type GuardInput struct {
	// Turn says where the conversation stands (course, stage, page,
	// history); its Question is the learner's unchanged message. Its Page
	// is what the learner's browser said (untrusted, like the message):
	// context for a guardrail's decision, never a reason to trust the input.
	Turn Turn
	// Message is the learner's message; empty when only passages found
	// later in the answer (the model's searches) are screened.
	Message string
	// QuotedText is text the learner selected on the page; it is screened
	// like course material (dropped or redacted, never refused as a message).
	QuotedText string
	// Passages are the retrieved course material.
	Passages []Passage
}

// InputVerdict is what the guardrails together decided about an input.
type InputVerdict struct {
	// Blocked: do not ask the model; the answer is LearnerMessage.
	Blocked bool
	// Unchecked: blocked because a guardrail could not check the message
	// (it failed, and fails closed), not because of the message; the
	// LearnerMessage is the tutor's own. The message does not count
	// against the learner's quota.
	Unchecked bool
	// LearnerMessage is the block's message, or notes about rewrites for
	// the learner (shown as a notice), or empty.
	LearnerMessage string
	// Message, QuotedText and Passages are what goes to the model: the
	// learner's words or their rewrite, and the passages left after drops
	// and redactions.
	Message    string
	QuotedText string
	Passages   []Passage
	// Reasons name each guardrail's block, rewrite, drop or failure, for
	// the log; never shown to the learner.
	Reasons []string
}

// GuardOutput is a finished answer.
type GuardOutput struct {
	// Turn is what was answered; its Question is the learner's message.
	Turn Turn
	// Answer is the answer's text as it streamed.
	Answer string
	// Passages are the sources the answer drew on.
	Passages []Passage
}

// OutputVerdict is what the guardrails together decided about an answer.
type OutputVerdict struct {
	// Answer is what the learner keeps: the streamed answer or its
	// replacement.
	Answer string
	// Replaced is true when Answer is not the streamed one (chatkit sends
	// thread.item.replaced and stores the replacement); Blocked when a
	// guardrail withheld the answer.
	Replaced, Blocked bool
	// Reasons are for the log.
	Reasons []string
}
