package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/kit/token"
	launcher "github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/stack/oryconfig"
	tutorconfig "github.com/learnplatform/platform/tutor/config"
)

// The compose file's Kratos reports its flows to the edge with the same
// hook lists the launcher gives the local Kratos (which the edge tests
// drive), addressed to the compose network's identity service.
func TestKratosHooksMatchLauncher(t *testing.T) {
	p := loadProject(t)
	var got any
	if err := yaml.Unmarshal([]byte(kratosHooksContent(t, p)), &got); err != nil {
		t.Fatalf("the kratos-hooks config is not YAML: %v", err)
	}
	want := oryconfig.KratosHooks("http://identity:4455/",
		"file:///etc/config/kratos/hooks/auth-event.jsonnet", p.Environment["IDENTITY_HOOK_SECRET"])
	if g, w := normalize(t, got), normalize(t, want); !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("docker-compose.yml's kratos-hooks differ from the launcher's:\ncompose: %s\nlauncher: %s", gj, wj)
	}
}

// TestComposeOryServices runs the real Kratos and Hydra binaries with the
// compose services' commands, configuration files (bind mounts, and the
// kratos-hooks config as compose writes it from .env) and environment,
// against a running stack: each gets a fresh database prepared by its
// compose migrate job's command, compose's service names become the stack's
// addresses, and nothing else changes.
func TestComposeOryServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	ts, err := launcher.StartForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ts.Close(t.Failed()) }()
	r := &composeRun{ctx: ctx, ts: ts,
		// The hooks call the stack's edge and consent app, which hold the
		// stack's secrets: .env has those in place of the example's.
		p: loadProjectWith(t, "IDENTITY_HOOK_SECRET="+ts.Secrets().KratosHook,
			"CONSENT_TOKEN_HOOK_SECRET="+ts.Secrets().TokenHook),
		rewrite: strings.NewReplacer(
			"file:///etc/config/kratos/", "file://"+filepath.Join(repoRoot(t), "ory-config", "kratos")+"/",
			"http://identity:4455/", ts.URL("identity"),
			"http://consent:4456/", ts.URL("consent"),
		)}

	// A registration through compose's Kratos is accepted with a session
	// (the session hook still runs after the web hook: a later file
	// replaces a hook list whole) and lands in the edge's auth event log.
	t.Run("kratos reports to the edge", func(t *testing.T) {
		public, _ := r.start(t, "kratos", "kratos-migrate")
		var flow struct{ ID string }
		getJSON(t, public+"self-service/registration/api", &flow)
		email := fmt.Sprintf("compose-%d@example.org", time.Now().UnixNano())
		form, _ := json.Marshal(map[string]any{
			"method": "password", "password": "Compose-hooks-9!",
			"traits": map[string]any{"email": email, "name": "Compose Hooks"},
		})
		res, err := http.Post(public+"self-service/registration?flow="+flow.ID, "application/json", bytes.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		var reg struct {
			SessionToken string `json:"session_token"`
			Identity     struct{ ID string }
		}
		err = json.NewDecoder(res.Body).Decode(&reg)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || reg.SessionToken == "" || reg.Identity.ID == "" {
			t.Fatalf("registration: %d %v %+v", res.StatusCode, err, reg)
		}
		conn, err := pgx.Connect(ctx, ts.DSN("platform"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		deadline := time.Now().Add(15 * time.Second)
		for {
			var n int
			err := conn.QueryRow(ctx, `SELECT count(*) FROM auth_event_log
				WHERE identity_id = $1 AND event_type = 'registration' AND email = $2`, reg.Identity.ID, email).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n == 1 {
				return
			}
			if n > 1 || time.Now().After(deadline) {
				t.Fatalf("the edge logged %d registration events for %s, want 1", n, email)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// Compose's Hydra starts (it refuses an http issuer outside development
	// mode), names the issuer the tutor and the edge trust, and its tokens
	// validate the way those services check them: iss as browsers see it,
	// keys fetched inside the network.
	t.Run("hydra issues tokens the services accept", func(t *testing.T) {
		public, admin := r.start(t, "hydra", "hydra-migrate")
		issuer := *r.p.Services["hydra"].Environment["URLS_SELF_ISSUER"]
		var disc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		getJSON(t, public+".well-known/openid-configuration", &disc)
		if disc.Issuer != issuer || disc.JWKSURI != issuer+".well-known/jwks.json" {
			t.Fatalf("discovery: %+v, want issuer %s", disc, issuer)
		}
		tutorCfg := tutorconfig.Default()
		loadConfig(t, r.p, "tutor", &tutorCfg)
		if tutorCfg.Hydra.Issuer.String() != issuer {
			t.Fatalf("the tutor trusts %s", tutorCfg.Hydra.Issuer.String())
		}
		v, err := token.New(token.Config{Issuer: tutorCfg.Hydra.Issuer.String(),
			JWKSURL: withHostOf(tutorCfg.Hydra.Internal(), public) + ".well-known/jwks.json"})
		if err != nil {
			t.Fatal(err)
		}
		client, _ := json.Marshal(map[string]any{"client_id": "compose-check", "client_secret": "compose-check-secret-0123456789",
			"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post"})
		res, err := http.Post(admin+"admin/clients", "application/json", bytes.NewReader(client))
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("create client: %v %v", err, res)
		}
		res.Body.Close()
		res, err = http.PostForm(public+"oauth2/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"compose-check"}, "client_secret": {"compose-check-secret-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("token: %d %v", res.StatusCode, err)
		}
		u, err := v.Validate(ctx, tok.AccessToken)
		if err != nil || u.ID != "compose-check" {
			t.Fatalf("the tutor's check refused compose Hydra's token: %v %+v", err, u)
		}
	})
}

// composeRun runs compose services' commands with the stack's binaries.
type composeRun struct {
	ctx     context.Context
	ts      *launcher.TestStack
	p       *types.Project
	rewrite *strings.Replacer
}

// start prepares a fresh database with the migrate job's command, then
// runs the service and returns its public and admin base URLs once it is
// ready.
func (r *composeRun) start(t *testing.T, name, migrate string) (public, admin string) {
	t.Helper()
	db := "compose_" + name
	conn, err := pgx.Connect(r.ctx, r.ts.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(r.ctx, "CREATE DATABASE "+db)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"DSN=" + r.ts.DSN(db)}
	if out, err := r.command(t, migrate, env).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", migrate, err, out)
	}

	// Another process may take a chosen port before the service binds it:
	// then the service exits at once and gets new ports.
	for attempt := 1; ; attempt++ {
		public, admin, err := r.run(t, name, env)
		if err == nil {
			return public, admin
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// run starts the service on free ports and waits until it is ready; it
// stops it when the test ends.
func (r *composeRun) run(t *testing.T, name string, env []string) (public, admin string, err error) {
	t.Helper()
	ports := freePorts(t, 2)
	env = append(env,
		fmt.Sprintf("COURIER_SMTP_CONNECTION_URI=smtp://127.0.0.1:%d/?disable_starttls=true", r.ts.Ports().MailpitSMTP),
		"SERVE_PUBLIC_HOST=127.0.0.1", fmt.Sprintf("SERVE_PUBLIC_PORT=%d", ports[0]),
		"SERVE_ADMIN_HOST=127.0.0.1", fmt.Sprintf("SERVE_ADMIN_PORT=%d", ports[1]),
	)
	// Read only after the process has exited: Wait finishes the copying.
	out := &bytes.Buffer{}
	cmd := r.command(t, name, env)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	if err := waitReady(fmt.Sprintf("http://127.0.0.1:%d/health/ready", ports[1]), exited); err != nil {
		stop()
		return "", "", fmt.Errorf("%v; output:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s (compose configuration) output:\n%s", name, out.String())
		}
	})
	return fmt.Sprintf("http://127.0.0.1:%d/", ports[0]), fmt.Sprintf("http://127.0.0.1:%d/", ports[1]), nil
}

// command is a compose service's command for the binary its image holds:
// each -c file as the container sees it (rewritten for this machine), the
// service's environment (rewritten), then env.
func (r *composeRun) command(t *testing.T, name string, env []string) *exec.Cmd {
	t.Helper()
	svc, ok := r.p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no %s", name)
	}
	image := path.Base(strings.Split(svc.Image, ":")[0]) // oryd/kratos:v1.3.1 -> kratos
	dir := t.TempDir()
	var args []string
	for i, a := range svc.Command {
		if i > 0 && svc.Command[i-1] == "-c" {
			data := r.rewrite.Replace(composeFile(t, r.p, svc, a))
			a = filepath.Join(dir, fmt.Sprintf("%d-%s", i, path.Base(a)))
			if err := os.WriteFile(a, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, a)
	}
	all := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range svc.Environment {
		if v != nil {
			all = append(all, k+"="+r.rewrite.Replace(*v))
		}
	}
	cmd := exec.CommandContext(r.ctx, filepath.Join(r.ts.BinDir, image), args...)
	cmd.Env = append(all, env...) // later entries win
	return cmd
}

// withHostOf moves a compose-network URL to a local base URL's host.
func withHostOf(composeURL, local string) string {
	u, err := url.Parse(composeURL)
	if err != nil {
		panic(err)
	}
	l, _ := url.Parse(local)
	u.Host = l.Host
	return u.String()
}

// kratosHooksContent is the kratos-hooks config as compose writes it.
func kratosHooksContent(t *testing.T, p *types.Project) string {
	t.Helper()
	c, ok := p.Configs["kratos-hooks"]
	if !ok || c.Content == "" {
		t.Fatal("docker-compose.yml has no kratos-hooks config with content")
	}
	return c.Content
}

// composeFile returns what a service's container sees at target: a config's
// content or a file from a read-only bind mount.
func composeFile(t *testing.T, p *types.Project, svc types.ServiceConfig, target string) string {
	t.Helper()
	for _, c := range svc.Configs {
		if c.Target == target {
			return p.Configs[c.Source].Content
		}
	}
	for _, v := range svc.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		rel, err := filepath.Rel(v.Target, target)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		if !v.ReadOnly {
			t.Errorf("%s: %s is mounted writable", svc.Name, v.Target)
		}
		data, err := os.ReadFile(filepath.Join(v.Source, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	t.Fatalf("%s: nothing is mounted at %s", svc.Name, target)
	return ""
}

// normalize turns a YAML or Go tree into plain JSON values.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// freePorts picks n distinct free ports, holding each until all are chosen.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// waitReady waits for url to answer 200; it gives up when the process
// exits first, or after 90 seconds.
func waitReady(url string, exited chan error) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for whoever stops the process
			return fmt.Errorf("exited before it was ready: %v", err)
		default:
		}
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 90s (last: %v)", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, dst any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(dst); err != nil {
		t.Fatal(err)
	}
}
