// Package pipeline builds what answers a learner from the tutor's
// configuration: the retriever (the retriever plugins, or the tutor's own
// lesson store), the guard (the guardrail plugins), the responder (a
// language model, or course-material mode) and the ChatKit handler over
// them. `tutor serve` and `tutor eval` both build it here, so the
// evaluation runs exactly the code path learners get, on other stores.
package pipeline

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/chatkit"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/pluginhost"
)

// Stores are where the handler keeps threads, enrollments and reports,
// and the tutor's own lesson search (used when no retriever plugin runs).
type Stores struct {
	Threads tutor.ThreadStore
	Courses tutor.CourseStore
	Reports tutor.ReportStore
	Search  tutor.Retriever
}

// Options are what the pipeline needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the handler's metrics (nil: not exported).
	Registerer prometheus.Registerer
	// ModelClient talks to the model (nil: a plain http.Client).
	ModelClient *http.Client
}

// Pipeline is the built answering path.
type Pipeline struct {
	// Retriever is the plugins' search or Stores.Search.
	Retriever tutor.Retriever
	// Guard is the guardrail plugins, or nil when none runs.
	Guard tutor.Guard
	// Responder is agent.Model when a model is configured, else
	// agent.Material.
	Responder tutor.Responder
	// Handler serves the ChatKit protocol over the rest.
	Handler *chatkit.Handler
}

// Build wires the pipeline. plugs is the started plugin host, or nil when
// no plugin is declared.
func Build(cfg config.Config, st Stores, plugs *host.Host, opts Options) Pipeline {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := Pipeline{Retriever: st.Search}
	// Retrieval: the retriever plugins when any is declared, else the
	// tutor's own lesson store.
	if plugs != nil && len(plugs.Retrievers()) > 0 {
		p.Retriever = pluginhost.Retriever{Host: plugs, Logger: logger}
	} else {
		logger.Info("course search: the tutor's own lesson store (no retriever plugin declared)")
	}
	if plugs != nil && len(plugs.Guardrails()) > 0 {
		p.Guard = pluginhost.Guard{Host: plugs, Logger: logger}
	}
	p.Responder = Responder(cfg.Model, p.Retriever, p.Guard, opts.ModelClient)
	if cfg.Model.Configured() {
		logger.Info("answering with a language model", "base_url", cfg.Model.BaseURL.String(), "model", cfg.Model.Name)
	} else {
		logger.Warn("no model configured (model.base_url, model.name): course-material mode, answers quote the course material")
	}
	p.Handler = chatkit.New(chatkit.Config{
		Threads: st.Threads, Courses: st.Courses, Reports: st.Reports, Responder: p.Responder, Guard: p.Guard,
		DailyMessages: cfg.Limits.DailyMessages, MaxMessageBytes: cfg.Limits.MaxMessageBytes, MaxPageSize: cfg.Limits.MaxPageSize,
		LessonURL: LessonURL(cfg), AnswerTimeout: cfg.Model.Timeout + time.Minute, Logger: logger, Registerer: opts.Registerer,
		MaxAnswersPerUser: cfg.Limits.ConcurrentAnswersPerUser, MaxAnswers: cfg.Limits.ConcurrentAnswers,
	})
	return p
}

// Responder answers with the configured model, or in course-material
// mode when none is configured.
func Responder(m config.Model, r tutor.Retriever, g tutor.Guard, client *http.Client) tutor.Responder {
	if !m.Configured() {
		return agent.Material{Retriever: r, Guard: g}
	}
	return agent.NewModel(agent.ModelConfig{
		BaseURL: m.BaseURL.String(), APIKey: m.APIKey, Name: m.Name,
		FirstTokenTimeout: m.FirstTokenTimeout, Timeout: m.Timeout,
		MaxOutputTokens: m.MaxOutputTokens, Retriever: r, Guard: g, HTTPClient: client,
	})
}

// LessonURL makes the link of a lesson section (annotation sources):
// under public_url, or relative when it is not set.
func LessonURL(cfg config.Config) func(course, lesson, anchor string) string {
	return func(course, lesson, anchor string) string {
		u := "courses/" + course + "/" + lesson
		if anchor != "" {
			u += "#" + anchor
		}
		if cfg.PublicURL.IsZero() {
			return "/" + u
		}
		return strings.TrimSuffix(cfg.PublicURL.String(), "/") + "/" + u
	}
}
