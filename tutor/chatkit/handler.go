// Package chatkit serves the ChatKit server protocol on one endpoint
// (POST /api/v1/chatkit), so the official ChatKit web client works against
// the tutor, self-hosted. Its types mirror openai/chatkit-python's
// chatkit/types.py by name and shape (written anew in Go). Streaming
// requests answer text/event-stream, one `data: <event JSON>\n\n` per
// event, null fields omitted; the others answer JSON.
//
// The answer to a message is written by a goroutine detached from the HTTP
// request: the learner's message is stored before the model is called, and
// a client that goes away mid-stream does not stop the answer, which is
// stored when it ends (or stored as interrupted when the model fails, with
// an error event the client may retry). cmd/tutor mounts Handler behind
// Protect.
package chatkit

import (
	"github.com/learnplatform/platform/kit/account"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/learnplatform/platform/kit/token"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/tutor"
)

// Config wires a Handler.
type Config struct {
	Threads   tutor.ThreadStore
	Courses   tutor.CourseStore
	Reports   tutor.ReportStore
	Responder tutor.Responder
	// Guard checks every finished answer (output guardrails); one it
	// replaces is sent again as thread.item.replaced and stored replaced.
	// nil: no guardrails.
	Guard tutor.Guard
	// DailyMessages is the students' rolling 24-hour message limit.
	DailyMessages int
	// MaxMessageBytes bounds a message's text; more is 413.
	MaxMessageBytes int
	// MaxPageSize bounds list limits; more is 400.
	MaxPageSize int
	// LessonURL makes the link of a lesson section (annotation sources).
	LessonURL func(course, lesson, anchor string) string
	// AnswerTimeout bounds one answer, however the model behaves.
	AnswerTimeout time.Duration
	// MaxAnswersPerUser bounds the answers being written at once for one
	// user, MaxAnswers those of all users together (defaults 2 and 64).
	// A streaming request over either is refused with 429 busy and a
	// Retry-After before anything is stored or counted.
	MaxAnswersPerUser int
	MaxAnswers        int

	Logger *slog.Logger
	// Registerer receives the endpoint's metrics (nil: not exported).
	Registerer prometheus.Registerer
}

// Handler serves POST /api/v1/chatkit.
type Handler struct {
	cfg     Config
	clock   tutor.Clock
	metrics *metrics
	slots   *slots

	runs    sync.WaitGroup
	stop    context.Context
	stopAll context.CancelFunc
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 5 * time.Minute
	}
	if cfg.MaxAnswersPerUser <= 0 {
		cfg.MaxAnswersPerUser = DefaultMaxAnswersPerUser
	}
	if cfg.MaxAnswers <= 0 {
		cfg.MaxAnswers = DefaultMaxAnswers
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
	stop, cancel := context.WithCancel(context.Background())
	return &Handler{cfg: cfg, stop: stop, stopAll: cancel, metrics: newMetrics(cfg.Registerer),
		slots: newSlots(cfg.MaxAnswersPerUser, cfg.MaxAnswers)}
}

// Defaults of Config.MaxAnswersPerUser and Config.MaxAnswers.
const (
	DefaultMaxAnswersPerUser = 2
	DefaultMaxAnswers        = 64
)

// Shutdown waits for answers still being written; when ctx ends first it
// cancels them (each is then stored as interrupted) and waits for that.
func (h *Handler) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() { h.runs.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.stopAll()
		<-done
	}
}

// Protect is the token check for this endpoint: kit/token's RequireUser,
// with its refusals (401, 503) reshaped into the protocol's error body.
func Protect(v *token.Validator) func(http.Handler) http.Handler {
	require := token.RequireUser(v)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached := false
			inner := require(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				reached = true
				next.ServeHTTP(w, r)
			}))
			rec := &refusal{header: w.Header()}
			inner.ServeHTTP(rec, r)
			if !reached {
				writeAuthError(w, rec.status, rec.body.Bytes())
			}
		})
	}
}

// refusal records what the token middleware answered when it refused.
type refusal struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *refusal) Header() http.Header { return r.header }
func (r *refusal) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *refusal) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// maxBodyBytes bounds a request body: a message at its limit, quoted text
// as long again, and room for the envelope and metadata.
func (h *Handler) maxBodyBytes() int64 {
	return int64(h.cfg.MaxMessageBytes)*6 + 64<<10
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	u, ok := token.UserFrom(r.Context())
	if !ok {
		writeAuthError(w, http.StatusUnauthorized, nil)
		return
	}
	if !u.EmailVerified {
		writeError(w, tutor.Errorf(tutor.EUNVERIFIED,
			"verify your email address first: open the link in the verification email we sent you, or ask for a new one in your account settings, then sign in again"))
		return
	}
	caller := account.User{ID: u.ID, Role: u.Role}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBodyBytes()))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, tutor.Errorf(tutor.ETOOLARGE, "the request is larger than %d bytes", mbe.Limit))
			return
		}
		writeError(w, tutor.Errorf(tutor.EINVALID, "could not read the request body"))
		return
	}
	var req Request
	if err := strictJSON(body, &req); err != nil {
		writeError(w, tutor.Errorf(tutor.EINVALID, "the request is not valid JSON: %s", err))
		return
	}
	if feature, ok := unsupported[req.Type]; ok {
		writeError(w, tutor.Errorf(tutor.EUNSUPPORTED, "%s is not supported by this server (%s)", req.Type, feature))
		return
	}
	ctx := r.Context()
	var res any
	switch req.Type {
	case ReqThreadsCreate, ReqThreadsAddUserMessage, ReqThreadsRetryAfterItem:
		h.stream(w, r, caller, req, start)
		return
	case ReqThreadsGetByID:
		res, err = h.getThread(ctx, caller, req.Params)
	case ReqThreadsList:
		res, err = h.listThreads(ctx, caller, req.Params)
	case ReqItemsList:
		res, err = h.listItems(ctx, caller, req.Params)
	case ReqThreadsUpdate:
		res, err = h.updateThread(ctx, caller, req.Params)
	case ReqThreadsDelete:
		res, err = h.deleteThread(ctx, caller, req.Params)
	case ReqItemsFeedback:
		res, err = h.feedback(ctx, caller, req.Params)
	case "":
		err = tutor.Errorf(tutor.EINVALID, "the request has no type")
	default:
		err = tutor.Errorf(tutor.EINVALID, "unknown request type %q", truncate(req.Type, 64))
	}
	if err != nil {
		h.logError(r, err)
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) logError(r *http.Request, err error) {
	if tutor.ErrorCode(err) == tutor.EINTERNAL {
		h.cfg.Logger.Error("chatkit request failed", "path", r.URL.Path, "error", err)
	}
}

// strictJSON decodes one JSON value and nothing after it.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return errors.New(oneLine(err.Error()))
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// params decodes a request's params; missing params are an empty object.
func params(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return tutor.Errorf(tutor.EINVALID, "params: %s", oneLine(err.Error()))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func requireID(name, v string) error {
	if v == "" {
		return tutor.Errorf(tutor.EINVALID, "params.%s is required", name)
	}
	if len(v) > 128 {
		return tutor.Errorf(tutor.ENOTFOUND, "no such %s", strings.TrimSuffix(name, "_id"))
	}
	return nil
}

// pageRequest checks list params against the limits.
func (h *Handler) pageRequest(p ListParams) (tutor.PageRequest, error) {
	pr := tutor.PageRequest{Limit: defaultPageSize, Order: tutor.Desc}
	if p.Limit != nil && *p.Limit != 0 {
		if *p.Limit < 0 {
			return pr, tutor.Errorf(tutor.EINVALID, "params.limit must be positive")
		}
		if *p.Limit > h.cfg.MaxPageSize {
			return pr, tutor.Errorf(tutor.EINVALID, "params.limit %d is over the maximum page size %d", *p.Limit, h.cfg.MaxPageSize)
		}
		pr.Limit = *p.Limit
	}
	if p.Order != nil {
		switch *p.Order {
		case "asc":
			pr.Order = tutor.Asc
		case "desc":
		default:
			return pr, tutor.Errorf(tutor.EINVALID, "params.order must be asc or desc")
		}
	}
	if p.After != nil {
		if len(*p.After) > 128 {
			return pr, tutor.Errorf(tutor.EINVALID, "params.after names no item")
		}
		pr.After = *p.After
	}
	return pr, nil
}

// threadJSON is the protocol's Thread for t with a page of items.
func threadJSON(t tutor.Thread, items Page[json.RawMessage]) Thread {
	out := Thread{ID: t.ID, CreatedAt: t.CreatedAt.UTC(), Status: ThreadStatus{Type: t.Status}, Metadata: map[string]any{}, Items: items}
	if out.Status.Type == "" {
		out.Status.Type = "active"
	}
	if t.StatusReason != "" && out.Status.Type != "active" {
		out.Status.Reason = &t.StatusReason
	}
	if t.Title != "" {
		out.Title = &t.Title
	}
	if t.Course != "" {
		out.Metadata["course"] = t.Course
	}
	if t.Lesson != "" {
		out.Metadata["lesson"] = t.Lesson
	}
	if t.Stage != 0 {
		out.Metadata["stage"] = t.Stage
	}
	// The protocol's thread has no last-activity time; the learner web app
	// orders its thread list by it.
	if !t.UpdatedAt.IsZero() {
		out.Metadata["updated_at"] = t.UpdatedAt.UTC()
	}
	if out.Items.Data == nil {
		out.Items.Data = []json.RawMessage{}
	}
	return out
}

func itemsPage(p tutor.Page[tutor.Item]) Page[json.RawMessage] {
	out := Page[json.RawMessage]{Data: make([]json.RawMessage, len(p.Data)), HasMore: p.HasMore}
	for i, it := range p.Data {
		out.Data[i] = it.Payload
	}
	if n := len(p.Data); n > 0 {
		out.After = &p.Data[n-1].ID
	}
	return out
}

func (h *Handler) getThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ThreadGetByIDParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	t, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	items, err := h.cfg.Threads.Items(ctx, c.ID, t.ID, tutor.PageRequest{Limit: defaultPageSize, Order: tutor.Asc})
	if err != nil {
		return nil, err
	}
	return threadJSON(t, itemsPage(items)), nil
}

func (h *Handler) listThreads(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ListParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	pr, err := h.pageRequest(p)
	if err != nil {
		return nil, err
	}
	threads, err := h.cfg.Threads.Threads(ctx, c.ID, pr)
	if err != nil {
		return nil, err
	}
	out := Page[Thread]{Data: make([]Thread, len(threads.Data)), HasMore: threads.HasMore}
	for i, t := range threads.Data {
		out.Data[i] = threadJSON(t, Page[json.RawMessage]{})
	}
	if n := len(threads.Data); n > 0 {
		out.After = &threads.Data[n-1].ID
	}
	return out, nil
}

func (h *Handler) listItems(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ListParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	pr, err := h.pageRequest(p)
	if err != nil {
		return nil, err
	}
	items, err := h.cfg.Threads.Items(ctx, c.ID, p.ThreadID, pr)
	if err != nil {
		return nil, err
	}
	return itemsPage(items), nil
}

const maxTitleBytes = 200

func (h *Handler) updateThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ThreadUpdateParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if p.Title == nil {
		return nil, tutor.Errorf(tutor.EINVALID, "params.title is required")
	}
	title := strings.TrimSpace(*p.Title)
	if len(title) > maxTitleBytes {
		return nil, tutor.Errorf(tutor.EINVALID, "params.title is longer than %d bytes", maxTitleBytes)
	}
	t, err := h.cfg.Threads.UpdateTitle(ctx, c.ID, p.ThreadID, title)
	if err != nil {
		return nil, err
	}
	return threadJSON(t, Page[json.RawMessage]{}), nil
}

func (h *Handler) deleteThread(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ThreadDeleteParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if err := h.cfg.Threads.DeleteThread(ctx, c.ID, p.ThreadID); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

const maxFeedbackItems = 50

func (h *Handler) feedback(ctx context.Context, c account.User, raw json.RawMessage) (any, error) {
	var p ItemFeedbackParams
	if err := params(raw, &p); err != nil {
		return nil, err
	}
	if err := requireID("thread_id", p.ThreadID); err != nil {
		return nil, err
	}
	if p.Kind != tutor.FeedbackPositive && p.Kind != tutor.FeedbackNegative {
		return nil, tutor.Errorf(tutor.EINVALID, "params.kind must be positive or negative")
	}
	if len(p.ItemIDs) == 0 || len(p.ItemIDs) > maxFeedbackItems {
		return nil, tutor.Errorf(tutor.EINVALID, "params.item_ids must name 1 to %d items", maxFeedbackItems)
	}
	t, err := h.cfg.Threads.Thread(ctx, c.ID, p.ThreadID)
	if err != nil {
		return nil, err
	}
	fb := make([]tutor.Feedback, 0, len(p.ItemIDs))
	for _, id := range p.ItemIDs {
		if err := requireID("item_ids[]", id); err != nil {
			return nil, err
		}
		it, err := h.cfg.Threads.Item(ctx, c.ID, t.ID, id)
		if err != nil {
			return nil, err
		}
		if it.Type != tutor.ItemAssistantMessage {
			return nil, tutor.Errorf(tutor.EINVALID, "item %q is not an answer; feedback is for the tutor's answers", id)
		}
		fb = append(fb, tutor.Feedback{UserID: c.ID, ThreadID: t.ID, ItemID: id, Kind: p.Kind, Course: t.Course, Sources: it.Sources})
	}
	if err := h.cfg.Reports.SaveFeedback(ctx, fb); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
