package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/buildtest"
)

const evilPkg = "github.com/learnplatform/platform/plugins/internal/testplugins/evil"

// syncBuffer collects logs from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// evilSum is the checksum of the evil binary, hashed once.
var evilSum struct {
	once sync.Once
	sum  string
	err  error
}

// evil declares the misbehaving test plugin in a mode. Its timeout is
// long enough for a busy machine; tests of timeouts set a short one
// (slow modes sleep a minute).
func evil(t testing.TB, name, kind, mode string) Spec {
	t.Helper()
	path := buildtest.Build(t, evilPkg)
	evilSum.once.Do(func() { evilSum.sum, evilSum.err = FileSHA256(path) })
	sum, err := evilSum.sum, evilSum.err
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Kind: kind, Path: path, SHA256: sum, Required: true, Timeout: 10 * time.Second,
		Env: map[string]string{"EVIL_MODE": mode, "EVIL_KIND": kind}}
}

type fixture struct {
	opts Options
	logs *syncBuffer
	reg  *prometheus.Registry
}

func newFixture() *fixture {
	logs := &syncBuffer{}
	reg := prometheus.NewRegistry()
	return &fixture{logs: logs, reg: reg, opts: Options{
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer:     reg,
		HealthInterval: 200 * time.Millisecond,
		StartTimeout:   10 * time.Second,
	}}
}

func (f *fixture) start(t testing.TB, specs ...Spec) *Host {
	t.Helper()
	h, err := Start(context.Background(), specs, f.opts)
	if err != nil {
		t.Fatalf("start: %v\nlogs:\n%s", err, f.logs)
	}
	t.Cleanup(h.Close)
	return h
}

// lessons is a three-stage course whose every section talks about loops.
func lessons(course string) []plugins.Lesson {
	var out []plugins.Lesson
	for stage := 1; stage <= 3; stage++ {
		l := plugins.Lesson{Course: course, Lesson: fmt.Sprintf("lesson-%d", stage), Stage: stage, Title: fmt.Sprintf("Lesson %d", stage), ContentHash: fmt.Sprint("h", stage)}
		for s := 1; s <= 2; s++ {
			l.Chunks = append(l.Chunks, plugins.Chunk{ID: fmt.Sprintf("%s/%s#s%d", course, l.Lesson, s), Course: course, Lesson: l.Lesson, Stage: stage,
				Title: l.Title, Section: fmt.Sprintf("Section %d", s), Anchor: fmt.Sprintf("s%d", s), Text: fmt.Sprintf("Loops in stage %d, part %d: for loops repeat.", stage, s)})
		}
		out = append(out, l)
	}
	return out
}

func ingest(t testing.TB, h *Host, course string) {
	t.Helper()
	for _, r := range h.Ingest(context.Background(), course, lessons(course)) {
		if r.Err != nil {
			t.Fatalf("ingest through %s: %v", r.Name, r.Err)
		}
	}
}

func TestSearchThroughPluginProcess(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h := f.start(t, evil(t, "mem", plugins.KindRetriever, "ok"))
	res := h.Ingest(context.Background(), "go", lessons("go"))
	if len(res) != 1 || res[0].Err != nil || res[0].Report.Added != 3 {
		t.Fatalf("ingest: %+v", res)
	}
	res = h.Ingest(context.Background(), "go", lessons("go"))
	if res[0].Report.Unchanged != 3 || res[0].Report.Added != 0 {
		t.Fatalf("second ingest must change nothing: %+v", res[0].Report)
	}
	for stage := 1; stage <= 3; stage++ {
		got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: stage, TopK: 10})
		if len(got.Failed) > 0 || len(got.Chunks) != 2*stage {
			t.Fatalf("stage %d: %d chunks, failed %v", stage, len(got.Chunks), got.Failed)
		}
		for _, c := range got.Chunks {
			if c.Stage > stage || c.Course != "go" {
				t.Errorf("stage %d got %+v", stage, c)
			}
		}
	}
	if got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 3, TopK: 2}); len(got.Chunks) != 2 {
		t.Errorf("top_k 2: %d chunks", len(got.Chunks))
	}
	if n := testutil.ToFloat64(f.opts.metricsCalls(h, "mem", "Search", "ok")); n != 4 {
		t.Errorf("calls ok = %v, want 4", n)
	}
	// The plugin's own log line arrives tagged with its name, at its level.
	if !strings.Contains(f.logs.String(), `"plugin":"mem"`) || !strings.Contains(f.logs.String(), `"msg":"configured"`) {
		t.Errorf("plugin log not tagged:\n%s", f.logs)
	}
}

// metricsCalls reads the calls counter.
func (Options) metricsCalls(h *Host, plugin, method, outcome string) prometheus.Collector {
	return h.metrics.Calls.WithLabelValues(plugin, method, outcome)
}

func TestMaliciousRetrieverCannotLeakLockedStages(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h := f.start(t, evil(t, "evil", plugins.KindRetriever, "locked"))
	ingest(t, h, "go")
	got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 10})
	if len(got.Chunks) != 2 {
		t.Fatalf("want the two stage-1 chunks, got %+v", got.Chunks)
	}
	for _, c := range got.Chunks {
		if c.Stage != 1 || c.Course != "go" || strings.Contains(c.Text, "LOCKED") {
			t.Errorf("leaked: %+v", c)
		}
	}
	if n := testutil.ToFloat64(h.metrics.Dropped.WithLabelValues("evil", "locked")); n != 2 {
		t.Errorf("dropped locked = %v, want 2", n)
	}
	if !strings.Contains(f.logs.String(), `"locked":2`) || strings.Count(f.logs.String(), "dropped search results") != 1 {
		t.Errorf("drop not logged:\n%s", f.logs)
	}
}

func TestMisbehavingAnswersAreCutOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode    string
		chunks  int    // how many chunks survive
		failed  bool   // the call counts as failed
		dropped string // a drop reason counted
	}{
		{mode: "garbage", chunks: 4, dropped: "malformed"},
		{mode: "toomany", chunks: 4, dropped: "excess"},
		{mode: "oversized", failed: true, dropped: "oversized"},
		{mode: "slow", failed: true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			f := newFixture()
			s := evil(t, "bad", plugins.KindRetriever, tc.mode)
			if tc.mode == "slow" {
				s.Timeout = 500 * time.Millisecond
			}
			h := f.start(t, s)
			ingest(t, h, "go")
			start := time.Now()
			got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 3, TopK: 4})
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s; the 500ms timeout must cut it off (the slow plugin sleeps a minute)", took)
			}
			if tc.failed != (got.Failed["bad"] != nil) {
				t.Fatalf("failed = %v", got.Failed)
			}
			if len(got.Chunks) > tc.chunks || (!tc.failed && len(got.Chunks) != tc.chunks) {
				t.Errorf("%d chunks survived: %+v", len(got.Chunks), got.Chunks)
			}
			for _, c := range got.Chunks {
				if err := c.Validate(); err != nil {
					t.Errorf("invalid chunk passed: %v", err)
				}
			}
			if tc.dropped != "" && testutil.ToFloat64(h.metrics.Dropped.WithLabelValues("bad", tc.dropped)) == 0 {
				t.Errorf("no %s drop counted", tc.dropped)
			}
			if tc.mode == "slow" {
				if !errors.Is(got.Failed["bad"], context.DeadlineExceeded) {
					t.Errorf("slow: %v", got.Failed["bad"])
				}
				if testutil.ToFloat64(h.metrics.Calls.WithLabelValues("bad", "Search", "timeout")) != 1 || !strings.Contains(f.logs.String(), "too slow") {
					t.Errorf("timeout not counted or logged:\n%s", f.logs)
				}
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	good := evil(t, "x", plugins.KindRetriever, "ok")
	dir := t.TempDir()
	noExec := filepath.Join(dir, "noexec")
	copyFile(t, good.Path, noExec, 0o644)
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"missing", func(s *Spec) { s.Path = filepath.Join(dir, "nope") }, "not found"},
		{"not executable", func(s *Spec) { s.Path = noExec }, "not executable"},
		{"wrong checksum", func(s *Spec) { s.SHA256 = strings.Repeat("ab", 32) }, "refusing to run it"},
		{"wrong protocol version", func(s *Spec) { s.Env["EVIL_MODE"] = "handshake-version" }, "speaks plugin protocol version 99, this tutor speaks 1"},
		{"not a plugin", func(s *Spec) { s.Env["EVIL_MODE"] = "stdout-garbage" }, `its first line on stdout was "hello, I am not a plugin"`},
		{"exits at once", func(s *Spec) { s.Env["EVIL_MODE"] = "exit" }, "exited with exit status 1 before the handshake; its stderr: boom: cannot open data file"},
		{"config refused", func(s *Spec) { s.Env["EVIL_MODE"] = "bad-config" }, "configuration refused: dsn: missing"},
		{"unhealthy", func(s *Spec) { s.Env["EVIL_MODE"] = "unhealthy" }, "database unreachable"},
		{"wrong kind", func(s *Spec) { s.Env["EVIL_KIND"] = "guardrail" }, "does not serve the retriever contract"},
	} {
		t.Run(tc.name+"/required", func(t *testing.T) {
			t.Parallel()
			s := evil(t, "x", plugins.KindRetriever, "ok")
			tc.edit(&s)
			f := newFixture()
			_, err := Start(context.Background(), []Spec{s}, f.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x:") {
				t.Fatalf("err = %v, want it to name the plugin and say %q", err, tc.want)
			}
		})
		t.Run(tc.name+"/optional", func(t *testing.T) {
			t.Parallel()
			s := evil(t, "x", plugins.KindRetriever, "ok")
			tc.edit(&s)
			s.Required = false
			f := newFixture()
			h := f.start(t, s)
			st := h.Plugin("x").Status()
			if st.State == StateUp || !strings.Contains(st.LastError, tc.want) {
				t.Errorf("status %+v", st)
			}
			if !strings.Contains(f.logs.String(), "optional plugin did not start") {
				t.Errorf("no warning:\n%s", f.logs)
			}
			got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
			if !errors.Is(got.Failed["x"], ErrUnavailable) {
				t.Errorf("search on a degraded host: %+v", got)
			}
		})
	}
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidDeclarations(t *testing.T) {
	t.Parallel()
	ok := Spec{Name: "a", Kind: "retriever", Path: "/bin/true", SHA256: strings.Repeat("0", 64)}
	for _, tc := range []struct {
		edit func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Name = "Bad Name" }, "name:"},
		{func(s *Spec) { s.Kind = "reranker" }, "kind:"},
		{func(s *Spec) { s.Path = "" }, "path: missing"},
		{func(s *Spec) { s.SHA256 = "" }, "sha256: missing"},
		{func(s *Spec) { s.SHA256 = "xyz" }, "not a hex SHA-256"},
		{func(s *Spec) { s.Timeout = -1 }, "timeout"},
		{func(s *Spec) { s.FailOpen = true }, "fail_open"},
		{func(s *Spec) { s.Config = map[string]any{"f": func() {}} }, "config:"},
	} {
		s := ok
		tc.edit(&s)
		_, err := Start(context.Background(), []Spec{s}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", s, err, tc.want)
		}
	}
	_, err := Start(context.Background(), []Spec{ok, ok}, Options{})
	if err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Errorf("duplicate: %v", err)
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid spec: %v", err)
	}
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not within %s: %s", d, what)
	return 0
}

func TestKilledPluginIsRestarted(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h := f.start(t, evil(t, "mem", plugins.KindRetriever, "ok"))
	ingest(t, h, "go")
	p := h.Plugin("mem")
	pid := p.PID()
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The next search fails fast: the learner gets the notice.
	got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if got.Failed["mem"] == nil {
		t.Fatalf("search right after kill -9 answered: %+v", got)
	}
	took := waitFor(t, 10*time.Second, "plugin back", func() bool { return p.PID() != 0 && p.PID() != pid })
	t.Logf("plugin back after %s (pid %d → %d)", took, pid, p.PID())
	// A restarted in-memory retriever lost its data: ingest again, then search.
	ingest(t, h, "go")
	got = h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if len(got.Failed) > 0 || len(got.Chunks) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	if st := p.Status(); st.Restarts != 1 || testutil.ToFloat64(h.metrics.Restarts.WithLabelValues("mem")) != 1 {
		t.Errorf("restarts: %+v", st)
	}
}

func TestCrashDuringCallIsRestarted(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h := f.start(t, evil(t, "crashy", plugins.KindRetriever, "crash"))
	p := h.Plugin("crashy")
	pid := p.PID()
	got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if got.Failed["crashy"] == nil {
		t.Fatal("a crash mid-call must fail the call")
	}
	waitFor(t, 10*time.Second, "plugin back", func() bool { return p.PID() != 0 && p.PID() != pid })
}

func TestHungPluginIsRestarted(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.opts.HealthInterval = 100 * time.Millisecond
	s := evil(t, "hung", plugins.KindRetriever, "hang-health")
	hang := filepath.Join(t.TempDir(), "hang")
	s.Env["EVIL_HANG_FILE"] = hang
	s.Timeout = 200 * time.Millisecond
	h := f.start(t, s)
	p := h.Plugin("hung")
	pid := p.PID()
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "hung plugin killed", func() bool { return p.PID() != pid })
	if err := os.Remove(hang); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "plugin back", func() bool { return p.PID() != 0 && p.PID() != pid })
	if !strings.Contains(f.logs.String(), "failed 3 health checks") {
		t.Errorf("not logged:\n%s", f.logs)
	}
}

func TestSwappedBinaryNeverRuns(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.opts.MinBackoff = 10 * time.Millisecond
	s := evil(t, "mem", plugins.KindRetriever, "ok")
	path := filepath.Join(t.TempDir(), "retriever")
	copyFile(t, s.Path, path, 0o755)
	s.Path = path
	h := f.start(t, s)
	p := h.Plugin("mem")
	// Someone replaces the binary, then the plugin crashes.
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho pwned > "+path+".ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, script, path, 0o755)
	if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Two restarts refused (the backoff doubles per failed start: 2×, 4×,
	// then 8× MinBackoff), and the script never ran.
	waitFor(t, 10*time.Second, "two restarts refused", func() bool {
		st := p.Status()
		return strings.Contains(st.LastError, "refusing to run it") && st.Backoff >= 8*f.opts.MinBackoff
	})
	if _, err := os.Stat(path + ".ran"); err == nil {
		t.Fatal("the swapped binary ran")
	}
	if p.PID() != 0 {
		t.Error("plugin up with a swapped binary")
	}
}

func TestOptionalPluginComesUpWhenFixed(t *testing.T) {
	t.Parallel()
	f := newFixture()
	s := evil(t, "late", plugins.KindRetriever, "ok")
	good := s.Path
	s.Path = filepath.Join(t.TempDir(), "late")
	s.Required = false
	h := f.start(t, s)
	if h.Plugin("late").PID() != 0 {
		t.Fatal("up without a binary")
	}
	copyFile(t, good, s.Path, 0o755)
	waitFor(t, 10*time.Second, "optional plugin up", func() bool { return h.Plugin("late").PID() != 0 })
}

func TestHostEnvironmentIsNotPassedOn(t *testing.T) {
	t.Setenv("TUTOR_DATABASE_URL", "postgres://secret")
	f := newFixture()
	s := evil(t, "mem", plugins.KindRetriever, "ok")
	h := f.start(t, s)
	p := h.Plugin("mem")
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.PID()))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if bytes.Contains(env, []byte("secret")) || !bytes.Contains(env, []byte("EVIL_MODE=ok")) {
		t.Errorf("plugin environment: %q", env)
	}
}

func TestCheckAndStatus(t *testing.T) {
	t.Parallel()
	f := newFixture()
	bad := evil(t, "gone", plugins.KindRetriever, "ok")
	bad.Path, bad.Required = "/nonexistent/plugin", false
	h := f.start(t, evil(t, "mem", plugins.KindRetriever, "ok"), evil(t, "guard", plugins.KindGuardrail, "ok"), bad)
	st := h.Check(context.Background())
	if len(st) != 3 {
		t.Fatal(st)
	}
	for _, s := range st[:2] {
		if s.State != StateUp || s.Health != "ok" || s.PID == 0 {
			t.Errorf("%+v", s)
		}
	}
	if st[2].State == StateUp || !errors.Is(h.Plugin("gone").Health(context.Background()), ErrUnavailable) || !strings.Contains(st[2].Health, "not found") {
		t.Errorf("%+v", st[2])
	}
	if Healthy(st) || !Healthy(st[:2]) {
		t.Error("Healthy")
	}
	var out bytes.Buffer
	if err := WriteStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// One line per plugin, then why each one that is not up is not, once.
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "mem") || !strings.Contains(lines[1], " up ") ||
		!strings.Contains(lines[3], "gone") || !strings.Contains(lines[3], "optional") || strings.Contains(lines[3], "not found") ||
		!strings.Contains(lines[0], "HEALTH") || lines[5] != "gone: binary /nonexistent/plugin not found" || strings.Count(out.String(), "not found") != 1 {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	_ = WriteStatus(&out, []Status{h.Plugin("mem").Status()})
	if strings.Contains(out.String(), "HEALTH") {
		t.Errorf("list without check shows health:\n%s", out.String())
	}
}

func TestFuse(t *testing.T) {
	t.Parallel()
	c := func(id string) plugins.Chunk { return plugins.Chunk{ID: id} }
	got := Fuse(3, []plugins.Chunk{c("a"), c("b"), c("c")}, []plugins.Chunk{c("c"), c("d")})
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, ",") != "c,a,b" {
		t.Errorf("fused %v", ids)
	}
	if got[0].Score <= got[1].Score {
		t.Errorf("scores %v", got)
	}
}

func TestHostCloseEndsProcesses(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h, err := Start(context.Background(), []Spec{evil(t, "mem", plugins.KindRetriever, "ok")}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	pid := h.Plugin("mem").PID()
	h.Close()
	waitFor(t, 5*time.Second, "process gone", func() bool { return syscall.Kill(pid, 0) != nil })
	if st := h.Plugin("mem").Status(); st.State != StateStopped {
		t.Errorf("%+v", st)
	}
}
