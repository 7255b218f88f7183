// Package stack is the one way to start the platform: a private PostgreSQL
// cluster, all migrations, Mailpit, Kratos, Hydra, identity, consent and
// tutor, each waited for until ready, all stopped together. `make run` uses
// it through stack/cmd/stack on the default ports; the integration tests
// (e2e/) use it on free ports, one stack per test binary.
//
// The parts it puts together are subpackages: supervise runs the children,
// postgres is the private cluster, secrets the generated credentials,
// oryconfig Kratos' and Hydra's configuration layers; signin gets a
// learner's token from a running stack.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/migrations"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/stack/oryconfig"
	"github.com/learnplatform/platform/stack/postgres"
	"github.com/learnplatform/platform/stack/secrets"
	"github.com/learnplatform/platform/stack/supervise"
)

// Ports of every component.
type Ports struct {
	Postgres     int
	MailpitHTTP  int
	MailpitSMTP  int
	KratosPublic int
	KratosAdmin  int
	HydraPublic  int
	HydraAdmin   int
	Identity     int
	Consent      int
	Tutor        int
}

// DefaultPorts are the ports of DESIGN.md.
func DefaultPorts() Ports {
	return Ports{
		Postgres: 54320, MailpitHTTP: 8025, MailpitSMTP: 1025,
		KratosPublic: 4433, KratosAdmin: 4434, HydraPublic: 4444, HydraAdmin: 4445,
		Identity: 4455, Consent: 4456, Tutor: 8080,
	}
}

func (p *Ports) list() []struct {
	name string
	port *int
} {
	return []struct {
		name string
		port *int
	}{
		{"postgres", &p.Postgres}, {"mailpit http", &p.MailpitHTTP}, {"mailpit smtp", &p.MailpitSMTP},
		{"kratos public", &p.KratosPublic}, {"kratos admin", &p.KratosAdmin},
		{"hydra public", &p.HydraPublic}, {"hydra admin", &p.HydraAdmin},
		{"identity", &p.Identity}, {"consent", &p.Consent}, {"tutor", &p.Tutor},
	}
}

// FreePorts asks the kernel for unused ports, so stacks can run side by side.
func FreePorts() (Ports, error) {
	var p Ports
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, e := range p.list() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return p, err
		}
		held = append(held, l)
		*e.port = l.Addr().(*net.TCPAddr).Port
	}
	return p, nil
}

// checkPortsFree names the first port something else already holds.
func checkPortsFree(p Ports) error {
	for _, e := range p.list() {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *e.port))
		if err != nil {
			return fmt.Errorf("port %d (%s) is already in use: stop what holds it (`ss -ltnp 'sport = :%d'` shows it) or choose another port", *e.port, e.name, *e.port)
		}
		l.Close()
	}
	return nil
}

// Options say where the stack lives and how it is reached.
type Options struct {
	// Root is the repository checkout (ory-config/ is read from it).
	Root string
	// DataDir keeps state between starts: the cluster, secrets, Mailpit's
	// store and the generated run configs.
	DataDir string
	// BinDir holds kratos, hydra, mailpit, identity, consent and tutor,
	// and the plugins the tutor runs (Plugins).
	BinDir string
	// Ports to serve on.
	Ports Ports
	// Logs receives every child's output, one prefixed line at a time.
	Logs io.Writer
	// FastPostgres turns off durability, for throw-away test clusters.
	FastPostgres bool
	// ReadyTimeout bounds the wait for each component (default 90s).
	ReadyTimeout time.Duration
	// IdentityPolicy replaces ory-config/identity.yml (tests use shorter
	// lockout durations).
	IdentityPolicy string
	// OIDCProviders are social sign-in providers for Kratos besides those
	// the environment configures (GOOGLE_CLIENT_ID, ...; see
	// oryconfig.ProviderEnv); the tests pass a local OpenID Connect
	// provider here.
	OIDCProviders []oryconfig.OIDCProvider
	// TutorPlugins, when set, changes the plugins declared in the tutor's
	// config: it gets the defaults (DefaultTutorPlugins) and returns the
	// list to declare. Tests use it to run a misbehaving plugin. A Spec
	// without SHA256 gets its binary's checksum when the config is written.
	TutorPlugins func(defaults []host.Spec) []host.Spec
	// TracingEndpoint, when set, turns on tracing in identity, consent and
	// tutor (their tracing block: this OTLP/HTTP base URL, every trace
	// sampled); e2e/tracing passes an in-process collector here.
	TracingEndpoint string
}

// Death reports a child that ended without being asked to.
type Death struct {
	Name   string
	Reason string
	Tail   string
}

func (d Death) Error() string { return d.Name + " " + d.Reason }

// Stack is a running platform.
type Stack struct {
	opts    Options
	secrets secrets.Secrets
	cluster postgres.Cluster
	logs    *supervise.Log

	mu       sync.Mutex
	procs    []*supervise.Process
	stopping bool
	died     chan Death
}

// Order is the start order; Stop goes backwards.
var Order = []string{"postgres", "mailpit", "kratos", "hydra", "identity", "consent", "tutor"}

// Start brings the whole platform up and returns when every part is ready.
// On failure everything already started is stopped again.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 90 * time.Second
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	var err error
	for _, d := range []*string{&opts.Root, &opts.DataDir, &opts.BinDir} {
		if *d, err = filepath.Abs(*d); err != nil {
			return nil, err
		}
	}
	if err := checkPortsFree(opts.Ports); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	// The cluster runs as another user when we are root; it must be able to
	// reach its directory.
	if err := os.Chmod(opts.DataDir, 0o755); err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, logs: supervise.NewLog(opts.Logs), died: make(chan Death, 1)}
	if s.secrets, err = secrets.Load(s.secretsDir()); err != nil {
		return nil, err
	}
	s.cluster = postgres.Cluster{
		Dir: filepath.Join(opts.DataDir, "postgres"), Port: opts.Ports.Postgres,
		Password: s.secrets.PostgresPassword, Fast: opts.FastPostgres,
	}
	if err := s.writeConfigs(); err != nil {
		return nil, err
	}
	if err := s.boot(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Stack) boot(ctx context.Context) error {
	if err := s.startPostgres(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if err := s.startMailpit(ctx); err != nil {
		return err
	}
	if err := parallel(s.startKratos, s.startHydra)(ctx); err != nil {
		return err
	}
	return parallel(s.startService("identity"), s.startService("consent"), s.startService("tutor"))(ctx)
}

// parallel runs steps at once and returns the first error.
func parallel(steps ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		errs := make([]error, len(steps))
		var wg sync.WaitGroup
		for i, step := range steps {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = step(ctx) }()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (s *Stack) migrate(ctx context.Context) error {
	return parallel(
		func(ctx context.Context) error {
			_, err := migrations.Apply(ctx, s.DSN("platform"))
			return err
		},
		func(ctx context.Context) error { return migrations.Kratos(ctx, s.bin("kratos"), s.oryDSN("kratos")) },
		func(ctx context.Context) error { return migrations.Hydra(ctx, s.bin("hydra"), s.oryDSN("hydra")) },
	)(ctx)
}

func (s *Stack) startPostgres(ctx context.Context) error {
	spec, err := s.cluster.Server(ctx)
	if err != nil {
		return err
	}
	if err := s.start(spec); err != nil {
		return err
	}
	if err := s.waitFor(ctx, "postgres", s.cluster.Ping); err != nil {
		return err
	}
	return s.cluster.CreateDatabases(ctx)
}

// DSN is the URL of one of the cluster's databases (postgres.Databases).
func (s *Stack) DSN(db string) string { return s.cluster.DSN(db) }

// oryDSN tunes the connection pool of Kratos and Hydra for a small machine.
func (s *Stack) oryDSN(db string) string {
	return s.DSN(db) + "&max_conns=20&max_idle_conns=4"
}

func (s *Stack) bin(name string) string { return filepath.Join(s.opts.BinDir, name) }

func (s *Stack) env(extra ...string) []string {
	return append(os.Environ(), extra...)
}

func (s *Stack) startMailpit(ctx context.Context) error {
	dir := filepath.Join(s.opts.DataDir, "mailpit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := s.opts.Ports
	if err := s.start(supervise.Spec{
		Name: "mailpit", Path: s.bin("mailpit"), Dir: dir, Env: s.env(),
		Args: []string{
			"--listen", fmt.Sprintf("127.0.0.1:%d", p.MailpitHTTP),
			"--smtp", fmt.Sprintf("127.0.0.1:%d", p.MailpitSMTP),
			"--database", filepath.Join(dir, "mailpit.db"),
			"--disable-version-check", "--smtp-auth-accept-any", "--smtp-auth-allow-insecure",
		},
	}); err != nil {
		return err
	}
	return s.waitFor(ctx, "mailpit", httpReady(local(p.MailpitHTTP)+"readyz"))
}

func (s *Stack) startKratos(ctx context.Context) error {
	args := append([]string{"serve", "--dev", "--watch-courier"}, s.oryRun().Flags("kratos")...)
	if err := s.start(supervise.Spec{
		Name: "kratos", Path: s.bin("kratos"), Args: args, Dir: s.opts.DataDir,
		Env: s.env("DSN=" + s.oryDSN("kratos")),
	}); err != nil {
		return err
	}
	return s.waitFor(ctx, "kratos", httpReady(local(s.opts.Ports.KratosAdmin)+"health/ready"))
}

func (s *Stack) startHydra(ctx context.Context) error {
	args := append([]string{"serve", "all", "--dev"}, s.oryRun().Flags("hydra")...)
	if err := s.start(supervise.Spec{
		Name: "hydra", Path: s.bin("hydra"), Args: args, Dir: s.opts.DataDir,
		Env: s.env("DSN=" + s.oryDSN("hydra")),
	}); err != nil {
		return err
	}
	return s.waitFor(ctx, "hydra", httpReady(local(s.opts.Ports.HydraAdmin)+"health/ready"))
}

func (s *Stack) startService(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		env := []string{}
		switch name {
		case "consent":
			env = append(env,
				"CONSENT_TOKEN_HOOK_SECRET="+s.secrets.TokenHook,
				"INTEGRATOR_EXAMPLE_CLIENT_SECRET="+s.secrets.IntegratorExample,
				"TUTOR_PUBLIC_URL="+local(s.opts.Ports.Tutor))
		case "identity":
			env = append(env, "IDENTITY_DATABASE_URL="+s.DSN("platform"), "IDENTITY_HOOK_SECRET="+s.secrets.KratosHook)
		default:
			env = append(env, strings.ToUpper(name)+"_DATABASE_URL="+s.DSN("platform"))
		}
		if err := s.start(supervise.Spec{
			Name: name, Path: s.bin(name), Dir: s.opts.Root,
			Args: []string{"-config", s.runFile(name + ".yml")},
			Env:  s.env(env...),
		}); err != nil {
			return err
		}
		return s.waitFor(ctx, name, httpReady(s.URL(name)+"readyz"))
	}
}

// start launches a child and watches for its unexpected end.
func (s *Stack) start(spec supervise.Spec) error {
	p, err := supervise.Start(spec, s.logs, s.exited)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return nil
}

func (s *Stack) exited(p *supervise.Process) {
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping || p.Expected() {
		return
	}
	select {
	case s.died <- Death{Name: p.Name(), Reason: p.ExitReason(), Tail: p.Tail(15)}:
	default: // the first death is the one that matters
	}
}

// Died delivers the first child that ended without being asked to. The
// launcher stops the whole stack when it does.
func (s *Stack) Died() <-chan Death { return s.died }

func (s *Stack) proc(name string) *supervise.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- { // the newest, after a restart
		if s.procs[i].Name() == name {
			return s.procs[i]
		}
	}
	return nil
}

// PID is the process id of a running component, or 0.
func (s *Stack) PID(name string) int {
	if p := s.proc(name); p != nil && p.Running() {
		return p.PID()
	}
	return 0
}

// StopComponent stops one component on purpose (tests use it to take a
// dependency away); it is not reported as a death.
func (s *Stack) StopComponent(name string) error {
	p := s.proc(name)
	if p == nil {
		return fmt.Errorf("no component %q", name)
	}
	p.Stop(10 * time.Second)
	return nil
}

// Restart stops one component (if it still runs) and starts it again the
// way Start did, waiting until it is ready. Fault tests use it to bring a
// dependency back.
func (s *Stack) Restart(ctx context.Context, name string) error {
	starts := map[string]func(context.Context) error{
		"postgres": s.startPostgres, "mailpit": s.startMailpit, "kratos": s.startKratos, "hydra": s.startHydra,
		"identity": s.startService("identity"), "consent": s.startService("consent"), "tutor": s.startService("tutor"),
	}
	start, ok := starts[name]
	if !ok {
		return fmt.Errorf("no component %q", name)
	}
	if p := s.proc(name); p != nil {
		p.Stop(10 * time.Second)
	}
	return start(ctx)
}

// Stop ends every component, newest first, and waits for them.
func (s *Stack) Stop() {
	s.mu.Lock()
	s.stopping = true
	procs := append([]*supervise.Process(nil), s.procs...)
	s.mu.Unlock()
	sort.SliceStable(procs, func(i, j int) bool { return orderOf(procs[i].Name()) > orderOf(procs[j].Name()) })
	for _, p := range procs {
		p.Stop(10 * time.Second)
	}
}

func orderOf(name string) int {
	for i, n := range Order {
		if n == name {
			return i
		}
	}
	return len(Order)
}

// URL is the base URL (with trailing slash) of a component's main port.
func (s *Stack) URL(name string) string {
	p := s.opts.Ports
	port := map[string]int{
		"mailpit": p.MailpitHTTP, "kratos": p.KratosPublic, "kratos-admin": p.KratosAdmin,
		"hydra": p.HydraPublic, "hydra-admin": p.HydraAdmin,
		"identity": p.Identity, "consent": p.Consent, "tutor": p.Tutor,
	}[name]
	if port == 0 {
		panic("stack: no URL for " + name)
	}
	return local(port)
}

// Ports the stack serves on.
func (s *Stack) Ports() Ports { return s.opts.Ports }

// Secrets of the stack (the generated dev credentials).
func (s *Stack) Secrets() secrets.Secrets { return s.secrets }

// Summary lists the URLs a person uses.
func (s *Stack) Summary() string {
	var b strings.Builder
	rows := [][2]string{
		{"Learner app (tutor)", s.URL("tutor")},
		{"Hosted login (identity)", s.URL("identity") + "login"},
		{"Consent app", s.URL("consent")},
		{"OpenID discovery (Hydra)", s.URL("hydra") + ".well-known/openid-configuration"},
		{"Hydra admin", s.URL("hydra-admin")},
		{"Kratos public", s.URL("kratos")},
		{"Kratos admin", s.URL("kratos-admin")},
		{"Mail (Mailpit)", s.URL("mailpit")},
		{"PostgreSQL", fmt.Sprintf("127.0.0.1:%d (databases %s; password in %s)", s.opts.Ports.Postgres,
			strings.Join(postgres.Databases, ", "), filepath.Join(s.secretsDir(), secrets.File))},
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-26s %s\n", r[0], r[1])
	}
	return b.String()
}

// Readiness asks each platform service's /readyz and returns one line per
// service: "ready" or what it reports failing. The launcher prints it when
// a component dies, so the operator sees the impact.
func (s *Stack) Readiness(ctx context.Context) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range []string{"identity", "consent", "tutor"} {
		if s.PID(name) == 0 {
			out[name] = "not running"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			state := "ready"
			if err := httpReady(s.URL(name) + "readyz")(ctx); err != nil {
				state = oneLine(err.Error())
			}
			mu.Lock()
			out[name] = state
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

var readyClient = &http.Client{Timeout: 2 * time.Second}

func httpReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		res, err := readyClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s %s", url, res.Status, body)
		}
		return nil
	}
}

// waitFor polls probe until it succeeds, the named process dies or the
// ready timeout passes.
func (s *Stack) waitFor(ctx context.Context, name string, probe func(context.Context) error) error {
	p := s.proc(name)
	deadline := time.Now().Add(s.opts.ReadyTimeout)
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		cancel()
		if last == nil {
			return nil
		}
		if p != nil && !p.Running() {
			return fmt.Errorf("%s %s while starting; its last output:\n%s", name, p.ExitReason(), p.Tail(15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", name, s.opts.ReadyTimeout, oneLine(last.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
