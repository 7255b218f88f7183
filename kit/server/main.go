package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/learnplatform/platform/kit/config"
)

// ExitConfig is the exit status for a configuration that cannot be used.
const ExitConfig = 2

// LoadConfig parses `-config PATH` from args (default: $<SERVICE>_CONFIG, then
// <service>.yml) and loads it into dst. Any problem is printed to stderr as
// one line and the process exits with ExitConfig.
func LoadConfig(service string, args []string, dst any) string {
	return loadConfig(service, args, dst, os.Stderr, os.Exit)
}

func loadConfig(service string, args []string, dst any, stderr io.Writer, exit func(int)) string {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv(strings.ToUpper(service) + "_CONFIG")
	if def == "" {
		def = service + ".yml"
	}
	path := fs.String("config", def, "path of the YAML configuration file (env "+strings.ToUpper(service)+"_CONFIG)")
	if err := fs.Parse(args); err != nil {
		exit(ExitConfig)
		return ""
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", service, strings.Join(fs.Args(), " "))
		exit(ExitConfig)
		return ""
	}
	if err := config.Load(*path, dst); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", service, err)
		exit(ExitConfig)
		return ""
	}
	return *path
}

// ExitOnConfigError prints a configuration error found after LoadConfig (a
// file the config names, say) the same way and exits with ExitConfig.
func ExitOnConfigError(service string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
	os.Exit(ExitConfig)
}

// SignalContext ends on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
