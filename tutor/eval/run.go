package eval

import (
	"github.com/learnplatform/platform/kit/account"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/chatkit/protocol"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/eval/grade"
	"github.com/learnplatform/platform/tutor/eval/report"
	"github.com/learnplatform/platform/tutor/eval/scenario"
	"github.com/learnplatform/platform/tutor/memstore"
	"github.com/learnplatform/platform/tutor/pipeline"
	"github.com/learnplatform/platform/tutor/pluginhost"
)

// Options configure Run.
type Options struct {
	// Config is the tutor's configuration as `tutor serve` reads it: the
	// model, limits and public URL are used as they are.
	Config config.Config
	// Plugins is the started plugin host (nil: no plugin declared). Its
	// retrievers are fed the scenario courses before the run and have them
	// removed after it.
	Plugins *host.Host
	// Set is the scenario set; Only, when set, picks the scenarios to run.
	Set  *scenario.Set
	Only func(scenario.Scenario) bool
	// Parallel is how many scenarios run at once (default 1).
	Parallel int
	// Grader, when set, also scores every scenario with a model
	// (reported as model-graded, apart from pass and fail).
	Grader *grade.ModelGrader
	// ModelClient talks to the tutor's model (nil: a plain client).
	ModelClient *http.Client
	// Tutor describes the tutor under test in the report.
	Tutor report.TutorInfo
	// Progress, when set, hears of each finished scenario (done counts
	// them), from one goroutine at a time.
	Progress func(done int, r report.ScenarioResult)
	Logger   *slog.Logger
}

// Run runs the scenarios against the tutor as configured and grades the
// answers. Every scenario is one learner (their own user, enrolled in
// the scenario's course at its stage) in one thread, talking to the
// ChatKit handler through the same code path as a real conversation:
// a ChatKit request, the handler, the agent, the plugins, the model. Only
// the stores are in memory (tutor/memstore), seeded with the set's
// courses; without retriever plugins, course search is memstore's word
// match instead of PostgreSQL's full-text search.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store := memstore.New()
	if _, err := store.Ingest(ctx, o.Set.Lessons); err != nil {
		return nil, fmt.Errorf("seed the courses: %w", err)
	}
	info := o.Tutor
	if o.Plugins != nil && len(o.Plugins.Retrievers()) > 0 {
		for _, r := range pluginhost.Ingest(ctx, o.Plugins, o.Set.Lessons) {
			switch {
			case r.Skipped:
				info.Notes = append(info.Notes, fmt.Sprintf("retriever %s is not fed by ingestion: it does not know the scenario courses unless they were ingested into it", r.Name))
			case r.Err != nil:
				return nil, fmt.Errorf("feed the scenario courses to retriever %s: %w", r.Name, r.Err)
			}
		}
		defer removeCourses(o.Plugins, o.Set.Lessons, logger)
	}
	p := pipeline.Build(o.Config, pipeline.Stores{Threads: store, Courses: store, Reports: store, Search: store}, o.Plugins,
		pipeline.Options{Logger: logger, ModelClient: o.ModelClient})
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		p.Handler.Shutdown(sctx)
	}()

	var picked []scenario.Scenario
	for _, sc := range o.Set.Scenarios {
		if o.Only == nil || o.Only(sc) {
			picked = append(picked, sc)
		}
	}
	if len(picked) == 0 {
		return nil, errors.New("no scenario matches")
	}
	g := grade.NewChecker(o.Set)
	results := make([]report.ScenarioResult, len(picked))
	work := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for range max(o.Parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = runScenario(ctx, p.Handler, store, o.Set, g, o.Grader, picked[i])
				if o.Progress != nil {
					mu.Lock()
					done++
					o.Progress(done, results[i])
					mu.Unlock()
				}
			}
		}()
	}
	for i := range picked {
		if ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return report.New(o.Set, info, o.Grader, results), nil
}

// removeCourses takes the scenario courses out of the retriever plugins
// again (an empty lesson list removes a course).
func removeCourses(h *host.Host, lessons []tutor.Lesson, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := map[string]bool{}
	for _, l := range lessons {
		if seen[l.Course] {
			continue
		}
		seen[l.Course] = true
		for _, r := range h.Ingest(ctx, l.Course, nil) {
			if r.Err != nil && !r.Skipped {
				logger.Warn("could not remove the scenario course from a retriever", "course", l.Course, "error", r.Err)
			}
		}
	}
}

// runScenario runs sc, one of set's scenarios, through the handler h over
// store, checks its answers with g and, when mg is set, has them graded.
func runScenario(ctx context.Context, h http.Handler, store *memstore.Store, set *scenario.Set, g *grade.Checker, mg *grade.ModelGrader, sc scenario.Scenario) report.ScenarioResult {
	res := report.ScenarioResult{ID: sc.ID, Version: sc.Version, Category: sc.Category, About: sc.About, Course: sc.Course, Stage: sc.Stage}
	user := token.User{User: account.User{ID: "eval-learner:" + sc.ID, EmailVerified: true, Role: account.RoleStudent}}
	checks := map[string]bool{}
	if _, err := store.SetEnrollment(ctx, user.ID, sc.Course, sc.Stage, false); err != nil {
		res.Failures = append(res.Failures, grade.Failure{Turn: 1, Check: grade.CheckAnswered, Why: "could not enrol the learner: " + err.Error()})
	} else {
		c := &conversation{h: h, user: user, store: store, checker: g}
		for i, t := range sc.Turns {
			a := c.send(ctx, sc, t)
			res.Turns = append(res.Turns, grade.Turn{Say: t.Say, Quote: t.Quote, Page: t.Page, Answer: a})
			res.Failures = append(res.Failures, g.Check(sc, i, a)...)
			for _, name := range g.ChecksFor(sc, i) {
				checks[name] = true
			}
			if a.Error != "" && c.thread == "" {
				break // no thread to go on in
			}
		}
	}
	for name := range checks {
		res.Checks = append(res.Checks, name)
	}
	sort.Strings(res.Checks)
	grade.SortFailures(res.Failures)
	res.Result = report.ResultPass
	for _, f := range res.Failures {
		res.Result = report.ResultFail
		if f.Check == grade.CheckAnswered {
			res.Result = report.ResultError
			break
		}
	}
	if mg != nil && res.Result != report.ResultError {
		res.ModelGrade = mg.Grade(ctx, set, sc, res.Turns)
	}
	return res
}

// conversation is one learner's thread, driven through the handler.
type conversation struct {
	h       http.Handler
	user    token.User
	store   *memstore.Store
	checker *grade.Checker
	thread  string
}

// send sends one turn (threads.create first, then
// threads.add_user_message) and reads the streamed answer.
func (c *conversation) send(ctx context.Context, sc scenario.Scenario, t scenario.Turn) grade.Answer {
	input := &protocol.UserMessageInput{
		Content:     []protocol.UserMessageContent{{Type: "input_text", Text: t.Say}},
		Attachments: []string{},
	}
	if t.Quote != "" {
		q := t.Quote
		input.QuotedText = &q
	}
	md := map[string]any{}
	if t.Page != nil {
		md["page"] = t.Page
	}
	var req map[string]any
	if c.thread == "" {
		md["course"] = sc.Course
		if sc.Lesson != "" {
			md["lesson"] = sc.Lesson
		}
		req = map[string]any{"type": protocol.ReqThreadsCreate, "params": protocol.ThreadCreateParams{Input: input}, "metadata": md}
	} else {
		req = map[string]any{"type": protocol.ReqThreadsAddUserMessage,
			"params": protocol.ThreadAddUserMessageParams{Input: input, ThreadID: c.thread}, "metadata": md}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return grade.Answer{Error: err.Error()}
	}
	r := httptest.NewRequestWithContext(token.WithUser(ctx, c.user), http.MethodPost, "/api/v1/chatkit", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		return grade.Answer{Error: fmt.Sprintf("refused: %d %s", w.Code, e.Message)}
	}
	return c.read(w.Body.Bytes())
}

// event is the part of a stream event the evaluation reads.
type event struct {
	Type   string `json:"type"`
	Thread struct {
		ID string `json:"id"`
	} `json:"thread"`
	Item    json.RawMessage `json:"item"`
	Level   string          `json:"level"`
	Title   *string         `json:"title"`
	Message *string         `json:"message"`
}

type assistantItem struct {
	ID      string                             `json:"id"`
	Type    string                             `json:"type"`
	Content []protocol.AssistantMessageContent `json:"content"`
}

func (c *conversation) read(stream []byte) grade.Answer {
	var a grade.Answer
	var item assistantItem
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			a.Error = "unreadable event: " + err.Error()
			return a
		}
		switch ev.Type {
		case protocol.EvThreadCreated:
			c.thread = ev.Thread.ID
		case protocol.EvItemDone, protocol.EvItemReplaced:
			var it assistantItem
			if json.Unmarshal(ev.Item, &it) != nil || it.Type != tutor.ItemAssistantMessage || len(it.Content) == 0 {
				continue
			}
			if ev.Type == protocol.EvItemReplaced && len(item.Content) > 0 {
				a.Replaced, a.Streamed = true, item.Content[0].Text
			}
			item = it
		case protocol.EvNotice:
			n := deref(ev.Message)
			if t := deref(ev.Title); t != "" {
				n = t + ": " + n
			}
			a.Notices = append(a.Notices, n)
		case protocol.EvError:
			a.Error = "error event: " + deref(ev.Message)
		}
	}
	if len(item.Content) > 0 {
		a.Text = item.Content[0].Text
		for _, an := range item.Content[0].Annotations {
			a.Sources = append(a.Sources, c.checker.Resolve(an.Source.Title, an.Source.URL))
		}
	}
	if a.Error == "" && item.ID == "" {
		a.Error = "the stream ended without an answer"
	}
	if item.ID != "" && c.thread != "" {
		for _, it := range c.store.ThreadItems(c.thread) {
			if it.ID == item.ID {
				a.Stored = it.Sources
			}
		}
	}
	return a
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
