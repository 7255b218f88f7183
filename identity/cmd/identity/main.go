// Command identity serves the identity edge: the hosted login pages, the
// public path to Kratos, lockout, the auth event log and the admin API.
//
//	identity [-config identity.yml]                                  serve
//	identity users set-role [-config identity.yml] EMAIL ROLE
//	identity users set-state [-config identity.yml] EMAIL active|inactive
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/admin"
	"github.com/learnplatform/platform/identity/config"
	"github.com/learnplatform/platform/identity/hooks"
	"github.com/learnplatform/platform/identity/hydra"
	"github.com/learnplatform/platform/identity/internal/edge"
	"github.com/learnplatform/platform/identity/limits"
	"github.com/learnplatform/platform/identity/mail"
	"github.com/learnplatform/platform/identity/pages"
	"github.com/learnplatform/platform/identity/postgres"
	"github.com/learnplatform/platform/identity/proxy"
	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/revocation"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/pgxtracing"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "users" {
		os.Exit(users(os.Args[2:], os.LookupEnv, os.Stdout, os.Stderr))
	}
	cfg := config.Default()
	path := server.LoadConfig("identity", os.Args[1:], &cfg)
	if err := cfg.LoadPolicy(path); err != nil {
		server.ExitOnConfigError("identity", err)
	}
	logger := server.NewLogger("identity", cfg.LogLevel)

	ctx, stop := server.SignalContext()
	defer stop()

	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func kratosClient(cfg config.Config) *kratos.Client {
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: kratos.CookieTransport{Base: server.RequestIDTransport{}},
		// Kratos' answers are relayed to the browser, never followed here.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return kratos.New(cfg.Kratos.PublicURL.String(), cfg.Kratos.AdminURL.String(), hc)
}

func run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	tr, err := tracing.Start(ctx, "identity", cfg.Tracing, logger)
	if err != nil {
		return err
	}
	defer tr.Close() // last: flushes the spans of the requests drained before it
	pc, err := pgxpool.ParseConfig(cfg.Database.URL)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	pc.ConnConfig.Tracer = pgxtracing.Query{} // spans only under traced requests
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return err
	}
	defer db.Close()

	srv := server.NewWith("identity", logger, server.Options{Tracer: tr.Provider(), OpsListen: cfg.OpsListen},
		server.PingCheck("postgres", db),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
	wired, err := newEdge(ctx, cfg, db, srv, logger)
	if err != nil {
		return err
	}
	defer wired.close()
	return srv.Run(ctx, cfg.Listen)
}

// newEdge wires the edge on the platform database and mounts it on srv's
// router: the hosted pages, the proxy to Kratos with its limits, the admin
// API and Kratos' web hooks, every route behind the one-Cookie-header
// check. The revocation list is loaded (and kept current) before it
// returns, so no revoked token is accepted from the first request.
func newEdge(ctx context.Context, cfg config.Config, db *pgxpool.Pool, srv *server.Server, logger *slog.Logger) (*running, error) {
	// Revoked tokens (sign-out, deactivation, role change...) are refused
	// by the admin API like by the tutor: the list is loaded before the
	// edge serves, then kept current by PostgreSQL notifications.
	revoked, err := revocation.NewList(db, revocation.ListOptions{Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return nil, err
	}
	if err := revoked.Start(ctx); err != nil {
		return nil, err
	}
	srv.AddCheck(server.Check{Name: "revocations", Probe: revoked.Ready})
	store := revocation.NewStore(db, 0)
	go deleteExpiredRevocations(ctx, store, logger)
	tokens, err := token.New(token.Config{
		Issuer:      cfg.TokenIssuer.String(),
		JWKSURL:     cfg.TokenJWKSURL.String(),
		Audience:    cfg.TokenAudience,
		Revocations: revoked,
		Logger:      logger,
		Registerer:  srv.Registry,
	})
	if err != nil {
		return nil, err
	}
	oauth, err := hydraClient(cfg)
	if err != nil {
		return nil, err
	}
	notifier, err := mail.New(cfg.Mail.URL, cfg.Mail.From, cfg.PublicURL.JoinPath("recovery").String(), logger)
	if err != nil {
		return nil, err
	}
	// Validate checked both lists already.
	trusted, err := config.ParseNetworks("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	exempt, err := config.ParseNetworks("mail_limit_exempt", cfg.MailLimitExempt)
	if err != nil {
		return nil, err
	}
	kc := kratosClient(cfg)
	// Every write of a revocation record is bounded in time and counted.
	revocations := edge.NewRevocations(store, logger, srv.Registry, nil)
	accounts := &identity.Accounts{Identities: kc, OAuth: oauth, Revoker: revocations}
	lockouts := postgres.NewLockouts(db, cfg.Policy.Lockout)
	password := cfg.Policy.PasswordPolicy.Active()
	events := postgres.NewEventLog(db, logger)
	fail := func(err error) (*running, error) {
		events.Close()
		return nil, err
	}

	ui, err := pages.New(pages.Options{
		Kratos:         kc,
		PublicURL:      &cfg.PublicURL.URL,
		AllowedReturn:  urls(cfg.AllowedReturnURLs),
		Password:       password,
		Events:         events,
		Accounts:       accounts,
		Revoker:        revocations,
		TrustedProxies: trusted,
		Logger:         logger,
	})
	if err != nil {
		return fail(err)
	}
	guard := limits.New(limits.Options{
		Kratos:     kc,
		Pages:      ui,
		Lockouts:   lockouts,
		MailQuota:  postgres.NewMailQuota(db, cfg.Policy.MailLimits, exempt),
		Directory:  kc,
		Notifier:   notifier,
		Events:     events,
		Logger:     logger,
		Registerer: srv.Registry,
	})
	px, err := proxy.New(proxy.Options{
		Kratos:         kc,
		KratosPublic:   &cfg.Kratos.PublicURL.URL,
		PublicURL:      &cfg.PublicURL.URL,
		Pages:          ui,
		Limits:         guard,
		Password:       password,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Events:         events,
		Revocations:    revocations,
		TrustedProxies: trusted,
		Logger:         logger,
		Registerer:     srv.Registry,
	})
	if err != nil {
		return fail(err)
	}
	api, err := admin.New(admin.Options{
		Tokens:         tokens,
		Accounts:       accounts,
		Lockouts:       lockouts,
		Events:         events,
		Directory:      kc,
		TrustedProxies: trusted,
		Logger:         logger,
	})
	if err != nil {
		return fail(err)
	}
	receiver, err := hooks.New(hooks.Options{
		Secret:      cfg.HookSecret,
		Lockouts:    lockouts,
		Events:      events,
		Revocations: revocations,
		Logger:      logger,
	})
	if err != nil {
		return fail(err)
	}

	r := srv.Router.With(px.SingleCookie)
	ui.Mount(r)
	api.Mount(r)
	receiver.Mount(r)
	px.Mount(r)
	return &running{guard: guard, events: events}, nil
}

// running is a wired edge's work that outlives a request.
type running struct {
	guard  *limits.Guard
	events *postgres.EventLog
}

// wait waits for the work done after answering (events linked to
// accounts, lockout notices).
func (r *running) wait() { r.guard.Wait() }

// close waits for that work and drains the event log: call it after the
// server stopped.
func (r *running) close() {
	r.wait()
	r.events.Close()
}

// hydraClient talks to Hydra's admin API, carrying request ids.
func hydraClient(cfg config.Config) (*hydra.Client, error) {
	return hydra.New(cfg.Hydra.AdminURL.String(), &http.Client{Timeout: 10 * time.Second, Transport: server.RequestIDTransport{}})
}

// revocationCleanupInterval is how often expired revocation records are
// deleted. Every replica does it; the DELETE is idempotent.
const revocationCleanupInterval = 15 * time.Minute

// deleteExpiredRevocations removes records that void nothing any more,
// keeping the table (and every process's reloads) small.
func deleteExpiredRevocations(ctx context.Context, store *revocation.Store, logger *slog.Logger) {
	t := time.NewTicker(revocationCleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := store.DeleteExpired(ctx); err != nil {
			logger.Warn("expired token revocations not deleted", "error", err)
		} else if n > 0 {
			logger.Info("expired token revocations deleted", "records", n)
		}
	}
}

func urls(in []kitconfig.URL) []*url.URL {
	out := make([]*url.URL, len(in))
	for i := range in {
		out[i] = &in[i].URL
	}
	return out
}
