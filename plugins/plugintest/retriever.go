package plugintest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/learnplatform/platform/plugins"
)

// Fixture describes course material a retriever already holds, for
// retrievers that are not fed by ingestion. Query must find something at
// every stage from 1 to Stages.
type Fixture struct {
	Course string
	Query  string
	Stages int
}

// Retriever runs the conformance suite on r. With fx nil, r must be a
// plugins.Ingester: the suite ingests its own three-stage course (under a
// random name), checks ingestion, and removes the course at the end.
//
// It checks: health; idempotent ingestion (add, unchanged, update,
// remove); stage filtering at every stage; nothing from another course or
// at max_stage 0; top_k; deterministic answers; well-formed chunks (ids,
// text, course, lesson, stage, finite non-increasing scores, unique ids);
// empty, huge and odd queries answered without error; deadlines and
// cancellation honoured; concurrent searches.
func Retriever(t *testing.T, r plugins.Retriever, fx *Fixture) {
	t.Helper()
	ing, canIngest := r.(plugins.Ingester)
	if fx == nil {
		if !canIngest {
			t.Fatal("plugintest.Retriever: a retriever without ingestion needs a Fixture")
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		fx = &Fixture{Course: "plugintest-" + hex.EncodeToString(b[:]), Query: "variables", Stages: 3}
		t.Run("ingest", func(t *testing.T) { checkIngest(t, r, ing, fx.Course) })
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = ing.Ingest(ctx, fx.Course, nil)
		})
	}
	ctx := context.Background()
	search := func(t *testing.T, q plugins.Query) []plugins.Chunk {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		got, err := r.Search(ctx, q)
		if err != nil {
			t.Fatalf("search %q: %v", cutForLog(q.Text), err)
		}
		wellFormed(t, q, got)
		return got
	}
	t.Run("health", func(t *testing.T) {
		if h, ok := r.(plugins.HealthChecker); ok {
			if err := h.Health(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("stages", func(t *testing.T) {
		for max := 1; max <= fx.Stages; max++ {
			got := search(t, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: max, TopK: 50})
			if len(got) == 0 {
				t.Errorf("max_stage %d: nothing found for %q", max, fx.Query)
			}
			if max == fx.Stages && !slices.ContainsFunc(got, func(c plugins.Chunk) bool { return c.Stage == max }) {
				t.Errorf("max_stage %d: no chunk of stage %d, though unlocked", max, max)
			}
		}
		if got := search(t, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: 0, TopK: 10}); len(got) != 0 {
			t.Errorf("max_stage 0 found %d chunks", len(got))
		}
	})
	t.Run("other course", func(t *testing.T) {
		if got := search(t, plugins.Query{Text: fx.Query, Course: fx.Course + "-other", MaxStage: fx.Stages, TopK: 10}); len(got) != 0 {
			t.Errorf("found %d chunks of a course that does not exist", len(got))
		}
	})
	t.Run("top_k", func(t *testing.T) {
		all := search(t, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: fx.Stages, TopK: 50})
		for _, k := range []int{1, 2} {
			got := search(t, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: fx.Stages, TopK: k})
			if want := min(k, len(all)); len(got) != want {
				t.Errorf("top_k %d: %d chunks, want %d", k, len(got), want)
			}
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		q := plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: fx.Stages, TopK: 10}
		first := ids(search(t, q))
		for range 3 {
			if again := ids(search(t, q)); !slices.Equal(first, again) {
				t.Fatalf("same query, different answers: %v then %v", first, again)
			}
		}
	})
	t.Run("empty query", func(t *testing.T) {
		for _, text := range []string{"", "   ", "\n\t"} {
			if got := search(t, plugins.Query{Text: text, Course: fx.Course, MaxStage: fx.Stages, TopK: 5}); len(got) != 0 {
				t.Errorf("query %q found %d chunks", text, len(got))
			}
		}
	})
	t.Run("huge query", func(t *testing.T) {
		text := strings.Repeat(fx.Query+" lorem ipsum ", 64<<10/(len(fx.Query)+13))
		search(t, plugins.Query{Text: text, Course: fx.Course, MaxStage: fx.Stages, TopK: 5})
	})
	t.Run("odd queries", func(t *testing.T) {
		for _, text := range []string{
			`"unterminated`, `-`, `or`, `a OR OR b`, `!!!`, `'); DROP TABLE chunks; --`, `\x00`, "nul\x00byte",
			`<script>alert(1)</script>`, `变量是什么`, `🙂 ` + fx.Query, `*:*`, `{"$ne": null}`, `%_%`,
		} {
			search(t, plugins.Query{Text: text, Course: fx.Course, MaxStage: fx.Stages, TopK: 5})
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		defer cancel()
		<-ctx.Done()
		start := time.Now()
		_, err := r.Search(ctx, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: fx.Stages, TopK: 5})
		if err == nil {
			t.Error("a search past its deadline answered without error")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a search past its deadline took %s", took)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := r.Search(ctx, plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: fx.Stages, TopK: 5})
		if err == nil {
			t.Error("a cancelled search answered without error")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				q := plugins.Query{Text: fx.Query, Course: fx.Course, MaxStage: 1 + i%fx.Stages, TopK: 5}
				got, err := r.Search(ctx, q)
				if err == nil {
					for _, c := range got {
						if c.Stage > q.MaxStage {
							err = fmt.Errorf("stage %d chunk for max_stage %d", c.Stage, q.MaxStage)
						}
					}
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// wellFormed checks one answer against the query.
func wellFormed(t *testing.T, q plugins.Query, got []plugins.Chunk) {
	t.Helper()
	if q.TopK >= 0 && len(got) > max(q.TopK, 0) {
		t.Errorf("top_k %d, got %d chunks", q.TopK, len(got))
	}
	seen := map[string]bool{}
	for i, c := range got {
		if err := c.Validate(); err != nil {
			t.Errorf("malformed chunk: %v", err)
		}
		if c.Course != q.Course {
			t.Errorf("chunk %q of course %q for a query on %q", c.ID, c.Course, q.Course)
		}
		if c.Stage > q.MaxStage {
			t.Errorf("LEAK: chunk %q of stage %d for max_stage %d", c.ID, c.Stage, q.MaxStage)
		}
		if seen[c.ID] {
			t.Errorf("chunk %q twice", c.ID)
		}
		seen[c.ID] = true
		if i > 0 && c.Score > got[i-1].Score {
			t.Errorf("scores not best first: %v after %v", c.Score, got[i-1].Score)
		}
		if math.IsNaN(c.Score) {
			t.Errorf("NaN score")
		}
	}
}

func ids(cs []plugins.Chunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func cutForLog(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// FixtureLessons is the suite's course: stages 1 to 3, two sections each,
// every one about variables, each with words of its own.
func FixtureLessons(course string) []plugins.Lesson {
	topics := [][2]string{{"declaring variables with var", "short variable declarations"}, {"variables in loops", "loop variables and closures"}, {"variables captured by functions", "returning variables from functions"}}
	var out []plugins.Lesson
	for stage := 1; stage <= 3; stage++ {
		l := plugins.Lesson{Course: course, Lesson: fmt.Sprintf("stage-%d", stage), Stage: stage, Title: fmt.Sprintf("Stage %d", stage),
			Source: fmt.Sprintf("%d.md", stage), ContentHash: fmt.Sprintf("v1-%d", stage)}
		for s, topic := range topics[stage-1] {
			anchor := fmt.Sprintf("part-%d", s+1)
			l.Chunks = append(l.Chunks, plugins.Chunk{ID: course + "/" + l.Lesson + "#" + anchor, Course: course, Lesson: l.Lesson, Stage: stage,
				Title: l.Title, Section: topic, Anchor: anchor, Source: l.Source,
				Text: fmt.Sprintf("Stage %d explains %s. Variables hold values; this part is about %s.", stage, topic, topic)})
		}
		out = append(out, l)
	}
	return out
}

func checkIngest(t *testing.T, r plugins.Retriever, ing plugins.Ingester, course string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lessons := FixtureLessons(course)
	expect := func(what string, got plugins.IngestReport, err error, want plugins.IngestReport) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got != want {
			t.Fatalf("%s: report %+v, want %+v", what, got, want)
		}
	}
	rep, err := ing.Ingest(ctx, course, lessons)
	expect("first ingest", rep, err, plugins.IngestReport{Added: 3})
	rep, err = ing.Ingest(ctx, course, lessons)
	expect("same lessons again", rep, err, plugins.IngestReport{Unchanged: 3})

	changed := slices.Clone(lessons)
	changed[1].ContentHash = "v2-2"
	changed[1].Chunks = slices.Clone(changed[1].Chunks)
	changed[1].Chunks[0].Text = "Stage 2 now talks about zebras and variables."
	rep, err = ing.Ingest(ctx, course, changed)
	expect("one lesson changed", rep, err, plugins.IngestReport{Updated: 1, Unchanged: 2})
	got, err := r.Search(ctx, plugins.Query{Text: "zebras", Course: course, MaxStage: 3, TopK: 5})
	if err != nil || len(got) == 0 || got[0].ID != changed[1].Chunks[0].ID {
		t.Fatalf("the changed text is not found: %v %+v", err, got)
	}
	rep, err = ing.Ingest(ctx, course, changed[:2])
	expect("one lesson removed", rep, err, plugins.IngestReport{Removed: 1, Unchanged: 2})
	got, err = r.Search(ctx, plugins.Query{Text: "variables", Course: course, MaxStage: 3, TopK: 50})
	if err != nil || slices.ContainsFunc(got, func(c plugins.Chunk) bool { return c.Stage == 3 }) {
		t.Fatalf("the removed lesson is still found: %v %+v", err, got)
	}
	rep, err = ing.Ingest(ctx, course, lessons)
	expect("back to the original", rep, err, plugins.IngestReport{Added: 1, Updated: 1, Unchanged: 1})
	before := ids(mustSearch(t, r, course))
	rep, err = ing.Ingest(ctx, course, lessons)
	expect("idempotent", rep, err, plugins.IngestReport{Unchanged: 3})
	if after := ids(mustSearch(t, r, course)); !slices.Equal(before, after) {
		t.Fatalf("re-ingesting changed the ids: %v then %v", before, after)
	}
}

func mustSearch(t *testing.T, r plugins.Retriever, course string) []plugins.Chunk {
	t.Helper()
	got, err := r.Search(context.Background(), plugins.Query{Text: "variables", Course: course, MaxStage: 3, TopK: 50})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
