// Command consent serves Hydra's login, consent and logout endpoints.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/learnplatform/platform/consent"
	"github.com/learnplatform/platform/kit/server"
)

func main() {
	cfg := consent.DefaultConfig()
	server.LoadConfig("consent", os.Args[1:], &cfg)
	logger := server.NewLogger("consent", cfg.LogLevel)

	ctx, stop := server.SignalContext()
	defer stop()

	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("stopped", "error", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg consent.Config, logger *slog.Logger) error {
	srv := server.New("consent", logger,
		server.HTTPCheck("hydra", cfg.Hydra.AdminURL.JoinPath("health/ready").String()),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
	return srv.Run(ctx, cfg.Listen)
}
