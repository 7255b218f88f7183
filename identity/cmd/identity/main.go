// Command identity serves the identity edge.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/identity"
	"github.com/learnplatform/platform/kit/server"
)

func main() {
	cfg := identity.DefaultConfig()
	server.LoadConfig("identity", os.Args[1:], &cfg)
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

	srv := server.New("identity", logger,
		server.PingCheck("postgres", db),
		server.HTTPCheck("kratos", cfg.Kratos.AdminURL.JoinPath("health/ready").String()),
	)
	return srv.Run(ctx, cfg.Listen)
}
