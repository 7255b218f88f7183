// Command identity serves the identity edge: the hosted login pages, the
// public path to Kratos, lockout, the auth event log and the admin API.
//
//	identity [-config identity.yml]                         serve
//	identity users set-role [-config identity.yml] EMAIL ROLE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/identity/mail"
	"github.com/learnplatform/platform/identity/postgres"
	"github.com/learnplatform/platform/identity/web"
	"github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/pgxtracing"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "users" {
		os.Exit(users(os.Args[2:]))
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

	srv := server.NewWith("identity", logger, server.Options{Tracer: tr.Provider()},
		server.PingCheck("postgres", db),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
	tokens, err := token.New(token.Config{Issuer: cfg.TokenIssuer.String(),
		JWKSURL: cfg.TokenJWKSURL.String(), Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return err
	}
	notifier, err := mail.New(cfg.Mail.URL, cfg.Mail.From, cfg.PublicURL.JoinPath("recovery").String(), logger)
	if err != nil {
		return err
	}
	events := postgres.NewEventLog(db, logger)
	defer events.Close()
	kc := kratosClient(cfg)
	edge, err := web.New(web.Options{
		Kratos:        kc,
		KratosPublic:  &cfg.Kratos.PublicURL.URL,
		PublicURL:     &cfg.PublicURL.URL,
		AllowedReturn: urls(cfg.AllowedReturnURLs),
		Password:      cfg.Policy.PasswordPolicy.Active(),
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Logger:        logger,
		Lockouts:      postgres.NewLockouts(db, cfg.Policy.Lockout),
		Events:        events,
		Notifier:      notifier,
		Tokens:        tokens,
		Admin:         kc,
		HookSecret:    cfg.HookSecret,
		Registerer:    srv.Registry,
	})
	if err != nil {
		return err
	}
	edge.Mount(srv.Router)
	return srv.Run(ctx, cfg.Listen)
}

func urls(in []config.URL) []*url.URL {
	out := make([]*url.URL, len(in))
	for i := range in {
		out[i] = &in[i].URL
	}
	return out
}

// users is the operators' command line: bootstrap the first admin, talking
// to Kratos' admin API directly (no token needed, only the admin port).
func users(args []string) int {
	if len(args) == 0 || args[0] != "set-role" {
		fmt.Fprintln(os.Stderr, "usage: identity users set-role [-config identity.yml] EMAIL ROLE")
		return 2
	}
	fs := flag.NewFlagSet("set-role", flag.ContinueOnError)
	def := os.Getenv("IDENTITY_CONFIG")
	if def == "" {
		def = "identity.yml"
	}
	path := fs.String("config", def, "the identity service's configuration file")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: identity users set-role [-config identity.yml] EMAIL ROLE")
		return 2
	}
	email, role := identity.NormalizeIdentifier(fs.Arg(0)), fs.Arg(1)
	if !slices.Contains(kratos.Roles, role) {
		fmt.Fprintf(os.Stderr, "identity: role must be one of %s\n", strings.Join(kratos.Roles, ", "))
		return 2
	}
	// The command needs only Kratos' admin URL from the file; the server's
	// secrets need not be in this shell's environment.
	raw, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "identity: %v\n", err)
		return 2
	}
	cfg := identity.DefaultConfig()
	placeholders := map[string]string{"IDENTITY_HOOK_SECRET": "unused-by-this-command", "IDENTITY_SMTP_URL": "smtp://unused/",
		"IDENTITY_DATABASE_URL": "postgres://unused/unused"}
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := placeholders[k]
		return v, ok
	}
	if err := config.LoadBytes(*path, raw, &cfg, lookup); err != nil {
		fmt.Fprintf(os.Stderr, "identity: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kc := kratosClient(cfg)
	id, err := kc.IdentityByEmail(ctx, email)
	if errors.Is(err, kratos.ErrNotFound) {
		fmt.Fprintf(os.Stderr, "identity: no user with email %s\n", email)
		return 1
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "identity: %v\n", err)
		return 1
	}
	previous, err := kc.SetRole(ctx, id, role)
	if err != nil {
		fmt.Fprintf(os.Stderr, "identity: %v\n", err)
		return 1
	}
	if _, set := os.LookupEnv("IDENTITY_DATABASE_URL"); !set {
		fmt.Fprintln(os.Stderr, "identity: IDENTITY_DATABASE_URL is not set, so the change is not in the auth event log")
	} else if db, err := pgxpool.New(ctx, cfg.Database.URL); err == nil {
		events := postgres.NewEventLog(db, slog.New(slog.NewTextHandler(os.Stderr, nil)))
		events.Record(ctx, identity.Event{Type: identity.EventRoleChanged, IdentityID: id, Email: email,
			Detail: map[string]any{"from": previous, "to": role, "by": "command line"}})
		events.Close()
		db.Close()
	}
	fmt.Printf("%s (%s): role %s -> %s; it shows in the user's next token\n", email, id, previous, role)
	return 0
}
