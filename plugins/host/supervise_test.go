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
// more slowly (the backoff doubles after every crash of a process that did
// not stay up StableAfter), up to the cap; the wait is a metric.
func TestCrashLoopBacksOff(t *testing.T) {
	var maxBackoff float64
	opts := func(o *Options) {
		o.MinBackoff, o.MaxBackoff, o.StableAfter = 50*time.Millisecond, time.Second, time.Minute
	}
	f := newFixture()
	opts(&f.opts)
	h := f.start(t, evil(t, "crashy", plugins.KindRetriever, "crash"))
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
		maxBackoff = max(maxBackoff, testutil.ToFloat64(h.metrics.backoff.WithLabelValues("crashy")))
		time.Sleep(20 * time.Millisecond)
	}
	n := h.Plugin("crashy").Status().Restarts
	// 50+100+200+400+800+1000+1000 ms of waiting fill 4 s with at most 7
	// restarts (plus their start-up time); without doubling it was ~15.
	t.Logf("restarts in 4s: %d; largest backoff %.2fs", n, maxBackoff)
	if n < 3 || n > 7 {
		t.Errorf("%d restarts in 4s; want 3..7", n)
	}
	if maxBackoff != 1 {
		t.Errorf("backoff reached %vs, want the 1s cap", maxBackoff)
	}
	if got := h.Plugin("crashy").Status().Backoff; got == 0 && h.Plugin("crashy").PID() == 0 {
		t.Error("no backoff in the status of a down plugin")
	}
}

// /readyz (Host.Ready) is not ready while a required plugin is down, and
// names it; an optional plugin that is down does not count.
func TestReadyWhileRequiredPluginDown(t *testing.T) {
	f := newFixture()
	f.opts.MinBackoff = 1500 * time.Millisecond
	opt := evil(t, "extra", plugins.KindRetriever, "crash")
	opt.Required = false
	h := f.start(t, evil(t, "main", plugins.KindRetriever, "ok"), opt)
	if err := h.Ready(context.Background()); err != nil {
		t.Fatalf("ready at start: %v", err)
	}
	// The optional one crashes: still ready.
	h.Plugin("extra").Health(context.Background())
	h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	waitFor(t, 5*time.Second, "optional plugin down", func() bool { return h.Plugin("extra").PID() == 0 })
	if err := h.Ready(context.Background()); err != nil {
		t.Errorf("an optional plugin's crash made the host unready: %v", err)
	}
	pid := h.Plugin("main").PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "not ready", func() bool { return h.Ready(context.Background()) != nil })
	err := h.Ready(context.Background())
	if !strings.Contains(err.Error(), "required plugin main is down") || !strings.Contains(err.Error(), "signal: killed") {
		t.Errorf("readiness: %v", err)
	}
	waitFor(t, 10*time.Second, "ready again", func() bool { return h.Ready(context.Background()) == nil })
}

// A retriever answering 5,000 tiny chunks costs one log line per search,
// with counts per reason, and repeated searches within LogInterval no more.
func TestDroppedResultsOneLinePerCall(t *testing.T) {
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
	if n := testutil.ToFloat64(h.metrics.dropped.WithLabelValues("flood", "excess")); n != 4997 {
		t.Errorf("excess counted %v", n)
	}
	for range 20 {
		h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	}
	if n := strings.Count(f.logs.String(), `"level":"WARN"`); n != 1 {
		t.Errorf("%d warnings after 21 searches within the log interval", n)
	}
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLogLimiter(10 * time.Second)
	l.now = func() time.Time { return now }
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("first line held")
	}
	for range 5 {
		if ok, _ := l.allow("a"); ok {
			t.Fatal("repeat let through")
		}
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key held")
	}
	now = now.Add(11 * time.Second)
	if ok, held := l.allow("a"); !ok || held != 5 {
		t.Fatalf("after the interval: %v, %d held", ok, held)
	}
}

// A slow retriever costs the soft deadline once another one answered, not
// its whole timeout; its call is cancelled quietly and it is named.
func TestSearchSoftDeadline(t *testing.T) {
	f := newFixture()
	f.opts.SearchSoftDeadline = 200 * time.Millisecond
	slow := evil(t, "slow", plugins.KindRetriever, "slow")
	slow.Timeout = 2 * time.Second
	h := f.start(t, evil(t, "fast", plugins.KindRetriever, "ok"), slow)
	ingest(t, h, "go")
	start := time.Now()
	got := h.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	took := time.Since(start)
	if took > time.Second || len(got.Chunks) != 2 {
		t.Fatalf("took %s for %d chunks; want the fast answer at the 200ms soft deadline", took, len(got.Chunks))
	}
	if !errors.Is(got.Failed["slow"], ErrLate) || got.Failed["fast"] != nil {
		t.Errorf("failed: %v", got.Failed)
	}
	waitFor(t, 3*time.Second, "slow call cancelled", func() bool {
		return testutil.ToFloat64(h.metrics.calls.WithLabelValues("slow", "Search", "cancelled")) == 1
	})
	if strings.Contains(f.logs.String(), "too slow") {
		t.Error("a cancelled late call was logged as the plugin's failure")
	}
	// With nobody answering in time, the soft deadline does not cut short.
	f2 := newFixture()
	f2.opts.SearchSoftDeadline = 100 * time.Millisecond
	slowOnly := evil(t, "slow", plugins.KindRetriever, "slow")
	h2 := f2.start(t, slowOnly)
	got = h2.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if !errors.Is(got.Failed["slow"], context.DeadlineExceeded) {
		t.Errorf("alone: %v", got.Failed)
	}
	// A quorum answers at once.
	f3 := newFixture()
	f3.opts.SearchQuorum = 1
	h3 := f3.start(t, evil(t, "fast", plugins.KindRetriever, "ok"), evil(t, "slow", plugins.KindRetriever, "slow"))
	ingest(t, h3, "go")
	start = time.Now()
	got = h3.Search(context.Background(), plugins.Query{Text: "loops", Course: "go", MaxStage: 1, TopK: 3})
	if took := time.Since(start); took > 400*time.Millisecond || len(got.Chunks) != 2 {
		t.Errorf("quorum 1: %s, %d chunks", took, len(got.Chunks))
	}
}

// A retriever that is not fed by ingestion says so at its start: Ingest
// skips it without a call, a warning or an error counted.
func TestReadOnlyRetrieverIngestIsQuiet(t *testing.T) {
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
	if strings.Contains(f.logs.String(), `"level":"WARN"`) || testutil.ToFloat64(h.metrics.calls.WithLabelValues("ro", "Ingest", "error")) != 0 {
		t.Errorf("noise:\n%s", f.logs)
	}
	if n := testutil.ToFloat64(h.metrics.calls.WithLabelValues("ro", "Ingest", "unsupported")); n != 3 {
		t.Errorf("unsupported counted %v", n)
	}
}

// StartDegraded (tutor plugins check) starts the rest when a required
// plugin fails, keeps it required, and leaves the reporting to the caller.
func TestStartDegraded(t *testing.T) {
	f := newFixture()
	f.opts.StartDegraded = true
	bad := evil(t, "broken", plugins.KindRetriever, "exit")
	h := f.start(t, evil(t, "mem", plugins.KindRetriever, "ok"), bad)
	st := h.Plugin("broken").Status()
	if !st.Required || st.State == StateUp || !strings.Contains(st.LastError, "boom") {
		t.Errorf("%+v", st)
	}
	time.Sleep(300 * time.Millisecond) // a retry or two
	if logs := f.logs.String(); strings.Contains(logs, "optional plugin") || strings.Contains(logs, `"level":"WARN"`) {
		t.Errorf("logged:\n%s", logs)
	}
	if err := h.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("ready: %v", err)
	}
}

func TestTailLeavesOutDebugLines(t *testing.T) {
	var tb tailBuffer
	fmt.Fprintln(&tb, `{"@level":"debug","@message":"plugin address","@timestamp":"2026-01-01T00:00:00.000000Z","address":"/tmp/x","network":"unix"}`)
	fmt.Fprintln(&tb, `{"@level":"error","@message":"cannot open","@timestamp":"2026-01-01T00:00:00.000000Z","file":"data.json"}`)
	fmt.Fprintln(&tb, "panic: boom")
	if got := tb.String(); got != "error: cannot open file=data.json | panic: boom" {
		t.Errorf("tail %q", got)
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
