// Command migrate applies the platform's own SQL migrations. Kratos and Hydra
// migrate with their own binaries (`kratos migrate sql -e --yes`,
// `hydra migrate sql up -e --yes`); the launcher runs all three.
//
//	migrate up       apply pending migrations (DSN from -dsn or DATABASE_URL)
//	migrate status   list pending migrations; exit 1 when any are pending
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/learnplatform/platform/migrations"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("DATABASE_URL"), "PostgreSQL URL of the platform database (env DATABASE_URL)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: migrate [-dsn URL] up|status\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *dsn == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch flag.Arg(0) {
	case "up":
		applied, err := migrations.Apply(ctx, *dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, a := range applied {
			fmt.Printf("applied %05d %s\n", a.Version, a.Source)
		}
		fmt.Printf("%d migration(s) applied; the schema is current\n", len(applied))
	case "status":
		pending, err := migrations.Pending(ctx, *dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if len(pending) == 0 {
			fmt.Println("the schema is current")
			return
		}
		fmt.Printf("%d pending: %v\n", len(pending), pending)
		os.Exit(1)
	default:
		flag.Usage()
		os.Exit(2)
	}
}
