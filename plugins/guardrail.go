package plugins

import (
	"context"
	"errors"
	"fmt"
)

// Action is what a guardrail decides.
type Action int

const (
	// Allow goes on unchanged (chunk edits in the Decision still apply).
	Allow Action = iota + 1
	// Block stops: the model is not asked (input) or the answer is
	// withdrawn (output); the learner sees Decision.LearnerMessage.
	Block
	// Rewrite goes on with Decision.Text: the message sent to the model
	// (input), or the answer that replaces the model's (output).
	Rewrite
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Block:
		return "block"
	case Rewrite:
		return "rewrite"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is a guardrail's verdict.
type Decision struct {
	Action Action
	// Text replaces the learner's message (input) or the answer (output)
	// when Action is Rewrite.
	Text string
	// LearnerMessage is shown to the learner: required for Block, an
	// optional note for Rewrite.
	LearnerMessage string
	// Reason is for the log and metrics, never shown; required for Block
	// and Rewrite.
	Reason string
	// DropChunks (input only) are ids of chunks to leave out of the prompt.
	DropChunks []string
	// ChunkRewrites (input only) replace chunks' text by id, e.g. redacted.
	ChunkRewrites map[string]string
}

// Validate reports a decision the host cannot act on.
func (d Decision) Validate() error {
	switch d.Action {
	case Allow:
	case Block:
		if d.LearnerMessage == "" {
			return errors.New("block without a learner message")
		}
		if d.Reason == "" {
			return errors.New("block without a reason")
		}
	case Rewrite:
		if d.Text == "" {
			return errors.New("rewrite without text")
		}
		if d.Reason == "" {
			return errors.New("rewrite without a reason")
		}
	default:
		return fmt.Errorf("unknown action %d", int(d.Action))
	}
	return nil
}

// Turn is an earlier message of the conversation.
type Turn struct {
	// Role is "user" or "assistant".
	Role, Text string
}

// Context is where the conversation stands.
type Context struct {
	Course, Lesson string
	// Stage is the learner's unlocked stage.
	Stage int
	// PageTitle is the page the learner is on, when the client says.
	PageTitle string
	// History holds earlier turns, oldest first.
	History []Turn
}

// InputCheck is what goes to the model: the learner's message (empty when
// only chunks retrieved later in an answer are screened) and the chunks.
type InputCheck struct {
	Message string
	Context Context
	Chunks  []Chunk
}

// OutputCheck is a finished answer and what it answers.
type OutputCheck struct {
	Message, Answer string
	Context         Context
	Chunks          []Chunk
}

// Guardrail checks what the tutor takes in and what it says. Both methods
// must answer a well-formed Decision (Validate) quickly: input checks run
// before the first token streams.
type Guardrail interface {
	CheckInput(ctx context.Context, in InputCheck) (Decision, error)
	CheckOutput(ctx context.Context, out OutputCheck) (Decision, error)
}
