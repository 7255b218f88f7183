// Command tutor serves the AI tutor API and the learner web app.
//
//	tutor [serve] [-config PATH]      serve (the default)
//	tutor ingest [-config PATH] DIR   load the Markdown lessons under DIR
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/api"
	"github.com/learnplatform/platform/tutor/chatkit"
	"github.com/learnplatform/platform/tutor/content"
	"github.com/learnplatform/platform/tutor/postgres"
	"github.com/learnplatform/platform/tutor/web"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "ingest") {
		cmd, args = args[0], args[1:]
	}
	var dir string
	if cmd == "ingest" {
		// The folder is the last argument; the rest are the usual flags.
		if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
			fmt.Fprintln(os.Stderr, "tutor: usage: tutor ingest [-config PATH] DIR")
			os.Exit(server.ExitConfig)
		}
		dir, args = args[len(args)-1], args[:len(args)-1]
	}
	cfg := tutor.DefaultConfig()
	path := server.LoadConfig("tutor", args, &cfg)
	logger := server.NewLogger("tutor", cfg.LogLevel)

	ctx, stop := server.SignalContext()
	defer stop()

	var err error
	switch cmd {
	case "ingest":
		err = ingestCommand(ctx, cfg, dir)
	default:
		err = run(ctx, cfg, logger)
	}
	var ce *config.Error
	if errors.As(err, &ce) { // unusable course material stops start-up like bad config
		ce.File = path
		server.ExitOnConfigError("tutor", ce)
	}
	if err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func openDB(ctx context.Context, cfg tutor.Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	pc.MaxConns = int32(cfg.Database.MaxConns)
	return pgxpool.NewWithConfig(ctx, pc)
}

// ingest loads dir's lessons into the database.
func ingest(ctx context.Context, db *postgres.DB, dir string) (tutor.IngestReport, error) {
	lessons, err := content.Load(os.DirFS(dir))
	if err != nil {
		return tutor.IngestReport{}, &config.Error{Key: "content.dir", Problem: fmt.Sprintf("%s: %v", dir, err)}
	}
	return db.Ingest(ctx, lessons)
}

func ingestCommand(ctx context.Context, cfg tutor.Config, dir string) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	rep, err := ingest(ctx, postgres.New(pool), dir)
	if err != nil {
		return err
	}
	fmt.Printf("ingested %s: %d course(s), %d lesson(s) added, %d updated, %d unchanged, %d removed\n",
		dir, rep.Courses, rep.Added, rep.Updated, rep.Unchanged, rep.Removed)
	return nil
}

func run(ctx context.Context, cfg tutor.Config, logger *slog.Logger) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := postgres.New(pool)

	if cfg.Content.Dir != "" {
		rep, err := ingest(ctx, db, cfg.Content.Dir)
		if err != nil {
			return err
		}
		logger.Info("course material ingested", "dir", cfg.Content.Dir, "courses", rep.Courses,
			"added", rep.Added, "updated", rep.Updated, "unchanged", rep.Unchanged, "removed", rep.Removed)
	}

	srv := server.New("tutor", logger, server.PingCheck("postgres", db.Pool()))
	tokens, err := token.New(token.Config{Issuer: cfg.Hydra.Issuer.String(), Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return err
	}
	// Ready once Hydra's signing keys were fetched; afterwards the cached
	// keys keep the tutor serving through a Hydra outage.
	srv.AddCheck(server.Check{Name: "hydra", Probe: tokens.Ready})

	var responder tutor.Responder
	if cfg.Model.Configured() {
		responder = agent.NewModel(agent.ModelConfig{
			BaseURL: cfg.Model.BaseURL.String(), APIKey: cfg.Model.APIKey, Name: cfg.Model.Name,
			FirstTokenTimeout: cfg.Model.FirstTokenTimeout, Timeout: cfg.Model.Timeout,
			MaxOutputTokens: cfg.Model.MaxOutputTokens, Retriever: db,
		})
		logger.Info("answering with a language model", "base_url", cfg.Model.BaseURL.String(), "model", cfg.Model.Name)
	} else {
		responder = agent.Material{Retriever: db}
		logger.Warn("no model configured (model.base_url, model.name): course-material mode, answers quote the course material")
	}

	lessonURL := func(course, lesson, anchor string) string {
		u := "courses/" + course + "/" + lesson
		if anchor != "" {
			u += "#" + anchor
		}
		if cfg.PublicURL.IsZero() {
			return "/" + u
		}
		return strings.TrimSuffix(cfg.PublicURL.String(), "/") + "/" + u
	}
	ck := chatkit.New(chatkit.Config{
		Threads: db, Courses: db, Reports: db, Responder: responder,
		DailyMessages: cfg.Limits.DailyMessages, MaxMessageBytes: cfg.Limits.MaxMessageBytes, MaxPageSize: cfg.Limits.MaxPageSize,
		LessonURL: lessonURL, AnswerTimeout: cfg.Model.Timeout + time.Minute, Logger: logger, Registerer: srv.Registry,
	})
	a := &api.API{Threads: db, Courses: db, Reports: db, Lessons: db, DailyMessages: cfg.Limits.DailyMessages, Logger: logger}
	srv.Router.Route("/api/v1", func(r chi.Router) {
		r.With(chatkit.Protect(tokens)).Method(http.MethodPost, "/chatkit", ck)
		r.Group(func(r chi.Router) {
			r.Use(token.RequireUser(tokens))
			a.Routes(r)
		})
	})
	app, err := web.New(web.Config{Courses: db, Lessons: db, Issuer: cfg.Hydra.Issuer.String(),
		IdentityURL: cfg.Web.IdentityURL.String(), ClientID: cfg.Web.ClientID, Logger: logger})
	if err != nil {
		return err
	}
	app.Routes(srv.Router) // the learner web app: pages, /static/, /callback

	go retention(ctx, db, cfg.Retention, logger)

	err = srv.Run(ctx, cfg.Listen)
	// Answers still being written get a grace period, then are stored as
	// interrupted.
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ck.Shutdown(shutCtx)
	return err
}

// retention deletes threads whose enrollment ended long enough ago, at
// start and then every interval. Each run is idempotent; replicas running
// it at once delete each row once.
func retention(ctx context.Context, db *postgres.DB, cfg tutor.Retention, logger *slog.Logger) {
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		rep, err := db.PurgeExpired(ctx, cfg.AfterEnrollmentEnds)
		if err != nil && ctx.Err() == nil {
			logger.Error("retention", "error", err)
		} else if err == nil {
			logger.Info("retention", "threads_deleted", rep.Threads, "quota_rows_deleted", rep.QuotaRows,
				"after_enrollment_ends", cfg.AfterEnrollmentEnds.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
