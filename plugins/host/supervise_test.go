package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/buildtest"
)

// crashLoop drives a retriever that crashes on every query with a query
// every 20ms for window and returns how many times it was restarted.
func crashLoop(t *testing.T, opts func(*Options), window time.Duration) int {
	t.Helper()
	f := newFixture()
	if opts != nil {
		opts(&f.opts)
	}
	h := f.start(t, evil(t, "crashy", plugins.KindRetriever, "crash"))
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
		time.Sleep(20 * time.Millisecond)
	}
	return h.Plugin("crashy").Status().Restarts
}

// TestCrashLoopRestartsPerMinute measures the default supervision over a
// whole minute: PLUGINS_CRASHLOOP_MINUTE=1 go test -run CrashLoopRestartsPerMinute -v ./plugins/host/
func TestCrashLoopRestartsPerMinute(t *testing.T) {
	if os.Getenv("PLUGINS_CRASHLOOP_MINUTE") == "" {
		t.Skip("set PLUGINS_CRASHLOOP_MINUTE=1 to measure for a minute")
	}
	n := crashLoop(t, nil, time.Minute)
	t.Logf("a retriever that crashes on every query (one every 20ms): %d restarts in one minute", n)
}

// A plugin that starts fine and crashes on every call is restarted ever
// more slowly: the wait doubles after every crash of a process that did
// not stay up StableAfter, up to the cap, and is a metric while it lasts.
func TestCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.opts.MinBackoff, f.opts.MaxBackoff, f.opts.StableAfter = 10*time.Millisecond, 80*time.Millisecond, time.Minute
	h := f.start(t, evil(t, "crashy", plugins.KindRetriever, "crash"))
	p := h.Plugin("crashy")
	var waits []string
	for crash := 1; crash <= 5; crash++ {
		if got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3}); got.Failed["crashy"] == nil {
			t.Fatalf("crash %d: the search did not fail", crash)
		}
		var st Status
		waitFor(t, 10*time.Second, "down and waiting for its restart", func() bool {
			st = p.Status()
			return st.State != StateUp && st.Backoff > 0 &&
				testutil.ToFloat64(h.metrics.Backoff.WithLabelValues("crashy")) == st.Backoff.Seconds()
		})
		waits = append(waits, st.Backoff.String())
		waitFor(t, 10*time.Second, "restarted", func() bool { return p.Status().Restarts == crash && p.PID() != 0 })
	}
	if got, want := strings.Join(waits, " "), "20ms 40ms 80ms 80ms 80ms"; got != want {
		t.Errorf("waits before the restarts: %s, want %s", got, want)
	}
	if n := testutil.ToFloat64(h.metrics.Restarts.WithLabelValues("crashy")); n != 5 {
		t.Errorf("restarts counted %v", n)
	}
	if n := testutil.ToFloat64(h.metrics.Backoff.WithLabelValues("crashy")); n != 0 {
		t.Errorf("backoff of a plugin that is up: %v", n)
	}
}

// /readyz (Host.Ready) is not ready while a required plugin is down, and
// names it and why; an optional plugin that is down does not count. Each
// plugin runs from a copy of its binary, removed to keep it down.
func TestReadyWhileRequiredPluginDown(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.opts.MinBackoff, f.opts.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	bin := buildtest.Build(t, evilPkg)
	own := func(s Spec) Spec {
		s.Path = filepath.Join(t.TempDir(), s.Name)
		copyFile(t, bin, s.Path, 0o755)
		return s
	}
	required := own(evil(t, "main", plugins.KindRetriever, "ok"))
	optional := own(evil(t, "extra", plugins.KindRetriever, "crash"))
	optional.Required = false
	h := f.start(t, required, optional)
	if err := h.Ready(context.Background()); err != nil {
		t.Fatalf("ready at start: %v", err)
	}
	// The optional one crashes and stays down: still ready.
	if err := os.Remove(optional.Path); err != nil {
		t.Fatal(err)
	}
	h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	waitFor(t, 10*time.Second, "optional plugin down", func() bool {
		return strings.Contains(h.Plugin("extra").Status().LastError, "not found")
	})
	if err := h.Ready(context.Background()); err != nil {
		t.Errorf("an optional plugin's crash made the host unready: %v", err)
	}
	// The required one is killed and stays down: not ready.
	if err := os.Remove(required.Path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(h.Plugin("main").PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "not ready, naming the plugin and why", func() bool {
		err := h.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "required plugin main is down") && strings.Contains(err.Error(), "not found")
	})
	if err := h.Ready(context.Background()); strings.Contains(err.Error(), "extra") {
		t.Errorf("readiness names an optional plugin: %v", err)
	}
	if !strings.Contains(f.logs.String(), "signal: killed") {
		t.Errorf("the kill is not logged:\n%s", f.logs)
	}
	// Its binary is back: so is it, and the host is ready.
	copyFile(t, bin, required.Path, 0o755)
	waitFor(t, 10*time.Second, "ready again", func() bool { return h.Ready(context.Background()) == nil })
}

// A retriever answering 5,000 tiny chunks costs one log line per search,
// with counts per reason, and repeated searches within LogInterval no more.
func TestDroppedResultsOneLinePerCall(t *testing.T) {
	t.Parallel()
	f := newFixture()
	h := f.start(t, evil(t, "flood", plugins.KindRetriever, "flood"))
	got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if len(got.Chunks) != 3 {
		t.Fatalf("%d chunks", len(got.Chunks))
	}
	logs := f.logs.String()
	if n := strings.Count(logs, `"level":"WARN"`); n != 1 || !strings.Contains(logs, `"excess":4997`) || !strings.Contains(logs, `"dropped":4997`) {
		t.Errorf("%d warnings for one search:\n%s", n, tailOf(logs, 2000))
	}
	if n := testutil.ToFloat64(h.metrics.Dropped.WithLabelValues("flood", "excess")); n != 4997 {
		t.Errorf("excess counted %v", n)
	}
	for range 20 {
		h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	}
	if n := strings.Count(f.logs.String(), `"level":"WARN"`); n != 1 {
		t.Errorf("%d warnings after 21 searches within the log interval:\n%s", n, tailOf(f.logs.String(), 2000))
	}
}

// A slow retriever costs the soft deadline once another one answered, not
// its whole timeout; its call is cancelled quietly and it is named. The
// slow plugin sleeps a minute, and its timeout is 30s unless said: only
// the soft deadline or the quorum can answer within 10s.
func TestSearchSoftDeadline(t *testing.T) {
	t.Parallel()
	q := plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3}
	slow := func(t *testing.T) Spec {
		s := evil(t, "slow", plugins.KindRetriever, "slow")
		s.Timeout = 30 * time.Second
		return s
	}
	t.Run("answers without the slow one", func(t *testing.T) {
		t.Parallel()
		f := newFixture()
		f.opts.SearchSoftDeadline = 200 * time.Millisecond
		h := f.start(t, evil(t, "fast", plugins.KindRetriever, "ok"), slow(t))
		ingest(t, h, "go")
		start := time.Now()
		got := h.Search(context.Background(), q)
		if took := time.Since(start); took > 10*time.Second || len(got.Chunks) != 2 {
			t.Fatalf("took %s for %d chunks; want the fast answer at the 200ms soft deadline", took, len(got.Chunks))
		}
		if !errors.Is(got.Failed["slow"], ErrLate) || got.Failed["fast"] != nil {
			t.Errorf("failed: %v", got.Failed)
		}
		waitFor(t, 10*time.Second, "slow call cancelled", func() bool {
			return testutil.ToFloat64(h.metrics.Calls.WithLabelValues("slow", "Search", "cancelled")) == 1
		})
		if strings.Contains(f.logs.String(), "too slow") {
			t.Error("a cancelled late call was logged as the plugin's failure")
		}
	})
	t.Run("nobody answered", func(t *testing.T) {
		// The soft deadline does not cut short; the timeout does.
		t.Parallel()
		f := newFixture()
		f.opts.SearchSoftDeadline = 100 * time.Millisecond
		s := slow(t)
		s.Timeout = 500 * time.Millisecond
		h := f.start(t, s)
		if got := h.Search(context.Background(), q); !errors.Is(got.Failed["slow"], context.DeadlineExceeded) {
			t.Errorf("alone: %v", got.Failed)
		}
	})
	t.Run("quorum", func(t *testing.T) {
		t.Parallel()
		f := newFixture()
		f.opts.SearchQuorum, f.opts.SearchSoftDeadline = 1, 30*time.Second
		h := f.start(t, evil(t, "fast", plugins.KindRetriever, "ok"), slow(t))
		ingest(t, h, "go")
		start := time.Now()
		got := h.Search(context.Background(), q)
		if took := time.Since(start); took > 10*time.Second || len(got.Chunks) != 2 || !errors.Is(got.Failed["slow"], ErrLate) {
			t.Errorf("quorum 1: %s, %d chunks, failed %v", took, len(got.Chunks), got.Failed)
		}
	})
}

// A retriever that is not fed by ingestion says so at its start: Ingest
// skips it without a call, a warning or an error counted.
func TestReadOnlyRetrieverIngestIsQuiet(t *testing.T) {
	t.Parallel()
	f := newFixture()
	s := evil(t, "ro", plugins.KindRetriever, "ok")
	s.Env["EVIL_NOINGEST"] = "1"
	h := f.start(t, s)
	for range 3 {
		res := h.Ingest(context.Background(), "go", lessons("go"))
		if len(res) != 1 || !res[0].Skipped || res[0].Err != nil {
			t.Fatalf("ingest: %+v", res)
		}
	}
	if strings.Contains(f.logs.String(), `"level":"WARN"`) || testutil.ToFloat64(h.metrics.Calls.WithLabelValues("ro", "Ingest", "error")) != 0 {
		t.Errorf("noise:\n%s", f.logs)
	}
	if n := testutil.ToFloat64(h.metrics.Calls.WithLabelValues("ro", "Ingest", "unsupported")); n != 3 {
		t.Errorf("unsupported counted %v", n)
	}
}

// StartDegraded (tutor plugins check) starts the rest when a required
// plugin fails, keeps it required, and leaves the reporting to the caller.
func TestStartDegraded(t *testing.T) {
	t.Parallel()
	f := newFixture()
	f.opts.StartDegraded = true
	f.opts.MinBackoff = 10 * time.Millisecond
	bad := evil(t, "broken", plugins.KindRetriever, "exit")
	h := f.start(t, evil(t, "mem", plugins.KindRetriever, "ok"), bad)
	st := h.Plugin("broken").Status()
	if !st.Required || st.State == StateUp || !strings.Contains(st.LastError, "boom") {
		t.Errorf("%+v", st)
	}
	// Two retries failed (the backoff doubles per failed start).
	waitFor(t, 10*time.Second, "two retries", func() bool { return h.Plugin("broken").Status().Backoff >= 4*f.opts.MinBackoff })
	if logs := f.logs.String(); strings.Contains(logs, "optional plugin") || strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("logged:\n%s", logs)
	}
	if err := h.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("ready: %v", err)
	}
}

func TestDurationAndOneLine(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1234567 * time.Nanosecond: "1.2ms", 35123 * time.Nanosecond: "35µs", 2512 * time.Millisecond: "2.51s",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%d) = %q, want %q", d, got, want)
		}
	}
	if got := OneLine("a\nb\r\n\nc\td", 100); got != "a | b | c d" {
		t.Errorf("OneLine %q", got)
	}
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestResolvePaths(t *testing.T) {
	specs := []Spec{{Name: "a", Path: "bin/plugin", Config: map[string]any{
		"chunks_file": "data/chunks.json", "dir": "/abs/dir", "table": "t", "url": "http://x/y",
		"nested":      map[string]any{"index_path": "idx", "name": "keep"},
		"extra_files": []any{"a.json", "/b.json"}, "base_url_file": "https://x/y",
	}}, {Name: "b", Path: "/opt/p"}}
	got := ResolvePaths(specs, "conf/tutor.yml")
	base, _ := filepath.Abs("conf")
	c := got[0].Config.(map[string]any)
	want := map[string]any{
		"chunks_file": filepath.Join(base, "data/chunks.json"), "dir": "/abs/dir", "table": "t", "url": "http://x/y",
		"nested":      map[string]any{"index_path": filepath.Join(base, "idx"), "name": "keep"},
		"extra_files": []any{filepath.Join(base, "a.json"), "/b.json"}, "base_url_file": "https://x/y",
	}
	if fmt.Sprint(c) != fmt.Sprint(want) || got[0].Path != filepath.Join(base, "bin/plugin") || got[1].Path != "/opt/p" {
		t.Errorf("resolved:\n%v\n%v\n%s", c, want, got[0].Path)
	}
	if specs[0].Config.(map[string]any)["chunks_file"] != "data/chunks.json" {
		t.Error("the caller's specs changed")
	}
}
