package chatkit

import (
	"github.com/learnplatform/platform/kit/account"

	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/learnplatform/platform/tutor"
)

// answer writes the tutor's answer to msg, sending events through send
// (which drops them once the client is gone) and storing the result. It
// runs detached from the request.
func (h *Handler) answer(ctx context.Context, c account.User, th tutor.Thread, msg tutor.Item, start time.Time, send func(any)) {
	aw := &answerWriter{h: h, thread: th, send: send, start: start}
	turn, err := h.respond(ctx, c, th, msg, aw)
	if err == nil && !aw.started {
		err = errors.New("the tutor produced no answer")
	}
	// Store with a context of its own: a shutdown that cancelled the
	// answer must not also lose what was written so far.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		h.cfg.Logger.Warn("answer failed", "thread", th.ID, "error", err)
		if aw.started {
			aw.Text("\n\n*(This answer was interrupted. Retry to get a complete one.)*")
			aw.finish(saveCtx, tutor.ItemInterrupted, h.checkOutput(ctx, turn, aw))
		}
		msg := "The tutor could not answer just now. Please try again."
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "The tutor took too long to answer. Please try again."
		}
		send(ErrorEvent{Type: EvError, Code: ErrorCodeCustom, Message: &msg, AllowRetry: true})
	} else {
		aw.finish(saveCtx, tutor.ItemDone, h.checkOutput(ctx, turn, aw))
	}
	if aw.uncounted && !c.Staff() {
		// A guardrail failed: not the learner's fault, so not their message.
		if err := h.cfg.Threads.Uncount(saveCtx, c.ID); err != nil {
			h.cfg.Logger.Error("give back a message the guardrails could not check", "error", err)
		} else {
			aw.Notice("info", "", "This message did not count against your daily limit.")
		}
	}
	u := tutor.Usage{UserID: c.ID, At: time.Now(), Total: time.Since(start), Failed: err != nil, TokensIn: aw.tokensIn, TokensOut: aw.tokensOut}
	if !aw.firstText.IsZero() {
		u.FirstToken = max(aw.firstText.Sub(start), time.Millisecond)
	}
	h.metrics.answered(u.Failed, u.FirstToken)
	if err := h.cfg.Reports.RecordUsage(saveCtx, u); err != nil {
		h.cfg.Logger.Error("record usage", "error", err)
	}
}

// checkOutput runs the output guardrails on the finished answer and
// returns its replacement, or nil to keep it. An answer cut short is
// checked too: what was streamed is stored.
func (h *Handler) checkOutput(ctx context.Context, turn tutor.Turn, aw *answerWriter) *string {
	// A refusal is the guardrails' own text (or the tutor's, when one
	// failed), not the model's: screening it as an answer could only
	// replace the message that explains the refusal.
	if h.cfg.Guard == nil || !aw.started || aw.refused {
		return nil
	}
	// The answer's own deadline may be spent (a slow model); the check
	// gets a moment of its own, bounded by the guardrails' timeouts.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	v := h.cfg.Guard.CheckOutput(ctx, tutor.GuardOutput{Turn: turn, Answer: aw.item.Content[0].Text, Passages: aw.passages})
	if !v.Replaced {
		return nil
	}
	h.metrics.replaced.Inc()
	return &v.Answer
}

// respond builds the turn and asks the Responder; it returns the turn.
func (h *Handler) respond(ctx context.Context, c account.User, th tutor.Thread, msg tutor.Item, aw *answerWriter) (tutor.Turn, error) {
	turn := tutor.Turn{Caller: c, Thread: th}
	history, err := h.cfg.Threads.History(ctx, th.ID, historyItems)
	if err != nil {
		return turn, err
	}
	for _, it := range history {
		if it.CreatedAt.After(msg.CreatedAt) || it.ID == msg.ID {
			continue
		}
		switch it.Type {
		case tutor.ItemUserMessage, tutor.ItemAssistantMessage:
			role := "user"
			if it.Type == tutor.ItemAssistantMessage {
				role = "assistant"
			}
			if text, _ := itemText(it.Payload); text != "" {
				turn.History = append(turn.History, tutor.Message{Role: role, Text: text})
			}
			turn.Page = nil // a page context belongs to the message after it
		case tutor.ItemHiddenContext:
			turn.Page = pageOf(it.Payload)
		}
	}
	turn.Question, turn.QuotedText = itemText(msg.Payload)
	if th.Course != "" {
		e, err := h.cfg.Courses.Enrollment(ctx, c.ID, th.Course)
		switch {
		case err == nil && e.Active():
			turn.Course, turn.MaxStage = th.Course, e.UnlockedStage
		case err == nil, tutor.ErrorCode(err) == tutor.ENOTFOUND:
			aw.Notice("warning", "Not enrolled", "You are not enrolled in this course any more, so the tutor cannot draw on its material.")
		default:
			return turn, err
		}
	}
	return turn, h.cfg.Responder.Respond(ctx, turn, aw)
}

// itemText returns a stored message's text (and quoted text).
func itemText(payload json.RawMessage) (text, quoted string) {
	var m struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		QuotedText string `json:"quoted_text"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return "", ""
	}
	parts := make([]string, 0, len(m.Content))
	for _, c := range m.Content {
		parts = append(parts, c.Text)
	}
	return strings.TrimSpace(strings.Join(parts, " ")), m.QuotedText
}

func pageOf(payload json.RawMessage) *tutor.PageContext {
	var m struct {
		Content struct {
			Page *tutor.PageContext `json:"page"`
		} `json:"content"`
	}
	if json.Unmarshal(payload, &m) != nil {
		return nil
	}
	return m.Content.Page
}

// answerWriter turns the Responder's calls into protocol events and keeps
// the answer to store at the end.
type answerWriter struct {
	h      *Handler
	thread tutor.Thread
	send   func(any)
	start  time.Time

	started   bool
	refused   bool // the answer is the input guardrails' refusal, not the model's
	uncounted bool // ...because a guardrail failed: the message is given back
	item      AssistantMessageItem
	sources   []tutor.SourceRef
	passages  []tutor.Passage
	firstText time.Time
	tokensIn  int64
	tokensOut int64
}

func (a *answerWriter) Progress(text string) {
	a.send(ProgressUpdateEvent{Type: EvProgressUpdate, Text: text})
}

func (a *answerWriter) Notice(level, title, message string) {
	ev := NoticeEvent{Type: EvNotice, Level: level, Message: message}
	if title != "" {
		ev.Title = &title
	}
	a.send(ev)
}

// begin announces the assistant message and its one content part.
func (a *answerWriter) begin() {
	if a.started {
		return
	}
	a.started = true
	a.item = AssistantMessageItem{
		Type:           tutor.ItemAssistantMessage,
		ThreadItemBase: ThreadItemBase{ID: tutor.NewID("msg"), ThreadID: a.thread.ID, CreatedAt: a.h.clock.Now()},
		Content:        []AssistantMessageContent{},
	}
	a.send(ItemEvent{Type: EvItemAdded, Item: a.item})
	a.item.Content = []AssistantMessageContent{{Type: "output_text", Text: "", Annotations: []Annotation{}}}
	a.send(ItemUpdatedEvent{Type: EvItemUpdated, ItemID: a.item.ID,
		Update: ContentPartEvent{Type: UpdPartAdded, ContentIndex: 0, Content: a.item.Content[0]}})
}

func (a *answerWriter) Text(delta string) {
	if delta == "" {
		return
	}
	a.begin()
	if a.firstText.IsZero() {
		a.firstText = time.Now()
	}
	a.item.Content[0].Text += delta
	a.send(ItemUpdatedEvent{Type: EvItemUpdated, ItemID: a.item.ID,
		Update: TextDelta{Type: UpdTextDelta, ContentIndex: 0, Delta: delta}})
}

// Refuse implements tutor.RefusalWriter.
func (a *answerWriter) Refuse(text string, uncounted bool) {
	a.Text(text)
	a.refused, a.uncounted = true, a.uncounted || uncounted
}

func (a *answerWriter) Source(p tutor.Passage) {
	ref := p.Ref()
	for _, s := range a.sources {
		if s.Course == ref.Course && s.Lesson == ref.Lesson && s.Anchor == ref.Anchor {
			return
		}
	}
	a.begin()
	a.sources = append(a.sources, ref)
	a.passages = append(a.passages, p)
	title := p.LessonTitle
	if p.Section != "" && p.Section != p.LessonTitle {
		title += " › " + p.Section
	}
	ann := Annotation{Type: "annotation", Source: URLSource{
		Type: "url", Title: title, URL: a.h.cfg.LessonURL(p.Course, p.Lesson, p.Anchor), Group: ptr("Course material"),
	}}
	idx := len(a.item.Content[0].Annotations)
	a.item.Content[0].Annotations = append(a.item.Content[0].Annotations, ann)
	a.send(ItemUpdatedEvent{Type: EvItemUpdated, ItemID: a.item.ID,
		Update: AnnotationAdded{Type: UpdAnnotation, ContentIndex: 0, AnnotationIndex: idx, Annotation: ann}})
}

func (a *answerWriter) Usage(in, out int64) {
	a.tokensIn += in
	a.tokensOut += out
}

// finish closes the content part and the item, and stores it. With a
// replacement (an output guardrail's) the streamed item is replaced in
// the client (thread.item.replaced: same id, the replacement's text, the
// same sources) and only the replacement is stored.
func (a *answerWriter) finish(ctx context.Context, status string, replacement *string) {
	a.send(ItemUpdatedEvent{Type: EvItemUpdated, ItemID: a.item.ID,
		Update: ContentPartEvent{Type: UpdPartDone, ContentIndex: 0, Content: a.item.Content[0]}})
	a.send(ItemEvent{Type: EvItemDone, Item: a.item})
	if replacement != nil {
		a.item.Content[0].Text = *replacement
		a.send(ItemReplacedEvent{Type: EvItemReplaced, Item: a.item})
	}
	payload, err := marshal(a.item)
	if err == nil {
		err = a.h.cfg.Threads.SaveItem(ctx, tutor.Item{
			ID: a.item.ID, ThreadID: a.thread.ID, Type: tutor.ItemAssistantMessage, Status: status,
			CreatedAt: a.item.CreatedAt, Sources: a.sources, Payload: payload,
		})
	}
	if err != nil {
		a.h.cfg.Logger.Error("store answer", "thread", a.thread.ID, "error", err)
	}
}
