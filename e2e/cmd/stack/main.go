// Command stack runs the whole platform in the foreground: PostgreSQL,
// migrations, Mailpit, Kratos, Hydra, identity, consent and tutor. Ctrl-C
// stops everything; so does any component dying, which is named with why.
//
//	stack [-data .data] [-bin bin] [-root .] [-postgres-port 54320] ...
//
// Every port flag also reads STACK_<NAME>_PORT from the environment.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/learnplatform/platform/e2e/stack"
)

func main() {
	ports := stack.DefaultPorts()
	opts := stack.Options{Logs: os.Stdout}
	flag.StringVar(&opts.Root, "root", ".", "repository checkout holding ory-config/")
	flag.StringVar(&opts.DataDir, "data", ".data", "state kept between starts (cluster, secrets, mail)")
	flag.StringVar(&opts.BinDir, "bin", "bin", "directory of the kratos, hydra, mailpit, identity, consent and tutor binaries")
	for _, p := range []struct {
		name string
		port *int
	}{
		{"postgres", &ports.Postgres}, {"mailpit-http", &ports.MailpitHTTP}, {"mailpit-smtp", &ports.MailpitSMTP},
		{"kratos-public", &ports.KratosPublic}, {"kratos-admin", &ports.KratosAdmin},
		{"hydra-public", &ports.HydraPublic}, {"hydra-admin", &ports.HydraAdmin},
		{"identity", &ports.Identity}, {"consent", &ports.Consent}, {"tutor", &ports.Tutor},
	} {
		env := "STACK_" + strings.ToUpper(strings.ReplaceAll(p.name, "-", "_")) + "_PORT"
		if v, ok := os.LookupEnv(env); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "stack: %s=%q is not a port number\n", env, v)
				os.Exit(2)
			}
			*p.port = n
		}
		flag.IntVar(p.port, p.name+"-port", *p.port, "port of "+p.name+" (env "+env+")")
	}
	flag.Parse()
	opts.Ports = ports

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	began := time.Now()
	fmt.Println("stack: starting PostgreSQL, migrations, Mailpit, Kratos, Hydra, identity, consent, tutor")
	s, err := stack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "stack: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nstack: ready in %s\n%s\nPress Ctrl-C to stop.\n\n", time.Since(began).Round(100*time.Millisecond), s.Summary())

	select {
	case <-ctx.Done():
		fmt.Println("stack: stopping")
		s.Stop()
		fmt.Println("stack: stopped")
	case d := <-s.Died():
		fmt.Fprintf(os.Stderr, "stack: %s %s; stopping the stack\n", d.Name, d.Reason)
		rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Second)
		for name, state := range s.Readiness(rctx) {
			fmt.Fprintf(os.Stderr, "stack:   %s readiness: %s\n", name, state)
		}
		rcancel()
		s.Stop()
		fmt.Fprintf(os.Stderr, "stack: stopped because %s %s\n", d.Name, d.Reason)
		os.Exit(1)
	}
}
