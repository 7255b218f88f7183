package stack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d, not JSON: %s", url, res.StatusCode, body)
		}
	}
	return res.StatusCode
}

type jwks struct {
	Keys []struct {
		Kty string `json:"kty"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		N   string `json:"n"`
	} `json:"keys"`
}

// checkUp verifies the acceptance points of a running stack and returns the
// key ids of Hydra's RS256 signing keys.
func checkUp(t *testing.T, s *Stack) string {
	t.Helper()
	var disco struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if code := getJSON(t, s.URL("hydra")+".well-known/openid-configuration", &disco); code != 200 {
		t.Fatalf("discovery: %d", code)
	}
	if disco.Issuer != s.URL("hydra") || disco.JWKSURI == "" {
		t.Fatalf("discovery: %+v", disco)
	}
	var keys jwks
	getJSON(t, disco.JWKSURI, &keys)
	var kids []string
	for _, k := range keys.Keys {
		if k.Kty == "RSA" && k.Alg == "RS256" && k.N != "" {
			kids = append(kids, k.Kid)
		}
	}
	sort.Strings(kids)
	if len(kids) == 0 {
		t.Fatalf("no RS256 RSA key in %s: %+v", disco.JWKSURI, keys)
	}
	var health map[string]string
	if code := getJSON(t, s.URL("kratos")+"health/ready", &health); code != 200 || health["status"] != "ok" {
		t.Fatalf("kratos health: %d %v", code, health)
	}
	for _, svc := range []string{"identity", "consent", "tutor"} {
		var r map[string]any
		if code := getJSON(t, s.URL(svc)+"readyz", &r); code != 200 {
			t.Fatalf("%s readyz: %d %v", svc, code, r)
		}
		if code := getJSON(t, s.URL(svc)+"healthz", nil); code != 200 {
			t.Fatalf("%s healthz: %d", svc, code)
		}
		res, err := http.Get(s.URL(svc) + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), "http_requests_total") {
			t.Fatalf("%s metrics lack http_requests_total", svc)
		}
	}
	res, err := http.Get(s.URL("mailpit"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("mailpit UI: %v %v", err, res)
	}
	res.Body.Close()
	return strings.Join(kids, ",")
}

// strays lists processes whose command line mentions dir.
func strays(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("/proc", e.Name(), "cmdline")); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, dir) {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

// lifecycle is the stack TestStackLifecycle's checks share, so the package
// boots one cluster: the first check that needs it starts it, TestMain
// stops it. A check that stops it says so (stopped), and the next one to
// need it starts it again on the same data directory; each check runs
// alone or in any order.
var lifecycle struct {
	once    sync.Once
	ts      *TestStack
	err     error
	stopped bool
}

func TestMain(m *testing.M) {
	code := m.Run()
	if lifecycle.ts != nil {
		lifecycle.ts.Close(code != 0)
	}
	os.Exit(code)
}

// sharedStack is the running shared stack, started or restarted as needed.
func sharedStack(t *testing.T) *TestStack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	lifecycle.once.Do(func() { lifecycle.ts, lifecycle.err = StartForTest(context.Background()) })
	if lifecycle.err != nil {
		t.Fatal(lifecycle.err)
	}
	if lifecycle.stopped {
		restartStack(t, lifecycle.ts)
	}
	return lifecycle.ts
}

// restartStack stops the whole stack and starts it again on its data
// directory, on fresh ports.
func restartStack(t *testing.T, ts *TestStack) {
	t.Helper()
	ts.Stop()
	lifecycle.stopped = true
	ports, err := FreePorts()
	if err != nil {
		t.Fatal(err)
	}
	ts.Stack, err = Start(context.Background(), Options{
		Root: ts.Root, DataDir: filepath.Join(ts.Dir, "data"), BinDir: ts.BinDir,
		Ports: ports, Logs: ts.logFile, FastPostgres: true, ReadyTimeout: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	lifecycle.stopped = false
}

func TestStackLifecycle(t *testing.T) {
	t.Run("every component is up", func(t *testing.T) {
		checkUp(t, sharedStack(t).Stack)
	})

	t.Run("second start reuses the data directory", func(t *testing.T) {
		ts := sharedStack(t)
		kid, secrets := checkUp(t, ts.Stack), ts.Secrets()
		restartStack(t, ts)
		if ts.Secrets() != secrets {
			t.Fatal("secrets were generated anew on the second start")
		}
		if again := checkUp(t, ts.Stack); again != kid {
			t.Fatalf("Hydra's signing key changed across restarts: %s then %s", kid, again)
		}
	})

	t.Run("hydra stopped: consent not ready, naming hydra", func(t *testing.T) {
		ts := sharedStack(t)
		if err := ts.StopComponent("hydra"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := ts.Restart(context.Background(), "hydra"); err != nil {
				t.Errorf("bringing hydra back: %v", err)
				lifecycle.stopped = true
			}
		})
		for _, svc := range []string{"consent"} {
			var r struct {
				Status  string            `json:"status"`
				Failing []string          `json:"failing"`
				Checks  map[string]string `json:"checks"`
			}
			if code := getJSON(t, ts.URL(svc)+"readyz", &r); code != http.StatusServiceUnavailable {
				t.Fatalf("%s readyz with Hydra down: %d", svc, code)
			}
			if len(r.Failing) != 1 || r.Failing[0] != "hydra" || !strings.Contains(r.Status, "hydra") {
				t.Fatalf("%s readyz should name hydra: %+v", svc, r)
			}
		}
		var r map[string]any
		if code := getJSON(t, ts.URL("identity")+"readyz", &r); code != 200 {
			t.Fatalf("identity does not depend on Hydra, yet readyz says %d %v", code, r)
		}
		// The tutor fetched Hydra's keys when it became ready and validates
		// tokens from that cache, so it stays in service.
		if code := getJSON(t, ts.URL("tutor")+"readyz", &r); code != 200 {
			t.Fatalf("tutor with cached keys: %d %v", code, r)
		}
		select {
		case d := <-ts.Died():
			t.Fatalf("a deliberate stop was reported as a death: %v", d)
		default:
		}
	})

	t.Run("a dying component is reported and everything stops", func(t *testing.T) {
		ts := sharedStack(t)
		pid := ts.PID("tutor")
		if pid == 0 {
			t.Fatal("tutor not running")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		lifecycle.stopped = true
		select {
		case d := <-ts.Died():
			if d.Name != "tutor" || !strings.Contains(d.Reason, "killed") {
				t.Fatalf("death report: %+v", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the launcher did not notice tutor's death")
		}
		ts.Stop()
		if left := strays(ts.Dir); len(left) > 0 {
			t.Fatalf("processes left behind:\n%s", strings.Join(left, "\n"))
		}
	})
}

func TestServicesRejectBadConfig(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// The services as every test stack gets them (built once per change).
	bin := filepath.Join(root, ".data", "test", "bin")
	if err := buildShared(context.Background(), root, bin); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kratos := "kratos:\n  public_url: http://127.0.0.1:1/\n  admin_url: http://127.0.0.1:2/\n"
	tutorBase := "hydra:\n  issuer: http://127.0.0.1:9/\ndatabase:\n  url: postgres://x@y/z\n"
	plugin := func(name, kind string) string {
		return "  - name: " + name + "\n    kind: " + kind + "\n    path: /opt/" + name + "\n    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
	}
	identityExtras := "hook_secret: 0123456789abcdef\ntoken_issuer: http://127.0.0.1:7/\nhydra:\n  admin_url: http://127.0.0.1:9/\nmail:\n  url: smtp://127.0.0.1:8/\n"
	write("badclients.yml", "clients:\n  - id: app\n    public: true\n    grant_types: [password]\n")
	cases := []struct {
		service, file, want string
	}{
		{"identity", write("unknown.yml", "listen: :0\n"+kratos+"databse:\n  url: postgres://x@y/z\n"), "key databse: unknown key"},
		{"consent", write("wrongtype.yml", kratos+"hydra:\n  admin_url: [1, 2]\n"), "key hydra.admin_url: expected a single value, got a list"},
		{"consent", write("consent.yml", kratos+"public_url: http://127.0.0.1:4/\nlogin_url: http://127.0.0.1:5/login\ntoken_hook_secret: 0123456789abcdef\nhydra:\n  admin_url: http://127.0.0.1:6/\nclients_file: badclients.yml\n"),
			"badclients.yml: key clients[0].grant_types: unknown grant type"},
		{"tutor", write("badurl.yml", "hydra:\n  issuer: ftp://hydra\n"), "key hydra.issuer: expected an http:// or https:// URL"},
		{"tutor", filepath.Join(dir, "missing.yml"), "file not found"},
		{"tutor", write("badplugin.yml", tutorBase+"plugins:\n  - name: r\n    kind: retriever\n    path: /opt/r\n"), "key plugins[0].sha256: missing: pin the binary's checksum"},
		{"tutor", write("plugintwice.yml", tutorBase+"plugins:\n"+plugin("r", "retriever")+plugin("r", "guardrail")), "key plugins[1].name: \"r\" is already the name of plugins[0]"},
		{"tutor", write("pluginenv.yml", tutorBase+"plugins:\n"+plugin("r", "retriever")+"    env:\n      DSN: ${TUTOR_NO_SUCH_VARIABLE}\n"),
			"key plugins[0].env.DSN: refers to ${TUTOR_NO_SUCH_VARIABLE}, which is not set"},
		{"identity", write("baddb.yml", kratos+"public_url: http://127.0.0.1:3/\npolicy_file: p.yml\n"+identityExtras+"database:\n  url: mysql://x\n"), "key database.url: expected a postgres:// URL"},
		{"identity", write("badpolicy.yml", kratos+"public_url: http://127.0.0.1:3/\npolicy_file: nope.yml\n"+identityExtras+"database:\n  url: postgres://x@y/z\n"), "key policy_file: cannot read"},
		{"identity", write("placeholder.yml", kratos+"public_url: http://127.0.0.1:3/\npolicy_file: p.yml\n"+strings.Replace(identityExtras, "0123456789abcdef", "change-me-identity-hook-secret", 1)+"database:\n  url: postgres://x@y/z\n"),
			`key hook_secret: the file's value is a placeholder (it contains "changeme")`},
		{"consent", write("weaksecret.yml", kratos+"public_url: http://127.0.0.1:4/\nlogin_url: http://127.0.0.1:5/login\ntoken_hook_secret: abababababababababab\nhydra:\n  admin_url: http://127.0.0.1:6/\n"),
			"key token_hook_secret: the file's value is too weak"},
	}
	for _, tc := range cases {
		t.Run(tc.service+"/"+filepath.Base(tc.file), func(t *testing.T) {
			cmd := exec.Command(filepath.Join(bin, tc.service), "-config", tc.file)
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("want exit 2, got %v: %s", err, out)
			}
			msg := strings.TrimRight(string(out), "\n")
			if strings.Contains(msg, "\n") || !strings.Contains(msg, "config "+filepath.Dir(tc.file)) || !strings.Contains(msg, tc.want) {
				t.Fatalf("want one line naming %s and %q, got:\n%s", tc.file, tc.want, out)
			}
		})
	}
}
