package chatkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/answer"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
)

// turnItems checks a learner's message and returns the items its turn
// stores (the page context as a hidden item, when there is one, then the
// message: always last) and the checked message.
func (h *Handler) turnItems(threadID string, pc *tutor.PageContext, in *protocol.UserMessageInput) ([]tutor.Item, protocol.Message, error) {
	m, err := protocol.CheckMessage(in, h.cfg.MaxMessageBytes)
	if err != nil {
		return nil, m, err
	}
	var items []tutor.Item
	if pc != nil {
		hc, err := protocol.PageContextItem(threadID, h.clock.Now(), pc)
		if err != nil {
			return nil, m, err
		}
		items = append(items, hc)
	}
	msg, err := m.Item(threadID, h.clock.Now())
	if err != nil {
		return nil, m, err
	}
	return append(items, msg), m, nil
}

func (h *Handler) quota(c account.User) *tutor.Quota {
	if c.Staff() {
		return nil
	}
	return &tutor.Quota{Limit: h.cfg.DailyMessages, Window: tutor.QuotaWindow}
}

// courseFor decides which course a new thread is about: the one the
// request names (self-enrolling the learner at stage 1 if needed), else the
// learner's only active enrollment, else none.
func (h *Handler) courseFor(ctx context.Context, c account.User, course string) (tutor.Enrollment, error) {
	if course == "" {
		es, err := h.cfg.Courses.Enrollments(ctx, c.ID)
		if err != nil {
			return tutor.Enrollment{}, err
		}
		var active []tutor.Enrollment
		for _, e := range es {
			if e.Active() {
				active = append(active, e)
			}
		}
		if len(active) == 1 {
			return active[0], nil
		}
		return tutor.Enrollment{}, nil
	}
	e, err := h.cfg.Courses.Enrollment(ctx, c.ID, course)
	if tutor.ErrorCode(err) == tutor.ENOTFOUND {
		if _, err := h.cfg.Courses.Course(ctx, course); err != nil {
			return e, err
		}
		return h.cfg.Courses.Enroll(ctx, c.ID, course)
	}
	if err != nil {
		return e, err
	}
	if !e.Active() {
		return e, tutor.Errorf(tutor.ECONFLICT, "your enrollment in %q has ended; enrol again to ask about it", course)
	}
	return e, nil
}

// title makes a thread title from its first message.
func title(text string) string {
	t := strings.Join(strings.Fields(text), " ")
	if len(t) <= 60 {
		return t
	}
	t = protocol.Truncate(t, 60)
	if i := strings.LastIndex(t, " "); i > 30 {
		t = t[:i] + "…"
	}
	return t
}

// stream handles the three streaming requests: everything that can fail
// on bad input fails before the first byte, as a JSON error; from then on
// failures are error events.
//
// Each takes an answer slot first (slots): over the caller's or the
// process's limit it is refused (429 busy) before any store call, so it
// stores and counts nothing. The slot goes with the answer and is given
// back when the answer ends, or at once when the request fails before it.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, c account.User, req protocol.Request, start time.Time) {
	ctx := r.Context()
	release, err := h.slots.acquire(c.ID)
	if err != nil {
		h.metrics.refusals.WithLabelValues(tutor.ErrorCode(err)).Inc()
		writeError(w, err)
		return
	}
	h.metrics.inFlight.Inc()
	var freeOnce sync.Once
	free := func() { freeOnce.Do(func() { release(); h.metrics.inFlight.Dec() }) }
	answering := false
	defer func() {
		if !answering { // refused, or the answer never started
			free()
		}
	}()
	var (
		pre    []any // events before the answer
		thread tutor.Thread
		msg    tutor.Item
		qs     = tutor.QuotaState{Exempt: true}
	)
	switch req.Type {
	case protocol.ReqThreadsCreate:
		thread, msg, qs, pre, err = h.create(ctx, c, req)
	case protocol.ReqThreadsAddUserMessage:
		thread, msg, qs, pre, err = h.addMessage(ctx, c, req)
	case protocol.ReqThreadsRetryAfterItem:
		thread, msg, qs, err = h.retry(ctx, c, req)
	}
	if err != nil {
		h.metrics.refusals.WithLabelValues(tutor.ErrorCode(err)).Inc()
		h.logError(r, err)
		writeError(w, err)
		return
	}
	h.metrics.openStreams.Inc()
	defer h.metrics.openStreams.Dec()
	pre = append(pre, protocol.StreamOptionsEvent{Type: protocol.EvStreamOptions, StreamOptions: protocol.StreamOptions{AllowCancel: false}})
	if !qs.Exempt && qs.Remaining <= 3 {
		pre = append(pre, quotaNotice(qs))
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	frames := make(chan []byte, 32)
	gone := ctx.Done()
	send := func(ev any) {
		b, err := protocol.Frame(ev)
		if err != nil {
			h.cfg.Logger.Error("encode event", "error", err)
			return
		}
		select {
		case frames <- b:
		case <-gone: // the client left; the answer goes on and is stored
		}
	}
	for _, ev := range pre {
		send(ev)
	}
	// The answer outlives the request: its context keeps the request's
	// values but not its cancellation, and ends on shutdown or timeout.
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.AnswerTimeout)
	stopRun := context.AfterFunc(h.stop, cancel)
	h.runs.Add(1)
	answering = true
	go func() {
		defer h.runs.Done()
		defer close(frames)
		// The slot goes back whatever ended the answer, and before the
		// stream ends (deferred after close(frames), so it runs first).
		defer free()
		defer stopRun()
		defer cancel()
		h.answers.Run(runCtx, answer.Job{Caller: c, Thread: thread, Message: msg, Start: start}, send)
	}()
	for {
		select {
		case b, ok := <-frames:
			if !ok {
				return
			}
			if _, err := w.Write(b); err != nil {
				return
			}
			// Flush what is queued together: fewer syscalls under load.
			for more := true; more; {
				select {
				case b, ok := <-frames:
					if !ok {
						_ = rc.Flush()
						return
					}
					if _, err := w.Write(b); err != nil {
						return
					}
				default:
					more = false
				}
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-gone:
			return
		}
	}
}

func quotaNotice(qs tutor.QuotaState) protocol.NoticeEvent {
	at := qs.ResetsAt.UTC().Format("15:04 MST on Jan 2")
	if qs.Remaining == 0 {
		return protocol.NoticeEvent{Type: protocol.EvNotice, Level: "warning", Title: ptr("Daily limit reached"),
			Message: fmt.Sprintf("That was your last message for now (%d per 24 hours). You can write again after %s.", qs.Limit, at)}
	}
	n := "messages"
	if qs.Remaining == 1 {
		n = "message"
	}
	return protocol.NoticeEvent{Type: protocol.EvNotice, Level: "info", Title: ptr("Messages left today"),
		Message: fmt.Sprintf("You have %d %s left in this 24-hour window (%d per 24 hours; the next one frees up after %s).", qs.Remaining, n, qs.Limit, at)}
}

func (h *Handler) create(ctx context.Context, c account.User, req protocol.Request) (tutor.Thread, tutor.Item, tutor.QuotaState, []any, error) {
	var p protocol.ThreadCreateParams
	if err := protocol.DecodeParams(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	md, pc, err := protocol.ParseMetadata(req.Metadata)
	if err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	th := tutor.Thread{ID: tutor.NewID("thr"), UserID: c.ID, Status: "active", Lesson: md.Lesson}
	items, m, err := h.turnItems(th.ID, pc, p.Input)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	e, err := h.courseFor(ctx, c, md.Course)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	msg := items[len(items)-1]
	th.Course, th.Stage = e.Course, e.UnlockedStage
	th.Title = title(m.Text)
	th.CreatedAt = items[0].CreatedAt
	th.UpdatedAt = msg.CreatedAt
	qs, err := h.cfg.Threads.CreateThread(ctx, th, items, h.quota(c))
	if err != nil {
		return th, tutor.Item{}, qs, nil, err
	}
	pre := []any{
		protocol.ThreadCreatedEvent{Type: protocol.EvThreadCreated, Thread: protocol.ThreadOf(th, protocol.Page[json.RawMessage]{})},
		protocol.ItemEvent{Type: protocol.EvItemDone, Item: json.RawMessage(msg.Payload)},
	}
	return th, msg, qs, pre, nil
}

func (h *Handler) addMessage(ctx context.Context, c account.User, req protocol.Request) (tutor.Thread, tutor.Item, tutor.QuotaState, []any, error) {
	var p protocol.ThreadAddUserMessageParams
	if err := protocol.DecodeParams(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	_, pc, err := protocol.ParseMetadata(req.Metadata)
	if err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	th, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	if th.Status != "active" {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, tutor.Errorf(tutor.ECONFLICT, "the thread is %s", th.Status)
	}
	items, _, err := h.turnItems(th.ID, pc, p.Input)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	msg := items[len(items)-1]
	qs, err := h.cfg.Threads.AddItems(ctx, c.ID, th.ID, items, h.quota(c))
	if err != nil {
		return th, tutor.Item{}, qs, nil, err
	}
	return th, msg, qs, []any{protocol.ItemEvent{Type: protocol.EvItemDone, Item: json.RawMessage(msg.Payload)}}, nil
}

// retry regenerates the answer to a user message: what came after it is
// deleted and the message answered again. A retry asks the model again, so
// it counts against the quota exactly like a new message, in the same
// store call that deletes (over the limit: 429 and nothing deleted).
func (h *Handler) retry(ctx context.Context, c account.User, req protocol.Request) (tutor.Thread, tutor.Item, tutor.QuotaState, error) {
	var p protocol.ThreadRetryAfterItemParams
	if err := protocol.DecodeParams(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, err
	}
	if err := protocol.RequireID("thread_id", p.ThreadID); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, err
	}
	if err := protocol.RequireID("item_id", p.ItemID); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, err
	}
	th, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, err
	}
	if th.Status != "active" {
		return th, tutor.Item{}, tutor.QuotaState{}, tutor.Errorf(tutor.ECONFLICT, "the thread is %s", th.Status)
	}
	msg, qs, err := h.cfg.Threads.DeleteItemsAfter(ctx, c.ID, th.ID, p.ItemID, h.quota(c))
	return th, msg, qs, err
}
