package chatkit

import (
	"github.com/learnplatform/platform/kit/account"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/tutor"
)

// historyItems is how much of a thread the model sees before a message.
const historyItems = 24

// Page context limits: bad input, not something to trim silently.
const (
	maxURLBytes      = 2048
	maxHeadingBytes  = 300
	maxHeadings      = 50
	maxCourseIDBytes = 64
)

// message is a checked user message ready to store.
type message struct {
	text   string
	quoted string
	item   tutor.Item
}

// userMessage checks input and builds the stored user message item.
func (h *Handler) userMessage(in *UserMessageInput, threadID string) (message, error) {
	if in == nil {
		return message{}, tutor.Errorf(tutor.EINVALID, "params.input is required")
	}
	if len(in.Attachments) > 0 {
		return message{}, tutor.Errorf(tutor.EUNSUPPORTED, "attachments are not supported by this server")
	}
	var parts []string
	for i, c := range in.Content {
		switch c.Type {
		case "input_text", "input_tag":
			parts = append(parts, c.Text)
		default:
			return message{}, tutor.Errorf(tutor.EINVALID, "params.input.content[%d]: unknown content type %q", i, truncate(c.Type, 40))
		}
	}
	text := strings.TrimSpace(strings.Join(parts, " "))
	if text == "" {
		return message{}, tutor.Errorf(tutor.EINVALID, "the message has no text")
	}
	quoted := ""
	if in.QuotedText != nil {
		quoted = strings.TrimSpace(*in.QuotedText)
	}
	if len(text) > h.cfg.MaxMessageBytes || len(quoted) > h.cfg.MaxMessageBytes {
		return message{}, tutor.Errorf(tutor.ETOOLARGE, "the message is longer than %d bytes; shorten it or split it in two", h.cfg.MaxMessageBytes)
	}
	at := h.clock.Now()
	item := UserMessageItem{
		Type: tutor.ItemUserMessage, ThreadItemBase: ThreadItemBase{ID: tutor.NewID("msg"), ThreadID: threadID, CreatedAt: at},
		Content: in.Content, Attachments: []json.RawMessage{}, InferenceOptions: in.InferenceOptions,
	}
	if quoted != "" {
		item.QuotedText = &quoted
	}
	payload, err := marshal(item)
	if err != nil {
		return message{}, tutor.Errorf(tutor.EINVALID, "the message cannot be stored: %s", err)
	}
	return message{text: text, quoted: quoted, item: tutor.Item{
		ID: item.ID, ThreadID: threadID, Type: tutor.ItemUserMessage, CreatedAt: at, Payload: payload,
	}}, nil
}

// metadata reads the request metadata this server uses.
func requestMetadata(raw json.RawMessage) (RequestMetadata, *tutor.PageContext, error) {
	var md RequestMetadata
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return md, nil, nil
	}
	if err := json.Unmarshal(raw, &md); err != nil {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata: %s", oneLine(err.Error()))
	}
	if len(md.Course) > maxCourseIDBytes || len(md.Lesson) > maxCourseIDBytes {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.course and metadata.lesson are at most %d bytes", maxCourseIDBytes)
	}
	if md.Page == nil {
		return md, nil, nil
	}
	pc := &tutor.PageContext{URL: md.Page.URL, Title: strings.TrimSpace(md.Page.Title), Headings: md.Page.Headings}
	if len(pc.URL) > maxURLBytes || len(pc.Title) > maxHeadingBytes || len(pc.Headings) > maxHeadings {
		return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.page is too large (url %d bytes, title %d bytes, %d headings at most)", maxURLBytes, maxHeadingBytes, maxHeadings)
	}
	for _, hd := range pc.Headings {
		if len(hd) > maxHeadingBytes {
			return md, nil, tutor.Errorf(tutor.EINVALID, "metadata.page.headings: each heading is at most %d bytes", maxHeadingBytes)
		}
	}
	if pc.URL == "" && pc.Title == "" && len(pc.Headings) == 0 {
		return md, nil, nil
	}
	return md, pc, nil
}

// hiddenContext is the item that keeps the page context with the thread.
// turnItems are the items a learner's turn stores: the page context as a
// hidden item (when there is one) before the message it belongs to, then
// the message.
func (h *Handler) turnItems(threadID string, pc *tutor.PageContext, in *UserMessageInput) ([]tutor.Item, message, error) {
	var items []tutor.Item
	if pc != nil {
		hc, err := h.hiddenContext(threadID, pc)
		if err != nil {
			return nil, message{}, err
		}
		items = append(items, hc)
	}
	m, err := h.userMessage(in, threadID)
	if err != nil {
		return nil, message{}, err
	}
	return append(items, m.item), m, nil
}

func (h *Handler) hiddenContext(threadID string, pc *tutor.PageContext) (tutor.Item, error) {
	at := h.clock.Now()
	item := HiddenContextItem{
		Type: tutor.ItemHiddenContext, ThreadItemBase: ThreadItemBase{ID: tutor.NewID("ctx"), ThreadID: threadID, CreatedAt: at},
		Content: map[string]any{"page": pc},
	}
	payload, err := marshal(item)
	return tutor.Item{ID: item.ID, ThreadID: threadID, Type: tutor.ItemHiddenContext, CreatedAt: at, Payload: payload}, err
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
	t = truncate(t, 60)
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
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, c account.User, req Request, start time.Time) {
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
	case ReqThreadsCreate:
		thread, msg, qs, pre, err = h.create(ctx, c, req)
	case ReqThreadsAddUserMessage:
		thread, msg, qs, pre, err = h.addMessage(ctx, c, req)
	case ReqThreadsRetryAfterItem:
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
	pre = append(pre, StreamOptionsEvent{Type: EvStreamOptions, StreamOptions: StreamOptions{AllowCancel: false}})
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
		b, err := frame(ev)
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
		h.answer(runCtx, c, thread, msg, start, send)
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

func quotaNotice(qs tutor.QuotaState) NoticeEvent {
	at := qs.ResetsAt.UTC().Format("15:04 MST on Jan 2")
	if qs.Remaining == 0 {
		return NoticeEvent{Type: EvNotice, Level: "warning", Title: ptr("Daily limit reached"),
			Message: fmt.Sprintf("That was your last message for now (%d per 24 hours). You can write again after %s.", qs.Limit, at)}
	}
	n := "messages"
	if qs.Remaining == 1 {
		n = "message"
	}
	return NoticeEvent{Type: EvNotice, Level: "info", Title: ptr("Messages left today"),
		Message: fmt.Sprintf("You have %d %s left in this 24-hour window (%d per 24 hours; the next one frees up after %s).", qs.Remaining, n, qs.Limit, at)}
}

func (h *Handler) create(ctx context.Context, c account.User, req Request) (tutor.Thread, tutor.Item, tutor.QuotaState, []any, error) {
	var p ThreadCreateParams
	if err := params(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	md, pc, err := requestMetadata(req.Metadata)
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
	th.Course, th.Stage = e.Course, e.UnlockedStage
	th.Title = title(m.text)
	th.CreatedAt = items[0].CreatedAt
	th.UpdatedAt = m.item.CreatedAt
	qs, err := h.cfg.Threads.CreateThread(ctx, th, items, h.quota(c))
	if err != nil {
		return th, tutor.Item{}, qs, nil, err
	}
	pre := []any{
		ThreadCreatedEvent{Type: EvThreadCreated, Thread: threadJSON(th, Page[json.RawMessage]{})},
		ItemEvent{Type: EvItemDone, Item: json.RawMessage(m.item.Payload)},
	}
	return th, m.item, qs, pre, nil
}

func (h *Handler) addMessage(ctx context.Context, c account.User, req Request) (tutor.Thread, tutor.Item, tutor.QuotaState, []any, error) {
	var p ThreadAddUserMessageParams
	if err := params(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	_, pc, err := requestMetadata(req.Metadata)
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
	items, m, err := h.turnItems(th.ID, pc, p.Input)
	if err != nil {
		return th, tutor.Item{}, tutor.QuotaState{}, nil, err
	}
	qs, err := h.cfg.Threads.AddItems(ctx, c.ID, th.ID, items, h.quota(c))
	if err != nil {
		return th, tutor.Item{}, qs, nil, err
	}
	return th, m.item, qs, []any{ItemEvent{Type: EvItemDone, Item: json.RawMessage(m.item.Payload)}}, nil
}

// retry regenerates the answer to a user message: what came after it is
// deleted and the message answered again. A retry asks the model again, so
// it counts against the quota exactly like a new message, in the same
// store call that deletes (over the limit: 429 and nothing deleted).
func (h *Handler) retry(ctx context.Context, c account.User, req Request) (tutor.Thread, tutor.Item, tutor.QuotaState, error) {
	var p ThreadRetryAfterItemParams
	if err := params(req.Params, &p); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return tutor.Thread{}, tutor.Item{}, tutor.QuotaState{}, err
	}
	if err := requireID("item_id", p.ItemID); err != nil {
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

// frame encodes one SSE event as the reference server does.
func frame(ev any) ([]byte, error) {
	b, err := marshal(ev)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n'), nil
}

// marshal is json.Marshal without HTML escaping and without the newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
