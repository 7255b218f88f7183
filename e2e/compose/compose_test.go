// Package compose checks docker-compose.yml, the production-shaped way to
// run the platform in containers, without a Docker engine: compose-go loads
// the file as `docker compose` would, and checkProject holds it to what the
// stack needs to start in order and run safely. The committed
// deploy/compose/.env.example stands in for the operator's .env.
package compose

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	consentconfig "github.com/learnplatform/platform/consent/config"
	identityconfig "github.com/learnplatform/platform/identity/config"
	"github.com/learnplatform/platform/kit/config"
	tutorconfig "github.com/learnplatform/platform/tutor/config"
)

const (
	healthy   = types.ServiceConditionHealthy
	completed = types.ServiceConditionCompletedSuccessfully

	dockerfile = "deploy/docker/Dockerfile"
)

// service is what the stack needs of one compose service.
type service struct {
	// job marks a one-shot container (a migration). Everything else runs
	// until stopped and must say when it is healthy, or nothing could wait
	// for it.
	job bool
	// target is the stage of deploy/docker/Dockerfile our own images build;
	// empty for third-party images.
	target string
	// config is our service's YAML, mounted from deploy/compose/.
	config string
	// waitsFor maps each dependency to the condition it must reach first.
	waitsFor map[string]string
}

var stack = map[string]service{
	"postgres": {},
	"mailpit":  {},
	"qdrant":   {},
	"kratos-migrate": {job: true, waitsFor: map[string]string{
		"postgres": healthy,
	}},
	"kratos": {waitsFor: map[string]string{
		"kratos-migrate": completed, "postgres": healthy, "mailpit": healthy,
	}},
	"hydra-migrate": {job: true, waitsFor: map[string]string{
		"postgres": healthy,
	}},
	"hydra": {waitsFor: map[string]string{
		"hydra-migrate": completed, "postgres": healthy,
	}},
	"platform-migrate": {job: true, target: "migrate", waitsFor: map[string]string{
		"postgres": healthy,
	}},
	"identity": {target: "identity", config: "identity.yml", waitsFor: map[string]string{
		"platform-migrate": completed, "postgres": healthy, "kratos": healthy,
	}},
	"consent": {target: "consent", config: "consent.yml", waitsFor: map[string]string{
		"kratos": healthy, "hydra": healthy,
	}},
	"tutor": {target: "tutor", config: "tutor.yml", waitsFor: map[string]string{
		"platform-migrate": completed, "postgres": healthy, "hydra": healthy, "qdrant": healthy,
	}},
}

func TestComposeFile(t *testing.T) {
	for _, problem := range checkProject(loadProject(t)) {
		t.Error(problem)
	}
}

// TestCheckProjectReports proves the checks can fail: each case breaks one
// rule in memory and expects checkProject to name it.
func TestCheckProjectReports(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, p *types.Project)
		want   string
	}{
		{"healthcheck removed", func(t *testing.T, p *types.Project) {
			edit(p, "kratos", func(s *types.ServiceConfig) { s.HealthCheck = nil })
		}, "kratos: no healthcheck"},
		{"healthcheck disabled", func(t *testing.T, p *types.Project) {
			edit(p, "tutor", func(s *types.ServiceConfig) { s.HealthCheck.Disable = true })
		}, "tutor: no healthcheck"},
		{"service missing", func(t *testing.T, p *types.Project) {
			delete(p.Services, "qdrant")
		}, "qdrant: missing"},
		{"image on latest", func(t *testing.T, p *types.Project) {
			edit(p, "qdrant", func(s *types.ServiceConfig) { s.Image = "qdrant/qdrant:latest" })
		}, "qdrant: image"},
		{"image without tag", func(t *testing.T, p *types.Project) {
			edit(p, "postgres", func(s *types.ServiceConfig) { s.Image = "postgres" })
		}, "postgres: image"},
		{"dependency without condition", func(t *testing.T, p *types.Project) {
			edit(p, "identity", func(s *types.ServiceConfig) {
				s.DependsOn["kratos"] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
			})
		}, "identity: depends on kratos"},
		{"literal database password", func(t *testing.T, p *types.Project) {
			edit(p, "kratos", func(s *types.ServiceConfig) {
				s.Environment["DSN"] = ptr("postgres://kratos:hunter2@postgres:5432/kratos")
			})
		}, "kratos: environment DSN"},
		{"literal secret", func(t *testing.T, p *types.Project) {
			edit(p, "hydra", func(s *types.ServiceConfig) { s.Environment["SECRETS_SYSTEM"] = ptr("hunter2hunter2hunter2") })
		}, "hydra: environment SECRETS_SYSTEM"},
		{"image running as root", func(t *testing.T, p *types.Project) {
			data, err := os.ReadFile(filepath.Join(p.WorkingDir, dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "Dockerfile")
			rooted := strings.ReplaceAll(string(data), "USER nonroot:nonroot", "USER root")
			if err := os.WriteFile(path, []byte(rooted), 0o644); err != nil {
				t.Fatal(err)
			}
			edit(p, "consent", func(s *types.ServiceConfig) { s.Build.Dockerfile = path })
		}, "consent: Dockerfile stage consent runs as root"},
		{"config mounted elsewhere", func(t *testing.T, p *types.Project) {
			edit(p, "identity", func(s *types.ServiceConfig) { s.Volumes[0].Target = "/identity.yml" })
		}, "identity: deploy/compose/identity.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := loadProject(t)
			c.mutate(t, p)
			problems := checkProject(p)
			for _, problem := range problems {
				if strings.Contains(problem, c.want) {
					return
				}
			}
			t.Errorf("checkProject reported no problem containing %q; it reported %q", c.want, problems)
		})
	}
}

// TestServiceConfigs loads deploy/compose/{identity,consent,tutor}.yml with
// the services' own config types and the environment compose gives each
// container, then checks the addresses in them work inside the network.
// The services refuse the example's placeholders (TestEnvExample), so the
// secrets are generated, as an operator's .env holds them.
func TestServiceConfigs(t *testing.T) {
	p := loadProjectWith(t, generatedSecrets(t)...)
	t.Run("identity", func(t *testing.T) {
		cfg := identityconfig.Default()
		file := loadConfig(t, p, "identity", &cfg)
		checkAddresses(t, p, "identity", cfg.Listen, cfg.Kratos.PublicURL, cfg.Kratos.AdminURL)
		// The policy file is named as the container sees it; load the host
		// file mounted there.
		cfg.PolicyFile = hostPath(t, p, "identity", cfg.PolicyFile)
		if err := cfg.LoadPolicy(file); err != nil {
			t.Error(err)
		}
		if base := kratosPublicBaseURL(t, p); cfg.PublicURL.String() != base {
			t.Errorf("identity: public_url %s differs from Kratos' serve.public.base_url %s", cfg.PublicURL.String(), base)
		}
		checkPublished(t, p, "identity", cfg.PublicURL)
		checkAddresses(t, p, "identity", cfg.Listen, cfg.TokenJWKSURL)
		checkIssuer(t, p, "identity", cfg.TokenIssuer)
	})
	t.Run("consent", func(t *testing.T) {
		cfg := consentconfig.Default()
		loadConfig(t, p, "consent", &cfg)
		checkAddresses(t, p, "consent", cfg.Listen, cfg.Kratos.PublicURL, cfg.Kratos.AdminURL, cfg.Hydra.AdminURL)
		checkPublished(t, p, "consent", cfg.PublicURL)
		checkPublished(t, p, "identity", cfg.LoginURL)
	})
	t.Run("tutor", func(t *testing.T) {
		cfg := tutorconfig.Default()
		loadConfig(t, p, "tutor", &cfg)
		checkAddresses(t, p, "tutor", cfg.Listen, cfg.Hydra.InternalURL, cfg.Web.IdentityInternalURL)
		checkIssuer(t, p, "tutor", cfg.Hydra.Issuer)
		checkPublished(t, p, "tutor", cfg.PublicURL)
		checkPublished(t, p, "identity", cfg.Web.IdentityURL)
	})
}

// checkIssuer checks a service trusts the issuer Hydra names in its tokens,
// at an address browsers reach (they sign in there).
func checkIssuer(t *testing.T, p *types.Project, service string, issuer config.URL) {
	t.Helper()
	if got := p.Services["hydra"].Environment["URLS_SELF_ISSUER"]; got == nil || *got != issuer.String() {
		t.Errorf("%s trusts issuer %s, but hydra's URLS_SELF_ISSUER is %v", service, issuer.String(), deref(got))
	}
	checkPublished(t, p, "hydra", issuer)
}

// TestEnvExample keeps real secrets out of the committed example, and
// keeps the example from running as is: the services refuse its
// placeholders at start-up (config.CheckSecret).
func TestEnvExample(t *testing.T) {
	env, err := dotenv.Read(filepath.Join(repoRoot(t), "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range env {
		if secretKey(key) && !strings.HasPrefix(value, "change-me") {
			t.Errorf(".env.example: %s should be a change-me placeholder", key)
		}
		if secretKey(key) && config.CheckSecret(key, value) == nil {
			t.Errorf(".env.example: the services would accept %s's placeholder", key)
		}
	}
}

// generatedSecrets are `openssl rand -hex 32` values for every secret of
// .env.example (KEY=VALUE, for loadProjectWith), as an operator makes them.
func generatedSecrets(t *testing.T) []string {
	t.Helper()
	env, err := dotenv.Read(filepath.Join(repoRoot(t), "deploy", "compose", ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, key := range slices.Sorted(maps.Keys(env)) {
		if secretKey(key) {
			b := make([]byte, 32)
			rand.Read(b)
			out = append(out, key+"="+hex.EncodeToString(b))
		}
	}
	return out
}

// checkProject returns every way p falls short of what the stack needs.
func checkProject(p *types.Project) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for _, name := range slices.Sorted(maps.Keys(stack)) {
		want := stack[name]
		s, ok := p.Services[name]
		if !ok {
			report("%s: missing", name)
			continue
		}
		if !want.job && !hasHealthcheck(s) {
			report("%s: no healthcheck with a test command", name)
		}
		for _, dep := range slices.Sorted(maps.Keys(want.waitsFor)) {
			if cond, got := want.waitsFor[dep], s.DependsOn[dep].Condition; got != cond {
				report("%s: should wait for %s to be %s, waits for %q", name, dep, cond, got)
			}
		}
		if want.target == "" {
			if !pinned(s.Image) {
				report("%s: image %q is not pinned to a tag other than latest", name, s.Image)
			}
			continue
		}
		problems = append(problems, checkBuild(p, name, s, want)...)
	}

	// Secrets reach each container through ${...} from .env rather than
	// env_file, which would hand every container every secret (the tutor
	// runs third-party plugins). So a secret in an environment block must be
	// a value compose took from outside the file.
	external := map[string]bool{}
	for _, v := range p.Environment {
		if v != "" {
			external[v] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if c := s.DependsOn[dep].Condition; c != healthy && c != completed {
				report("%s: depends on %s with condition %q; want %s or %s", name, dep, c, healthy, completed)
			}
		}
		for _, key := range slices.Sorted(maps.Keys(s.Environment)) {
			if v := s.Environment[key]; v != nil && !fromEnvFile(key, *v, external) {
				report("%s: environment %s holds a secret written into the compose file; take it from .env", name, key)
			}
		}
		if u := strings.Split(s.User, ":")[0]; u == "root" || u == "0" {
			report("%s: runs as root", name)
		}
	}
	return problems
}

// checkBuild checks one of our services: built from our Dockerfile, from a
// stage that runs as a non-root user, with its config file mounted where
// that stage's image looks for it.
func checkBuild(p *types.Project, name string, s types.ServiceConfig, want service) []string {
	var problems []string
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s.Build == nil {
		return []string{fmt.Sprintf("%s: should be built from %s, target %s", name, dockerfile, want.target)}
	}
	path := s.Build.Dockerfile
	if !filepath.IsAbs(path) {
		path = filepath.Join(s.Build.Context, path)
	}
	if s.Build.Context != p.WorkingDir || path != filepath.Join(p.WorkingDir, dockerfile) || s.Build.Target != want.target {
		report("%s: should be built from %s, target %s, in the repository root", name, dockerfile, want.target)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return append(problems, fmt.Sprintf("%s: %v", name, err))
	}
	stages := parseDockerfile(string(data))
	for _, st := range stages {
		if _, isStage := stages[st.from]; !isStage && !pinned(st.from) {
			report("%s: Dockerfile base image %q is not pinned", name, st.from)
		}
	}
	st, ok := stages[s.Build.Target]
	if !ok {
		return append(problems, fmt.Sprintf("%s: Dockerfile has no stage %q", name, s.Build.Target))
	}
	if u := strings.Split(st.user, ":")[0]; u == "" || u == "root" || u == "0" {
		report("%s: Dockerfile stage %s runs as root; set a non-root USER", name, s.Build.Target)
	}
	if want.config == "" {
		return problems
	}
	envName := strings.ToUpper(name) + "_CONFIG"
	source := filepath.Join(p.WorkingDir, "deploy", "compose", want.config)
	mounted := slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Source == source && v.Target == st.env[envName] && v.ReadOnly
	})
	if !mounted {
		report("%s: deploy/compose/%s should be mounted read-only at %s=%q", name, want.config, envName, st.env[envName])
	}
	return problems
}

func hasHealthcheck(s types.ServiceConfig) bool {
	h := s.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 1 && h.Test[0] != "NONE"
}

// pinned reports whether an image reference names a digest or a tag other
// than latest.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:] // a registry's :port is not a tag
	i := strings.LastIndex(name, ":")
	return i > 0 && name[i+1:] != "" && name[i+1:] != "latest"
}

// fromEnvFile reports whether an environment entry is free of secrets
// written into the compose file: a URL's password, and the whole value of
// a secret-named key, must be values compose took from outside.
func fromEnvFile(key, value string, external map[string]bool) bool {
	if u, err := url.Parse(value); err == nil && u.Scheme != "" && u.Host != "" {
		pw, set := u.User.Password()
		return !set || external[pw]
	}
	return !secretKey(key) || external[value]
}

func secretKey(key string) bool {
	key = strings.ToUpper(key)
	for _, word := range []string{"PASSWORD", "SECRET", "API_KEY", "TOKEN", "DSN", "DATABASE_URL"} {
		if strings.Contains(key, word) {
			return true
		}
	}
	return false
}

// stage is one FROM of a Dockerfile: its base and what it sets.
type stage struct {
	from string
	user string
	env  map[string]string
}

// parseDockerfile reads the stages of a Dockerfile by name. It knows FROM,
// USER and ENV key=value, enough for our own Dockerfile; a stage without a
// USER inherits its base stage's.
func parseDockerfile(text string) map[string]*stage {
	stages := map[string]*stage{}
	var cur *stage
	for _, f := range instructions(text) {
		switch strings.ToUpper(f[0]) {
		case "FROM":
			args := slices.DeleteFunc(f[1:], func(a string) bool { return strings.HasPrefix(a, "--") })
			if len(args) == 0 {
				continue
			}
			cur = &stage{from: args[0], env: map[string]string{}}
			if base, ok := stages[cur.from]; ok {
				cur.user = base.user
				maps.Copy(cur.env, base.env)
			}
			name := fmt.Sprint(len(stages))
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				name = args[2]
			}
			stages[name] = cur
		case "USER":
			if cur != nil && len(f) > 1 {
				cur.user = f[1]
			}
		case "ENV":
			for _, kv := range f[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok && cur != nil {
					cur.env[k] = v
				}
			}
		}
	}
	return stages
}

// instructions splits a Dockerfile into the words of each instruction,
// joining continued lines and dropping comments.
func instructions(text string) [][]string {
	var out [][]string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, strings.Fields(cur.String()))
		cur.Reset()
	}
	return out
}

// loadConfig loads deploy/compose/<name>.yml into dst as the service does,
// with the environment compose gives its container, and returns its path.
func loadConfig(t *testing.T, p *types.Project, name string, dst any) string {
	t.Helper()
	file := filepath.Join(p.WorkingDir, "deploy", "compose", name+".yml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	env := p.Services[name].Environment
	lookup := func(key string) (string, bool) {
		v, ok := env[key]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
	if err := config.LoadBytes(file, data, dst, lookup); err != nil {
		t.Fatal(err)
	}
	return file
}

// hostPath returns the host file a service's bind mounts show at a path in
// its container; a relative path is taken from the config file's directory,
// as the services do.
func hostPath(t *testing.T, p *types.Project, name, containerPath string) string {
	t.Helper()
	volumes := p.Services[name].Volumes
	if !path.IsAbs(containerPath) {
		cfgFile := filepath.Join(p.WorkingDir, "deploy", "compose", stack[name].config)
		for _, v := range volumes {
			if v.Source == cfgFile {
				containerPath = path.Join(path.Dir(v.Target), containerPath)
			}
		}
	}
	for _, v := range volumes {
		if v.Type == types.VolumeTypeBind && v.Target == containerPath {
			return v.Source
		}
	}
	t.Fatalf("%s: nothing is mounted at %s", name, containerPath)
	return ""
}

// kratosPublicBaseURL is the serve.public.base_url Kratos runs with in
// docker-compose.yml: its environment's, else the last of the files its
// command layers (-c) that sets it.
func kratosPublicBaseURL(t *testing.T, p *types.Project) string {
	t.Helper()
	svc := p.Services["kratos"]
	if v := svc.Environment["SERVE_PUBLIC_BASE_URL"]; v != nil {
		return *v
	}
	base := ""
	for i, a := range svc.Command {
		if i == 0 || svc.Command[i-1] != "-c" {
			continue
		}
		var cfg struct {
			Serve struct {
				Public struct {
					BaseURL string `yaml:"base_url"`
				} `yaml:"public"`
			} `yaml:"serve"`
		}
		if err := yaml.Unmarshal([]byte(composeFile(t, p, svc, a)), &cfg); err != nil {
			t.Fatalf("kratos: %s: %v", a, err)
		}
		if cfg.Serve.Public.BaseURL != "" {
			base = cfg.Serve.Public.BaseURL
		}
	}
	return base
}

// checkPublished checks that browser-facing URLs reach a service's
// published port on this machine.
func checkPublished(t *testing.T, p *types.Project, service string, urls ...config.URL) {
	t.Helper()
	for _, u := range urls {
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
			t.Errorf("%s: browsers cannot reach %s on this machine", service, u.String())
			continue
		}
		published := false
		for _, port := range p.Services[service].Ports {
			published = published || port.Published == u.Port()
		}
		if !published {
			t.Errorf("%s publishes no port %s for %s", service, u.Port(), u.String())
		}
	}
}

// checkAddresses checks that a service listens where other containers and
// its health check reach it, and calls others by their compose names.
func checkAddresses(t *testing.T, p *types.Project, name, listen string, urls ...config.URL) {
	t.Helper()
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("%s: listen %q: %v", name, listen, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: listens on %s, which other containers cannot reach", name, listen)
	}
	if hc := p.Services[name].HealthCheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), ":"+port+"/readyz") {
		t.Errorf("%s: the healthcheck should probe /readyz on port %s", name, port)
	}
	for _, u := range urls {
		if _, ok := p.Services[u.Hostname()]; !ok {
			t.Errorf("%s: %s names no compose service", name, u.String())
		}
	}
}

// loadProject loads docker-compose.yml as `docker compose` does, with the
// committed .env.example in place of the operator's .env.
func loadProject(t *testing.T) *types.Project { t.Helper(); return loadProjectWith(t) }

// loadProjectWith loads it with some variables set in the shell, which win
// over .env as they do for `docker compose`.
func loadProjectWith(t *testing.T, env ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
		cli.WithEnvFiles(filepath.Join(root, "deploy", "compose", ".env.example")),
		cli.WithDotEnv,
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// edit changes a service in place; Services holds values, not pointers.
func edit(p *types.Project, name string, change func(*types.ServiceConfig)) {
	s := p.Services[name]
	change(&s)
	p.Services[name] = s
}

func ptr(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "(unset)"
	}
	return *s
}
