// Command stack runs the whole platform in the foreground: PostgreSQL,
// migrations, Mailpit, Kratos, Hydra, identity, consent and tutor. Ctrl-C
// stops everything; so does any component dying, which is named with why.
//
//	stack [-data .data] [-bin bin] [-root .] [-plugins FILE] [-postgres-port 54320] ...
//	stack token [-password P] [-tutor-port 8080 ...] EMAIL
//
// Every port flag also reads STACK_<NAME>_PORT from the environment.
// -plugins (env STACK_PLUGINS) declares more plugins for the tutor
// (docs/plugins.md, "Try it locally"). `stack token` prints an access
// token for the tutor's API of the learner EMAIL on a running local
// stack, creating the account when there is none (signin.LearnerToken).
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

	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/stack/signin"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "token" {
		token(os.Args[2:])
		return
	}
	ports := stack.DefaultPorts()
	opts := stack.Options{Logs: os.Stdout}
	pluginsFile := flag.String("plugins", os.Getenv("STACK_PLUGINS"), "YAML file declaring more plugins for the tutor (env STACK_PLUGINS)")
	flag.StringVar(&opts.Root, "root", ".", "repository checkout holding ory-config/")
	flag.StringVar(&opts.DataDir, "data", ".data", "state kept between starts (cluster, secrets, mail)")
	flag.StringVar(&opts.BinDir, "bin", "bin", "directory of the kratos, hydra, mailpit, identity, consent and tutor binaries")
	portFlags(flag.CommandLine, &ports)
	flag.Parse()
	opts.Ports = ports
	if *pluginsFile != "" {
		extra, err := stack.LoadPlugins(*pluginsFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stack: -plugins: %v\n", err)
			os.Exit(2)
		}
		opts.TutorPlugins = stack.WithPlugins(extra)
		for _, s := range extra {
			fmt.Printf("stack: the tutor also runs plugin %s (%s, %s) from %s\n", s.Name, s.Kind, map[bool]string{true: "required", false: "optional"}[s.Required], s.Path)
		}
	}
	serve(opts)
}

// portFlags defines a flag per port, defaulting to STACK_<NAME>_PORT.
func portFlags(fs *flag.FlagSet, ports *stack.Ports) {
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
		fs.IntVar(p.port, p.name+"-port", *p.port, "port of "+p.name+" (env "+env+")")
	}
}

// token prints a learner's access token for the tutor's API.
func token(args []string) {
	fs := flag.NewFlagSet("stack token", flag.ExitOnError)
	ports := stack.DefaultPorts()
	password := fs.String("password", os.Getenv("STACK_PASSWORD"), "the learner's password (env STACK_PASSWORD); a new account gets a generated one when empty")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: stack token [-password P] [-<component>-port N ...] EMAIL\nprints an access token for the tutor's API (aud tutor-api) of the learner EMAIL on the running local stack, creating the account if needed")
		fs.PrintDefaults()
	}
	portFlags(fs, &ports)
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := signin.LearnerToken(ctx, signin.TokenRequest{Ports: ports, Email: fs.Arg(0), Password: *password})
	if err != nil {
		fmt.Fprintf(os.Stderr, "stack token: %v\n", err)
		os.Exit(1)
	}
	if res.Created {
		fmt.Fprintf(os.Stderr, "stack token: created the account %s with password %s (verified)\n", fs.Arg(0), res.Password)
	}
	fmt.Println(res.AccessToken)
}

func serve(opts stack.Options) {
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
