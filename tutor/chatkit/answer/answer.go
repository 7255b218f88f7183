// Package answer writes the tutor's answer to a learner's message, as
// the ChatKit protocol streams it: it builds the turn from the thread's
// history, asks the Responder (the agent), turns what it writes into
// protocol events, runs the output guardrails on the finished answer,
// stores it (done, or interrupted with a line saying so), gives back a
// message the guardrails could not check, and records the usage.
//
// tutor/chatkit runs one per streaming request, detached from the HTTP
// request: Run sends its events through a function that drops them once
// the client is gone, and the answer is stored however the stream ends.
package answer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
)

// HistoryItems is how much of a thread the model sees before a message.
const HistoryItems = 24

// Config is what answers need.
type Config struct {
	Threads   tutor.ThreadStore
	Courses   tutor.CourseStore
	Reports   tutor.ReportStore
	Responder tutor.Responder
	// Guard checks every finished answer (output guardrails); one it
	// replaces is sent again as thread.item.replaced and stored replaced.
	// nil: no guardrails.
	Guard tutor.Guard
	// LessonURL makes the link of a lesson section (annotation sources;
	// nil: /courses/<course>/<lesson>#<anchor>).
	LessonURL func(course, lesson, anchor string) string
	// Clock stamps the answer items; share the one that stamps the
	// messages (nil: a clock of the Runner's own).
	Clock *tutor.Clock
	// Finished, when set, hears how each answer ended (metrics).
	Finished func(Outcome)
	Logger   *slog.Logger
}

// Outcome is how an answer ended.
type Outcome struct {
	// Failed: the Responder failed or timed out (the answer, if any, was
	// stored as interrupted).
	Failed bool
	// FirstText is the time from the message to the answer's first text
	// (0: no text came).
	FirstText time.Duration
	// Replaced: an output guardrail replaced the finished answer.
	Replaced bool
}

// Job is one answer to write: the learner's stored message in a thread.
type Job struct {
	Caller  account.User
	Thread  tutor.Thread
	Message tutor.Item
	// Start is when the learner's request came (for the usage's times).
	Start time.Time
}

// Runner writes answers.
type Runner struct {
	cfg Config
}

// NewRunner returns a Runner.
func NewRunner(cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = &tutor.Clock{}
	}
	if cfg.Finished == nil {
		cfg.Finished = func(Outcome) {}
	}
	if cfg.LessonURL == nil {
		cfg.LessonURL = func(course, lesson, anchor string) string {
			u := "/courses/" + course + "/" + lesson
			if anchor != "" {
				u += "#" + anchor
			}
			return u
		}
	}
	return &Runner{cfg: cfg}
}

// Run writes the answer to j's message, sending its events through send
// (which may drop them: the client may be gone) and storing the result
// with a context of its own, so an answer cancelled mid-way (a timeout, a
// shutdown) is still stored. It returns when the answer is stored.
func (r *Runner) Run(ctx context.Context, j Job, send func(any)) {
	c, th, start := j.Caller, j.Thread, j.Start
	aw := &answerWriter{r: r, thread: th, send: send}
	turn, err := r.respond(ctx, c, th, j.Message, aw)
	if err == nil && !aw.started {
		err = errors.New("the tutor produced no answer")
	}
	// Store with a context of its own: a shutdown that cancelled the
	// answer must not also lose what was written so far.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil {
		r.cfg.Logger.Warn("answer failed", "thread", th.ID, "error", err)
		if aw.started {
			aw.Text("\n\n*(This answer was interrupted. Retry to get a complete one.)*")
			aw.finish(saveCtx, tutor.ItemInterrupted, r.checkOutput(ctx, turn, aw))
		}
		msg := "The tutor could not answer just now. Please try again."
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "The tutor took too long to answer. Please try again."
		}
		send(protocol.ErrorEvent{Type: protocol.EvError, Code: protocol.ErrorCodeCustom, Message: &msg, AllowRetry: true})
	} else {
		aw.finish(saveCtx, tutor.ItemDone, r.checkOutput(ctx, turn, aw))
	}
	if aw.uncounted && !c.Staff() {
		// A guardrail failed: not the learner's fault, so not their message.
		if err := r.cfg.Threads.Uncount(saveCtx, c.ID); err != nil {
			r.cfg.Logger.Error("give back a message the guardrails could not check", "error", err)
		} else {
			aw.Notice("info", "", "This message did not count against your daily limit.")
		}
	}
	u := tutor.Usage{UserID: c.ID, At: time.Now(), Total: time.Since(start), Failed: err != nil, TokensIn: aw.tokensIn, TokensOut: aw.tokensOut}
	if !aw.firstText.IsZero() {
		u.FirstToken = max(aw.firstText.Sub(start), time.Millisecond)
	}
	r.cfg.Finished(Outcome{Failed: u.Failed, FirstText: u.FirstToken, Replaced: aw.replaced})
	if err := r.cfg.Reports.RecordUsage(saveCtx, u); err != nil {
		r.cfg.Logger.Error("record usage", "error", err)
	}
}

// checkOutput runs the output guardrails on the finished answer and
// returns its replacement, or nil to keep it. An answer cut short is
// checked too: what was streamed is stored.
func (r *Runner) checkOutput(ctx context.Context, turn tutor.Turn, aw *answerWriter) *string {
	// A refusal is the guardrails' own text (or the tutor's, when one
	// failed), not the model's: screening it as an answer could only
	// replace the message that explains the refusal.
	if r.cfg.Guard == nil || !aw.started || aw.refused {
		return nil
	}
	// The answer's own deadline may be spent (a slow model); the check
	// gets a moment of its own, bounded by the guardrails' timeouts.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	v := r.cfg.Guard.CheckOutput(ctx, tutor.GuardOutput{Turn: turn, Answer: aw.item.Content[0].Text, Passages: aw.passages})
	if !v.Replaced {
		return nil
	}
	aw.replaced = true
	return &v.Answer
}

// respond builds the turn and asks the Responder; it returns the turn.
func (r *Runner) respond(ctx context.Context, c account.User, th tutor.Thread, msg tutor.Item, aw *answerWriter) (tutor.Turn, error) {
	turn := tutor.Turn{Caller: c, Thread: th}
	history, err := r.cfg.Threads.History(ctx, th.ID, HistoryItems)
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
			if text, _ := protocol.MessageText(it.Payload); text != "" {
				turn.History = append(turn.History, tutor.Message{Role: role, Text: text})
			}
			turn.Page = nil // a page context belongs to the message after it
		case tutor.ItemHiddenContext:
			turn.Page = protocol.PageContextOf(it.Payload)
		}
	}
	turn.Question, turn.QuotedText = protocol.MessageText(msg.Payload)
	if th.Course != "" {
		e, err := r.cfg.Courses.Enrollment(ctx, c.ID, th.Course)
		switch {
		case err == nil && e.Active():
			turn.Course, turn.MaxStage = th.Course, e.UnlockedStage
		case err == nil, tutor.ErrorCode(err) == tutor.ENOTFOUND:
			aw.Notice("warning", "Not enrolled", "You are not enrolled in this course any more, so the tutor cannot draw on its material.")
		default:
			return turn, err
		}
	}
	return turn, r.cfg.Responder.Respond(ctx, turn, aw)
}

// answerWriter turns the Responder's calls into protocol events and keeps
// the answer to store at the end.
type answerWriter struct {
	r      *Runner
	thread tutor.Thread
	send   func(any)

	started   bool
	refused   bool // the answer is the input guardrails' refusal, not the model's
	uncounted bool // ...because a guardrail failed: the message is given back
	replaced  bool // an output guardrail replaced the finished answer
	item      protocol.AssistantMessageItem
	sources   []tutor.SourceRef
	passages  []tutor.Passage
	firstText time.Time
	tokensIn  int64
	tokensOut int64
}

func (a *answerWriter) Progress(text string) {
	a.send(protocol.ProgressUpdateEvent{Type: protocol.EvProgressUpdate, Text: text})
}

func (a *answerWriter) Notice(level, title, message string) {
	ev := protocol.NoticeEvent{Type: protocol.EvNotice, Level: level, Message: message}
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
	a.item = protocol.AssistantMessageItem{
		Type:           tutor.ItemAssistantMessage,
		ThreadItemBase: protocol.ThreadItemBase{ID: tutor.NewID("msg"), ThreadID: a.thread.ID, CreatedAt: a.r.cfg.Clock.Now()},
		Content:        []protocol.AssistantMessageContent{},
	}
	a.send(protocol.ItemEvent{Type: protocol.EvItemAdded, Item: a.item})
	a.item.Content = []protocol.AssistantMessageContent{{Type: "output_text", Text: "", Annotations: []protocol.Annotation{}}}
	a.send(protocol.ItemUpdatedEvent{Type: protocol.EvItemUpdated, ItemID: a.item.ID,
		Update: protocol.ContentPartEvent{Type: protocol.UpdPartAdded, ContentIndex: 0, Content: a.item.Content[0]}})
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
	a.send(protocol.ItemUpdatedEvent{Type: protocol.EvItemUpdated, ItemID: a.item.ID,
		Update: protocol.TextDelta{Type: protocol.UpdTextDelta, ContentIndex: 0, Delta: delta}})
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
	ann := protocol.Annotation{Type: "annotation", Source: protocol.URLSource{
		Type: "url", Title: title, URL: a.r.cfg.LessonURL(p.Course, p.Lesson, p.Anchor), Group: ptr("Course material"),
	}}
	idx := len(a.item.Content[0].Annotations)
	a.item.Content[0].Annotations = append(a.item.Content[0].Annotations, ann)
	a.send(protocol.ItemUpdatedEvent{Type: protocol.EvItemUpdated, ItemID: a.item.ID,
		Update: protocol.AnnotationAdded{Type: protocol.UpdAnnotation, ContentIndex: 0, AnnotationIndex: idx, Annotation: ann}})
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
	a.send(protocol.ItemUpdatedEvent{Type: protocol.EvItemUpdated, ItemID: a.item.ID,
		Update: protocol.ContentPartEvent{Type: protocol.UpdPartDone, ContentIndex: 0, Content: a.item.Content[0]}})
	a.send(protocol.ItemEvent{Type: protocol.EvItemDone, Item: a.item})
	if replacement != nil {
		a.item.Content[0].Text = *replacement
		a.send(protocol.ItemReplacedEvent{Type: protocol.EvItemReplaced, Item: a.item})
	}
	payload, err := protocol.Marshal(a.item)
	if err == nil {
		err = a.r.cfg.Threads.SaveItem(ctx, tutor.Item{
			ID: a.item.ID, ThreadID: a.thread.ID, Type: tutor.ItemAssistantMessage, Status: status,
			CreatedAt: a.item.CreatedAt, Sources: a.sources, Payload: payload,
		})
	}
	if err != nil {
		a.r.cfg.Logger.Error("store answer", "thread", a.thread.ID, "error", err)
	}
}

func ptr[T any](v T) *T { return &v }
