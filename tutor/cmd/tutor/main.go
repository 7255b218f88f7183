// Command tutor serves the AI tutor API and the learner web app.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
)

func main() {
	cfg := tutor.DefaultConfig()
	server.LoadConfig("tutor", os.Args[1:], &cfg)
	logger := server.NewLogger("tutor", cfg.LogLevel)

	ctx, stop := server.SignalContext()
	defer stop()

	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg tutor.Config, logger *slog.Logger) error {
	db, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer db.Close()

	srv := server.New("tutor", logger, server.PingCheck("postgres", db))
	tokens, err := token.New(token.Config{Issuer: cfg.Hydra.Issuer.String(), Logger: logger, Registerer: srv.Registry})
	if err != nil {
		return err
	}
	// Ready once Hydra's signing keys were fetched; afterwards the cached
	// keys keep the tutor serving through a Hydra outage.
	srv.AddCheck(server.Check{Name: "hydra", Probe: tokens.Ready})
	return srv.Run(ctx, cfg.Listen)
}
