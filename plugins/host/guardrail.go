package host

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/learnplatform/platform/plugins"
)

// Guardrail is a guardrail plugin as the tutor sees it: a plugins.Guardrail
// whose decisions are checked (a malformed one is an error).
type Guardrail struct{ *Plugin }

// CheckInput asks the plugin about what goes to the model.
func (g *Guardrail) CheckInput(ctx context.Context, in plugins.InputCheck) (plugins.Decision, error) {
	var d plugins.Decision
	err := g.proc.Call(ctx, "CheckInput", func(ctx context.Context, client any) error {
		var err error
		if d, err = client.(plugins.Guardrail).CheckInput(ctx, in); err == nil {
			err = validDecision(d)
		}
		return err
	})
	return d, err
}

// CheckOutput asks the plugin about a finished answer.
func (g *Guardrail) CheckOutput(ctx context.Context, out plugins.OutputCheck) (plugins.Decision, error) {
	var d plugins.Decision
	err := g.proc.Call(ctx, "CheckOutput", func(ctx context.Context, client any) error {
		var err error
		if d, err = client.(plugins.Guardrail).CheckOutput(ctx, out); err == nil {
			err = validDecision(d)
		}
		return err
	})
	return d, err
}

func validDecision(d plugins.Decision) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errInvalid, err)
	}
	if len(d.Text) > MaxChunkBytes*4 || len(d.LearnerMessage) > MaxChunkBytes {
		return fmt.Errorf("%w: decision text too long", errInvalid)
	}
	return nil
}

// What the learner is told when a guardrail that fails closed cannot answer.
const (
	UncheckedInputMessage  = "The tutor cannot check messages right now, so it is not answering this one. Please try again in a minute."
	UncheckedOutputMessage = "The tutor could not check its answer, so it is withheld. Please ask again in a minute."
)

// InputVerdict is what all guardrails together decided about an input.
type InputVerdict struct {
	// Blocked: do not ask the model; answer LearnerMessage instead.
	Blocked bool
	// LearnerMessage is the block's message, or the rewrites' notes.
	LearnerMessage string
	// Message is what goes to the model (the learner's, or rewritten).
	Message string
	// Chunks are the retrieved chunks left after drops and rewrites.
	Chunks []plugins.Chunk
	// By names the guardrail that blocked.
	By string
	// Unchecked: the block is the host's own (LearnerMessage is
	// UncheckedInputMessage) because guardrail By failed (down, slow,
	// malformed answer), not a decision about the message. The tutor does
	// not count such a message against the learner's quota.
	Unchecked bool
	// Reasons are "name: reason" of every block, rewrite, chunk edit and
	// failure, for the log.
	Reasons []string
}

// CheckInput runs the guardrails in declaration order, each seeing what
// the previous ones left; the first block ends it. A guardrail that fails
// (down, slow, malformed answer) blocks unless it is declared fail_open.
func (h *Host) CheckInput(ctx context.Context, in plugins.InputCheck) InputVerdict {
	v := InputVerdict{Message: in.Message, Chunks: slices.Clone(in.Chunks)}
	var notes []string
	for _, g := range h.guardrails {
		d, err := g.CheckInput(ctx, plugins.InputCheck{Message: v.Message, Context: in.Context, Chunks: v.Chunks})
		if err != nil {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s: failed: %v", g.spec.Name, err))
			if g.spec.FailOpen {
				continue
			}
			v.Blocked, v.Unchecked, v.By, v.LearnerMessage = true, true, g.spec.Name, UncheckedInputMessage
			return v
		}
		if len(d.DropChunks) > 0 || len(d.ChunkRewrites) > 0 {
			v.Chunks = editChunks(v.Chunks, d)
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s: dropped %d, rewrote %d chunks: %s", g.spec.Name, len(d.DropChunks), len(d.ChunkRewrites), d.Reason))
		}
		switch d.Action {
		case plugins.Block:
			v.Blocked, v.By, v.LearnerMessage = true, g.spec.Name, d.LearnerMessage
			v.Reasons = append(v.Reasons, g.spec.Name+": block: "+d.Reason)
			return v
		case plugins.Rewrite:
			if v.Message != "" {
				v.Message = d.Text
			}
			if d.LearnerMessage != "" {
				notes = append(notes, d.LearnerMessage)
			}
			v.Reasons = append(v.Reasons, g.spec.Name+": rewrite: "+d.Reason)
		}
	}
	v.LearnerMessage = strings.Join(notes, " ")
	return v
}

// editChunks applies a decision's drops and rewrites; rewrites only change
// text, and never to empty or oversized text.
func editChunks(cs []plugins.Chunk, d plugins.Decision) []plugins.Chunk {
	out := cs[:0:0]
	for _, c := range cs {
		if slices.Contains(d.DropChunks, c.ID) {
			continue
		}
		if t, ok := d.ChunkRewrites[c.ID]; ok && t != "" && len(t) <= MaxChunkBytes {
			c.Text = t
		}
		out = append(out, c)
	}
	return out
}

// OutputVerdict is what all guardrails together decided about an answer.
type OutputVerdict struct {
	// Answer is what the learner gets: the model's, or its replacement.
	Answer string
	// Replaced is true when Answer is not the model's (send
	// thread.item.replaced); Blocked when a guardrail withheld it.
	Replaced, Blocked bool
	// By names the guardrail that last replaced the answer.
	By string
	// Unchecked: Answer is the host's own UncheckedOutputMessage because
	// guardrail By failed.
	Unchecked bool
	Reasons   []string
}

// CheckOutput runs the guardrails in declaration order on a finished
// answer; a rewrite replaces the answer for the next guardrail, a block
// ends it. A failing guardrail withholds the answer unless fail_open.
func (h *Host) CheckOutput(ctx context.Context, out plugins.OutputCheck) OutputVerdict {
	v := OutputVerdict{Answer: out.Answer}
	for _, g := range h.guardrails {
		d, err := g.CheckOutput(ctx, plugins.OutputCheck{Message: out.Message, Answer: v.Answer, Context: out.Context, Chunks: out.Chunks})
		if err != nil {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s: failed: %v", g.spec.Name, err))
			if g.spec.FailOpen {
				continue
			}
			v.Answer, v.Replaced, v.Blocked, v.Unchecked, v.By = UncheckedOutputMessage, true, true, true, g.spec.Name
			return v
		}
		switch d.Action {
		case plugins.Block:
			v.Answer, v.Replaced, v.Blocked, v.By = d.LearnerMessage, true, true, g.spec.Name
			v.Reasons = append(v.Reasons, g.spec.Name+": block: "+d.Reason)
			return v
		case plugins.Rewrite:
			v.Answer, v.Replaced, v.By = d.Text, true, g.spec.Name
			v.Reasons = append(v.Reasons, g.spec.Name+": rewrite: "+d.Reason)
		}
	}
	return v
}
