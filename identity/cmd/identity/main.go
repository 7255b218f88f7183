// Command identity serves the identity edge: the hosted login pages and the
// public path to Kratos.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/identity/kratos"
	"github.com/learnplatform/platform/identity/web"
	"github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/server"
)

func main() {
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

func run(ctx context.Context, cfg identity.Config, logger *slog.Logger) error {
	db, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer db.Close()

	hc := &http.Client{
		Timeout:   10 * time.Second,
		Transport: kratos.CookieTransport{},
		// Kratos' answers are relayed to the browser, never followed here.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	kc := kratos.New(cfg.Kratos.PublicURL.String(), cfg.Kratos.AdminURL.String(), hc)
	edge, err := web.New(web.Options{
		Kratos:        kc,
		KratosPublic:  &cfg.Kratos.PublicURL.URL,
		PublicURL:     &cfg.PublicURL.URL,
		AllowedReturn: urls(cfg.AllowedReturnURLs),
		Password:      cfg.Policy.PasswordPolicy.Active(),
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Logger:        logger,
	})
	if err != nil {
		return err
	}

	srv := server.New("identity", logger,
		server.PingCheck("postgres", db),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
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
