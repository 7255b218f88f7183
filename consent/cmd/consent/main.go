// Command consent serves Hydra's login, consent and logout endpoints and
// applies the OAuth2 clients of clients.yaml to Hydra at start-up.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/consent/config"
	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/consent/web"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/tracing"
)

func main() {
	cfg := config.Default()
	path := server.LoadConfig("consent", os.Args[1:], &cfg)
	var clients []consent.Client
	if p := cfg.ClientsPath(path); p != "" {
		var err error
		if clients, err = config.LoadClients(p, os.LookupEnv); err != nil {
			server.ExitOnConfigError("consent", err)
		}
	}
	logger := server.NewLogger("consent", cfg.LogLevel)

	ctx, stop := server.SignalContext()
	defer stop()

	if err := run(ctx, cfg, clients, logger); err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config.Config, clients []consent.Client, logger *slog.Logger) error {
	tr, err := tracing.Start(ctx, "consent", cfg.Tracing, logger)
	if err != nil {
		return err
	}
	defer tr.Close() // last: flushes the spans of the requests drained before it
	hc := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     server.RequestIDTransport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h := hydra.New(cfg.Hydra.AdminURL.String(), hc)
	for _, c := range clients {
		did, err := h.ApplyClient(ctx, c)
		if err != nil {
			return fmt.Errorf("applying clients: %w", err)
		}
		logger.Info("oauth2 client "+did, "client_id", c.ID, "first_party", c.FirstParty, "public", c.Public)
	}
	pages, err := web.New(web.Options{
		Hydra:           h,
		Kratos:          kratos.New(cfg.Kratos.PublicURL.String(), cfg.Kratos.AdminURL.String(), hc),
		PublicURL:       &cfg.PublicURL.URL,
		LoginURL:        &cfg.LoginURL.URL,
		RememberFor:     cfg.RememberFor,
		TokenHookSecret: cfg.TokenHookSecret,
		Logger:          logger,
	})
	if err != nil {
		return err
	}
	srv := server.NewWith("consent", logger, server.Options{Tracer: tr.Provider(), OpsListen: cfg.OpsListen},
		server.HTTPCheck("hydra", cfg.Hydra.AdminURL.JoinPath("health/ready").String()),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
	pages.Mount(srv.Router)
	return srv.Run(ctx, cfg.Listen)
}
