// Package chatkit serves the ChatKit server protocol on one endpoint
// (POST /api/v1/chatkit), so the official ChatKit web client works against
// the tutor, self-hosted. The wire format and the checks of a request are
// in chatkit/protocol (mirroring openai/chatkit-python's chatkit/types.py);
// this package is the HTTP handler: the caller, the request's dispatch,
// the stores, the quota and the answer slots. Streaming requests answer
// text/event-stream, one `data: <event JSON>\n\n` per event, null fields
// omitted; the others answer JSON.
//
// The answer to a message is written by a goroutine detached from the HTTP
// request (chatkit/answer): the learner's message is stored before the
// model is called, and a client that goes away mid-stream does not stop
// the answer, which is stored when it ends (or stored as interrupted when
// the model fails, with an error event the client may retry). cmd/tutor
// mounts Handler behind Protect.
package chatkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/kit/account"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/answer"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
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
	// LessonURL makes the link of a lesson section (annotation sources;
	// nil: /courses/<course>/<lesson>#<anchor>).
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
	clock   *tutor.Clock
	metrics *metrics
	slots   *slots
	answers *answer.Runner

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
	stop, cancel := context.WithCancel(context.Background())
	h := &Handler{cfg: cfg, clock: &tutor.Clock{}, stop: stop, stopAll: cancel, metrics: newMetrics(cfg.Registerer),
		slots: newSlots(cfg.MaxAnswersPerUser, cfg.MaxAnswers)}
	h.answers = answer.NewRunner(answer.Config{
		Threads: cfg.Threads, Courses: cfg.Courses, Reports: cfg.Reports, Responder: cfg.Responder, Guard: cfg.Guard,
		LessonURL: cfg.LessonURL, Clock: h.clock, Finished: h.metrics.answered, Logger: cfg.Logger,
	})
	return h
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
	req, err := protocol.DecodeRequest(body)
	if err != nil {
		writeError(w, err)
		return
	}
	if feature, ok := protocol.UnsupportedFeature(req.Type); ok {
		writeError(w, tutor.Errorf(tutor.EUNSUPPORTED, "%s is not supported by this server (%s)", req.Type, feature))
		return
	}
	ctx := r.Context()
	var res any
	switch req.Type {
	case protocol.ReqThreadsCreate, protocol.ReqThreadsAddUserMessage, protocol.ReqThreadsRetryAfterItem:
		h.stream(w, r, caller, req, start)
		return
	case protocol.ReqThreadsGetByID:
		res, err = h.getThread(ctx, caller, req.Params)
	case protocol.ReqThreadsList:
		res, err = h.listThreads(ctx, caller, req.Params)
	case protocol.ReqItemsList:
		res, err = h.listItems(ctx, caller, req.Params)
	case protocol.ReqThreadsUpdate:
		res, err = h.updateThread(ctx, caller, req.Params)
	case protocol.ReqThreadsDelete:
		res, err = h.deleteThread(ctx, caller, req.Params)
	case protocol.ReqItemsFeedback:
		res, err = h.feedback(ctx, caller, req.Params)
	case "":
		err = tutor.Errorf(tutor.EINVALID, "the request has no type")
	default:
		err = tutor.Errorf(tutor.EINVALID, "unknown request type %q", protocol.Truncate(req.Type, 64))
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
