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
	"github.com/learnplatform/platform/identity/hydra"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/identity/mail"
	"github.com/learnplatform/platform/identity/postgres"
	"github.com/learnplatform/platform/identity/web"
	"github.com/learnplatform/platform/kit/config"
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
	cfg := identity.DefaultConfig()
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

func kratosClient(cfg identity.Config) *kratos.Client {
	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: kratos.CookieTransport{Base: server.RequestIDTransport{}},
		// Kratos' answers are relayed to the browser, never followed here.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return kratos.New(cfg.Kratos.PublicURL.String(), cfg.Kratos.AdminURL.String(), hc)
}

func run(ctx context.Context, cfg identity.Config, logger *slog.Logger) error {
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
	edge, closeEdge, err := newEdge(ctx, cfg, db, srv, logger)
	if err != nil {
		return err
	}
	defer closeEdge()
	edge.Mount(srv.Router)
	return srv.Run(ctx, cfg.Listen)
}

// newEdge wires the edge on the platform database: the revocation list is
// loaded (and kept current) before it returns, so no revoked token is
// accepted from the first request; close drains the event log.
func newEdge(ctx context.Context, cfg identity.Config, db *pgxpool.Pool, srv *server.Server, logger *slog.Logger) (*web.Handler, func(), error) {
	// Revoked tokens (sign-out, deactivation, role change...) are refused
	// by the admin API like by the tutor: the list is loaded before the
	// edge serves, then kept current by PostgreSQL notifications.
	revoked, err := revocation.NewList(db, revocation.ListOptions{Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return nil, nil, err
	}
	if err := revoked.Start(ctx); err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	oauth, err := hydraClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	notifier, err := mail.New(cfg.Mail.URL, cfg.Mail.From, cfg.PublicURL.JoinPath("recovery").String(), logger)
	if err != nil {
		return nil, nil, err
	}
	// Validate checked both lists already.
	trusted, err := identity.ParseNetworks("trusted_proxies", cfg.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	exempt, err := identity.ParseNetworks("mail_limit_exempt", cfg.MailLimitExempt)
	if err != nil {
		return nil, nil, err
	}
	events := postgres.NewEventLog(db, logger)
	kc := kratosClient(cfg)
	edge, err := web.New(web.Options{
		Kratos:         kc,
		KratosPublic:   &cfg.Kratos.PublicURL.URL,
		PublicURL:      &cfg.PublicURL.URL,
		AllowedReturn:  urls(cfg.AllowedReturnURLs),
		Password:       cfg.Policy.PasswordPolicy.Active(),
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Logger:         logger,
		Lockouts:       postgres.NewLockouts(db, cfg.Policy.Lockout),
		Events:         events,
		Notifier:       notifier,
		Directory:      kc,
		MailQuota:      postgres.NewMailQuota(db, cfg.Policy.MailLimits, exempt),
		TrustedProxies: trusted,
		Tokens:         tokens,
		Admin:          kc,
		Revoker:        store,
		OAuth:          oauth,
		HookSecret:     cfg.HookSecret,
		Registerer:     srv.Registry,
	})
	if err != nil {
		events.Close()
		return nil, nil, err
	}
	return edge, func() { edge.Wait(); events.Close() }, nil
}

// hydraClient talks to Hydra's admin API, carrying request ids.
func hydraClient(cfg identity.Config) (*hydra.Client, error) {
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

func urls(in []config.URL) []*url.URL {
	out := make([]*url.URL, len(in))
	for i := range in {
		out[i] = &in[i].URL
	}
	return out
}
