package chatkit

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
	"github.com/learnplatform/platform/tutor/memstore"
)

// deadGuard stands for guardrail plugins that fail: every input is blocked
// as unchecked (the host's own message), and every output check would
// withhold the answer, as a dead output guardrail does.
type deadGuard struct {
	outputs atomic.Int32
	block   string // "" blocks as unchecked; else a guardrail's own block
}

const uncheckedInput = "The tutor cannot check messages right now, so it is not answering this one."

func (g *deadGuard) CheckInput(_ context.Context, in tutor.GuardInput) tutor.InputVerdict {
	if g.block != "" {
		return tutor.InputVerdict{Blocked: true, LearnerMessage: g.block}
	}
	return tutor.InputVerdict{Blocked: true, Unchecked: true, LearnerMessage: uncheckedInput}
}

func (g *deadGuard) CheckOutput(_ context.Context, out tutor.GuardOutput) tutor.OutputVerdict {
	g.outputs.Add(1)
	return tutor.OutputVerdict{Answer: "The tutor could not check its answer, so it is withheld.", Replaced: true, Blocked: true}
}

// A message blocked because a guardrail failed is answered with the
// tutor's own message, which no output guardrail screens (and replaces),
// and it does not count against the learner's quota.
func TestUncheckedInputIsNotChargedNorScreenedTwice(t *testing.T) {
	g := &deadGuard{}
	e := newEnvWith(t, Config{Guard: g}, func(s *memstore.Store) tutor.Responder { return agent.Material{Retriever: s, Guard: g} })
	for i := range 3 {
		r := e.do(t, "u1", create("What is a loop?", map[string]any{"course": course}))
		ans := r.doneItem(tutor.ItemAssistantMessage)
		if ans == nil {
			t.Fatalf("no answer: %v", r.events)
		}
		text := ans["content"].([]any)[0].(map[string]any)["text"]
		if text != uncheckedInput || r.find(protocol.EvItemReplaced) != nil {
			t.Fatalf("answer %q, replaced %v", text, r.find(protocol.EvItemReplaced))
		}
		if n := e.counted("u1"); n != 0 {
			t.Fatalf("message %d: %d counted, want none", i, n)
		}
		if !givenBack(r) {
			t.Errorf("no notice that the message was given back: %v", r.events)
		}
		stored := e.items(t, r.threadID(t))
		if got, _ := protocol.MessageText(stored[len(stored)-1].Payload); got != uncheckedInput {
			t.Errorf("stored %q", got)
		}
	}
	if n := g.outputs.Load(); n != 0 {
		t.Errorf("the refusal went through the output guardrails %d times", n)
	}
}

// A guardrail's own block is a decision about the message: it counts, and
// its message is not screened as an answer either.
func TestBlockedInputCountsButIsNotScreenedAsAnAnswer(t *testing.T) {
	g := &deadGuard{block: "Let's keep to the course."}
	e := newEnvWith(t, Config{Guard: g}, func(s *memstore.Store) tutor.Responder { return agent.Material{Retriever: s, Guard: g} })
	r := e.do(t, "u1", create("What is the weather?", map[string]any{"course": course}))
	ans := r.doneItem(tutor.ItemAssistantMessage)
	if text := ans["content"].([]any)[0].(map[string]any)["text"]; text != g.block || r.find(protocol.EvItemReplaced) != nil {
		t.Fatalf("answer %q", text)
	}
	if n := e.counted("u1"); n != 1 {
		t.Errorf("%d counted, want 1", n)
	}
	if n := g.outputs.Load(); n != 0 {
		t.Errorf("screened %d times", n)
	}
}

// Staff are never counted, so nothing is given back.
func TestUncheckedInputOfStaff(t *testing.T) {
	g := &deadGuard{}
	e := newEnvWith(t, Config{Guard: g}, func(s *memstore.Store) tutor.Responder { return agent.Material{Retriever: s, Guard: g} })
	r := e.do(t, "i1", create("What is a loop?", map[string]any{"course": course}), account.RoleInstructor)
	if givenBack(r) {
		t.Error("told staff a message was given back")
	}
}

// givenBack reports whether the stream told the learner the message did
// not count.
func givenBack(r result) bool {
	for _, ev := range r.events {
		if ev["type"] == protocol.EvNotice && ev["message"] == "This message did not count against your daily limit." {
			return true
		}
	}
	return false
}
