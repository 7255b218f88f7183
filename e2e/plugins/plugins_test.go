// Package plugins tests the shipped plugins that need the stack's
// PostgreSQL: retriever-postgres under the conformance kit, through the
// host across a kill -9, and its latency over 10,000 chunks.
package plugins

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/plugins/plugintest"
)

func TestMain(m *testing.M) { e2etest.Main(m) }

const retrieverPostgres = "github.com/learnplatform/platform/plugins/cmd/retriever-postgres"

// table is a fresh chunk table name, dropped when the test ends.
func table(t testing.TB, dsn string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "plugintest_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s, %s_lessons, %s_terms", name, name, name)); err != nil {
			t.Error(err)
		}
	})
	return name
}

func TestRetrieverPostgresConformance(t *testing.T) {
	dsn := e2etest.Need(t).DSN("platform")
	bin := plugintest.Build(t, retrieverPostgres)
	r := plugintest.LaunchRetriever(t, bin, map[string]any{"dsn": dsn, "table": table(t, dsn)})
	plugintest.Retriever(t, r, nil)
}

func TestRetrieverPostgresDSNFromEnvironment(t *testing.T) {
	dsn := e2etest.Need(t).DSN("platform")
	bin := plugintest.Build(t, retrieverPostgres)
	r := plugintest.LaunchRetriever(t, bin, map[string]any{"table": table(t, dsn)}, "RETRIEVER_POSTGRES_DSN="+dsn)
	if err := r.(plugins.HealthChecker).Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func spec(t testing.TB, dsn, tbl string) host.Spec {
	bin := plugintest.Build(t, retrieverPostgres)
	sum, err := host.FileSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	return host.Spec{Name: "retriever-postgres", Kind: plugins.KindRetriever, Path: bin, SHA256: sum, Required: true,
		Timeout: 2 * time.Second, Config: map[string]any{"dsn": dsn, "table": tbl}}
}

// A kill -9 mid-conversation: the next search reports the retriever
// failed (the tutor's notice), the plugin is back within seconds, and the
// one after finds the material again (it is in PostgreSQL).
func TestRetrieverPostgresKilledAndBack(t *testing.T) {
	dsn := e2etest.Need(t).DSN("platform")
	h, err := host.Start(context.Background(), []host.Spec{spec(t, dsn, table(t, dsn))}, host.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, res := range h.Ingest(context.Background(), "kill", plugintest.FixtureLessons("kill")) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	q := plugins.Query{Text: "variables", Course: "kill", MaxStage: 1, TopK: 4}
	if got := h.Search(context.Background(), q); len(got.Chunks) == 0 || len(got.Failed) > 0 {
		t.Fatalf("before: %+v", got)
	}
	p := h.Plugin("retriever-postgres")
	pid := p.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if got := h.Search(context.Background(), q); got.Failed["retriever-postgres"] == nil {
		t.Fatalf("right after kill -9: %+v", got)
	}
	start := time.Now()
	for p.PID() == 0 || p.PID() == pid {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("not back: %+v", p.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("back after %s", time.Since(start))
	got := h.Search(context.Background(), q)
	if len(got.Failed) > 0 || len(got.Chunks) != 2 {
		t.Fatalf("after restart: %+v", got)
	}
	for _, c := range got.Chunks {
		if c.Stage != 1 {
			t.Errorf("stage %d for a stage-1 learner", c.Stage)
		}
	}
}

var words = []string{"variable", "loop", "function", "closure", "slice", "map", "struct", "interface", "pointer", "channel",
	"goroutine", "error", "package", "import", "constant", "string", "integer", "float", "boolean", "method",
	"receiver", "defer", "panic", "recover", "select", "buffer", "range", "append", "length", "capacity"}

// bigCourse is 100 lessons × 100 sections = 10,000 chunks over 3 stages.
func bigCourse(course string) []plugins.Lesson {
	var out []plugins.Lesson
	n := 0
	for l := range 100 {
		lesson := plugins.Lesson{Course: course, Lesson: fmt.Sprintf("lesson-%03d", l), Stage: 1 + l%3, Title: fmt.Sprintf("Lesson %d", l), ContentHash: fmt.Sprint(l)}
		for s := range 100 {
			n++
			w1, w2, w3 := words[n%len(words)], words[(n*7)%len(words)], words[(n*13)%len(words)]
			lesson.Chunks = append(lesson.Chunks, plugins.Chunk{
				ID: fmt.Sprintf("%s/%s#s%d", course, lesson.Lesson, s), Section: fmt.Sprintf("The %s and the %s", w1, w2), Anchor: fmt.Sprint("s", s),
				Text: fmt.Sprintf("Section %d of lesson %d. A %s works with a %s; when the %s is empty, the %s stays the same. "+
					"This paragraph explains how a %s relates to each %s in real programs, with examples and a short exercise.", s, l, w1, w2, w3, w1, w2, w3),
			})
		}
		out = append(out, lesson)
	}
	return out
}

// BenchmarkRetrieverPostgres10k measures searches over 10,000 chunks as the
// tutor makes them (host → gRPC → plugin → PostgreSQL) and reports p50 and
// p99. Goal: p99 under 20 ms.
func BenchmarkRetrieverPostgres10k(b *testing.B) {
	dsn := e2etest.Need(b).DSN("platform")
	h, err := host.Start(context.Background(), []host.Spec{spec(b, dsn, table(b, dsn))}, host.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	r := h.Retrievers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if rep, err := r.Ingest(ctx, "big", bigCourse("big")); err != nil {
		b.Fatal(err)
	} else if rep.Added+rep.Unchanged != 100 {
		b.Fatalf("%+v", rep)
	}
	queries := make([]plugins.Query, 0, 300)
	for i := range 300 {
		queries = append(queries, plugins.Query{
			Text:   fmt.Sprintf("how does a %s work with a %s?", words[i%len(words)], words[(i*11)%len(words)]),
			Course: "big", MaxStage: 1 + i%3, TopK: 5,
		})
	}
	for _, q := range queries[:30] { // warm the pool and the caches
		if _, err := r.Search(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		got, err := r.Search(ctx, queries[i%len(queries)])
		lat = append(lat, time.Since(start))
		if err != nil || len(got) == 0 {
			b.Fatalf("%v %d", err, len(got))
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
	_ = slices.Max(lat)
}
