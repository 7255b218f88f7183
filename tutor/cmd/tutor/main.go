// Command tutor serves the AI tutor API and the learner web app.
//
//	tutor [serve] [-config PATH]        serve (the default)
//	tutor ingest [-config PATH] DIR     load the Markdown lessons under DIR (and into every retriever plugin)
//	tutor plugins list [-config PATH]   start the declared plugins, show what runs, stop them
//	tutor plugins check [-config PATH]  the same, and ask each whether it answers; exit 1 when a required one does not
//	tutor eval [-config PATH] [flags]   run the tutoring evaluation against the tutor as configured (tutor/eval)
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
	"github.com/prometheus/client_golang/prometheus"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/revocation"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/pgxtracing"
	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/api"
	"github.com/learnplatform/platform/tutor/chatkit"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/content"
	"github.com/learnplatform/platform/tutor/eval"
	"github.com/learnplatform/platform/tutor/pipeline"
	"github.com/learnplatform/platform/tutor/pluginhost"
	"github.com/learnplatform/platform/tutor/postgres"
	"github.com/learnplatform/platform/tutor/web"
)

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "ingest" || args[0] == "plugins" || args[0] == "eval") {
		cmd, args = args[0], args[1:]
	}
	var dir string
	switch cmd {
	case "eval": // its own flags, the same config file and environment
		os.Exit(eval.Main(args, os.Stdout, os.Stderr))
	case "ingest":
		// The folder is the last argument; the rest are the usual flags.
		if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
			fmt.Fprintln(os.Stderr, "tutor: usage: tutor ingest [-config PATH] DIR")
			os.Exit(server.ExitConfig)
		}
		dir, args = args[len(args)-1], args[:len(args)-1]
	case "plugins":
		if len(args) == 0 || (args[0] != "list" && args[0] != "check") {
			fmt.Fprintln(os.Stderr, "tutor: usage: tutor plugins list|check [-config PATH]")
			os.Exit(server.ExitConfig)
		}
		cmd, args = "plugins "+args[0], args[1:]
	}
	cfg := config.Default()
	path := server.LoadConfig("tutor", args, &cfg)
	logger := server.NewLogger("tutor", cfg.LogLevel)
	if strings.HasPrefix(cmd, "plugins ") && cfg.LogLevel != "debug" {
		// The table is the output; the plugins' start and stop are noise.
		logger = server.NewLogger("tutor", "warn")
	}

	ctx, stop := server.SignalContext()
	defer stop()

	specs, err := cfg.PluginSpecs(os.LookupEnv)
	specs = host.ResolvePaths(specs, path) // relative to the config file, not the working directory
	if err == nil {
		switch cmd {
		case "ingest":
			err = ingestCommand(ctx, cfg, specs, dir, logger)
		case "plugins list", "plugins check":
			err = pluginsCommand(ctx, specs, cmd == "plugins check", logger)
		default:
			err = run(ctx, cfg, specs, logger)
		}
	}
	var ce *kitconfig.Error
	if errors.As(err, &ce) { // unusable course material stops start-up like bad config
		ce.File = path
		server.ExitOnConfigError("tutor", ce)
	}
	var se *host.StartError
	if errors.As(err, &se) {
		fmt.Fprintf(os.Stderr, "tutor: %v\n", se)
	}
	if err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

// startPlugins starts the declared plugins (nil when none is declared).
// A required plugin that cannot start is an error (*host.StartError); an
// optional one is logged and retried while the tutor runs without it.
func startPlugins(ctx context.Context, specs []host.Spec, logger *slog.Logger, reg prometheus.Registerer) (*host.Host, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	return host.Start(ctx, specs, host.Options{Logger: logger, Registerer: reg})
}

func openDB(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.Database.URL)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	pc.MaxConns = int32(cfg.Database.MaxConns)
	pc.ConnConfig.Tracer = pgxtracing.Query{} // spans only under traced requests
	return pgxpool.NewWithConfig(ctx, pc)
}

// ingest loads dir's lessons into the database and, when plugins run,
// through every retriever plugin that takes ingestion. The tutor's own
// store is written first: it serves the lesson pages whatever retrievers
// say.
func ingest(ctx context.Context, db *postgres.DB, h *host.Host, dir string) (tutor.IngestReport, []pluginhost.IngestResult, error) {
	lessons, err := content.Load(os.DirFS(dir))
	if err != nil {
		return tutor.IngestReport{}, nil, &kitconfig.Error{Key: "content.dir", Problem: fmt.Sprintf("%s: %v", dir, err)}
	}
	rep, err := db.Ingest(ctx, lessons)
	if err != nil || h == nil {
		return rep, nil, err
	}
	return rep, pluginhost.Ingest(ctx, h, lessons), nil
}

// retrieversOnly keeps the retriever plugins: ingestion needs no guardrails.
func retrieversOnly(specs []host.Spec) []host.Spec {
	var out []host.Spec
	for _, s := range specs {
		if s.Kind == plugins.KindRetriever {
			out = append(out, s)
		}
	}
	return out
}

func ingestCommand(ctx context.Context, cfg config.Config, specs []host.Spec, dir string, logger *slog.Logger) error {
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	h, err := startPlugins(ctx, retrieversOnly(specs), logger, nil)
	if err != nil {
		return err
	}
	if h != nil {
		defer h.Close()
	}
	rep, results, err := ingest(ctx, postgres.New(pool), h, dir)
	if err != nil {
		return err
	}
	fmt.Printf("ingested %s: %d course(s), %d lesson(s) added, %d updated, %d unchanged, %d removed\n",
		dir, rep.Courses, rep.Added, rep.Updated, rep.Unchanged, rep.Removed)
	var failed []string
	for _, r := range results {
		switch {
		case r.Skipped:
			fmt.Printf("  retriever %s: not fed by ingestion (skipped)\n", r.Name)
		case r.Err != nil:
			fmt.Printf("  retriever %s: FAILED: %v\n", r.Name, r.Err)
			failed = append(failed, r.Name)
		default:
			fmt.Printf("  retriever %s: %d lesson(s) added, %d updated, %d unchanged, %d removed\n",
				r.Name, r.Report.Added, r.Report.Updated, r.Report.Unchanged, r.Report.Removed)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("ingestion failed in retriever(s) %s; run it again once they answer", strings.Join(failed, ", "))
	}
	return nil
}

// pluginsCommand starts the declared plugins as the tutor would (pinned
// checksum, handshake, configuration, health) in this process, prints
// their state (and with check, whether each answers a health check now)
// and stops them. It fails when a required plugin is not healthy; an
// optional one is shown but does not fail it.
func pluginsCommand(ctx context.Context, specs []host.Spec, check bool, logger *slog.Logger) error {
	if len(specs) == 0 {
		fmt.Println("no plugins declared (the tutor searches its own lesson store and runs no guardrails)")
		return nil
	}
	// Start every plugin even when a required one fails, so one that fails
	// is shown next to the others (once: in the table's notes, not logged).
	required := map[string]bool{}
	for _, s := range specs {
		required[s.Name] = s.Required
	}
	h, err := host.Start(ctx, specs, host.Options{Logger: logger, StartDegraded: true})
	if err != nil {
		return err
	}
	defer h.Close()
	var st []host.Status
	if check {
		st = h.Check(ctx)
	} else {
		for _, p := range h.Plugins() {
			st = append(st, p.Status())
		}
	}
	var bad []string
	for i := range st {
		st[i].Required = required[st[i].Name]
		healthy := st[i].State == host.StateUp
		if check {
			healthy = st[i].Health == "ok"
		}
		if st[i].Required && !healthy {
			bad = append(bad, st[i].Name)
		}
	}
	if err := host.WriteStatus(os.Stdout, st); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("required plugin(s) not healthy: %s", strings.Join(bad, ", "))
	}
	return nil
}

func run(ctx context.Context, cfg config.Config, specs []host.Spec, logger *slog.Logger) error {
	tr, err := tracing.Start(ctx, "tutor", cfg.Tracing, logger)
	if err != nil {
		return err
	}
	defer tr.Close() // last: flushes the spans of the requests drained before it
	pool, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := postgres.New(pool)

	srv := server.NewWith("tutor", logger, server.Options{Tracer: tr.Provider(), OpsListen: cfg.OpsListen}, server.PingCheck("postgres", db.Pool()))
	plugs, err := startPlugins(ctx, specs, logger, srv.Registry)
	if err != nil {
		return err
	}
	if plugs != nil {
		// After the answers still being written (below): they use them.
		defer plugs.Close()
		// Not ready while a required plugin is down (crashed, restarting).
		srv.AddCheck(server.Check{Name: "plugins", Probe: plugs.Ready})
	}

	if cfg.Content.Dir != "" {
		rep, results, err := ingest(ctx, db, plugs, cfg.Content.Dir)
		if err != nil {
			return err
		}
		logger.Info("course material ingested", "dir", cfg.Content.Dir, "courses", rep.Courses,
			"added", rep.Added, "updated", rep.Updated, "unchanged", rep.Unchanged, "removed", rep.Removed)
		for _, r := range results {
			switch {
			case r.Err != nil:
				logger.Error("course material not ingested into a retriever; it answers from what it had", "plugin", r.Name, "error", r.Err)
			case !r.Skipped:
				logger.Info("course material ingested", "plugin", r.Name, "added", r.Report.Added, "updated", r.Report.Updated,
					"unchanged", r.Report.Unchanged, "removed", r.Report.Removed)
			}
		}
	}

	// Revoked tokens (sign-out, deactivation, role change...) are refused
	// from the first request: the list is loaded before the tutor serves,
	// then kept current by PostgreSQL notifications.
	revoked, err := revocation.NewList(db.Pool(), revocation.ListOptions{Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return err
	}
	if err := revoked.Start(ctx); err != nil {
		return err
	}
	srv.AddCheck(server.Check{Name: "revocations", Probe: revoked.Ready})
	tokens, err := token.New(token.Config{
		Issuer:      cfg.Hydra.Issuer.String(),
		JWKSURL:     strings.TrimSuffix(cfg.Hydra.Internal(), "/") + "/.well-known/jwks.json",
		Audience:    cfg.Hydra.Audience,
		Revocations: revoked,
		CacheSize:   cfg.Hydra.TokenCacheSize,
		Logger:      logger,
		Registerer:  srv.Registry,
	})
	if err != nil {
		return err
	}
	// Ready once Hydra's signing keys were fetched; afterwards the cached
	// keys keep the tutor serving through a Hydra outage.
	srv.AddCheck(server.Check{Name: "hydra", Probe: tokens.Ready})

	// Retrieval (the retriever plugins, else the tutor's own lesson store:
	// PostgreSQL full-text search), guardrails, the model (or
	// course-material mode) and the ChatKit handler: built as `tutor eval`
	// builds them.
	ck := pipeline.Build(cfg, pipeline.Stores{Threads: db, Courses: db, Reports: db, Search: db}, plugs, pipeline.Options{
		Logger: logger, Registerer: srv.Registry,
		// The request id and, when tracing, the traceparent go with each model call.
		ModelClient: &http.Client{Transport: server.RequestIDTransport{}},
	}).Handler
	a := &api.API{Threads: db, Courses: db, Reports: db, Lessons: db, DailyMessages: cfg.Limits.DailyMessages, Logger: logger}
	srv.Router.Route("/api/v1", func(r chi.Router) {
		r.With(chatkit.Protect(tokens)).Method(http.MethodPost, "/chatkit", ck)
		r.Group(func(r chi.Router) {
			r.Use(token.RequireUser(tokens))
			a.Routes(r)
		})
		a.IntegratorRoutes(r, tokens)
	})
	app, err := web.New(web.Config{Courses: db, Lessons: db,
		Issuer: cfg.Hydra.Issuer.String(), IssuerProbeURL: cfg.Hydra.Internal(),
		IdentityURL: cfg.Web.IdentityURL.String(), IdentityProbeURL: cfg.Web.IdentityInternalURL.String(),
		ClientID: cfg.Web.ClientID, Audience: cfg.Hydra.Audience, Logger: logger})
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
func retention(ctx context.Context, db *postgres.DB, cfg config.Retention, logger *slog.Logger) {
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
