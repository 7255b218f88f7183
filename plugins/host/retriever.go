package host

import (
	"context"
	"errors"
	"sort"
	"sync"
	"unicode/utf8"

	"github.com/learnplatform/platform/plugins"
)

// Limits on what goes to and comes back from a retriever.
const (
	// MaxQueryBytes: longer query text is cut (at a rune boundary).
	MaxQueryBytes = 4 << 10
	// MaxTopK: larger requests are lowered.
	MaxTopK = 50
	// MaxChunkBytes: a chunk with longer text is dropped as oversized.
	MaxChunkBytes = 32 << 10
)

// Retriever is a retriever plugin as the tutor sees it: a plugins.Retriever
// (and Ingester) whose answers are checked.
type Retriever struct{ *Plugin }

// Search asks the plugin, then drops what the learner may not see or the
// host cannot use: chunks of another course or above q.MaxStage (counted as
// "locked" and logged: the plugin misbehaves), malformed, oversized and
// duplicate chunks, and any beyond q.TopK.
func (r *Retriever) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	if q.MaxStage < 1 || q.Course == "" {
		return nil, nil
	}
	q.TopK = min(max(q.TopK, 1), MaxTopK)
	q.Text = cut(q.Text, MaxQueryBytes)
	var got []plugins.Chunk
	err := r.call(ctx, "Search", func(ctx context.Context, raw any) error {
		var err error
		got, err = raw.(plugins.Retriever).Search(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.screen(q, got), nil
}

// screen is the host's own check of a search answer.
func (r *Retriever) screen(q plugins.Query, got []plugins.Chunk) []plugins.Chunk {
	out := got[:0:0]
	seen := map[string]bool{}
	drop := func(reason string, c plugins.Chunk, err error) {
		r.h.metrics.dropped.WithLabelValues(r.spec.Name, reason).Inc()
		r.log.Warn("dropped a search result", "reason", reason, "id", c.ID, "course", c.Course, "stage", c.Stage,
			"query_course", q.Course, "max_stage", q.MaxStage, "error", err)
	}
	for _, c := range got {
		switch err := c.Validate(); {
		case err != nil:
			drop("malformed", c, err)
		case c.Course != q.Course || c.Stage > q.MaxStage:
			drop("locked", c, nil)
		case len(c.Text) > MaxChunkBytes:
			drop("oversized", c, nil)
		case seen[c.ID]:
			drop("duplicate", c, nil)
		case len(out) == q.TopK:
			drop("oversized", c, errors.New("more results than top_k"))
		default:
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	return out
}

// Ingest feeds the plugin one course; ErrUnsupported when it is not fed by
// ingestion. Ingestion gets ten times the call timeout.
func (r *Retriever) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) (plugins.IngestReport, error) {
	var rep plugins.IngestReport
	err := r.callWithTimeout(ctx, "Ingest", 10*r.spec.timeout(), func(ctx context.Context, raw any) error {
		var err error
		rep, err = raw.(plugins.Ingester).Ingest(ctx, course, lessons)
		return err
	})
	return rep, err
}

// Result is the fused answer of all retrievers.
type Result struct {
	Chunks []plugins.Chunk
	// Failed names the retrievers that did not answer (down, timed out,
	// erred); the tutor tells the learner course search is unavailable
	// when every retriever failed.
	Failed map[string]error
}

// Search asks every retriever at once and fuses their answers by
// reciprocal rank (k = 60), best first, at most q.TopK. Each chunk's Score
// becomes its fused score.
func (h *Host) Search(ctx context.Context, q plugins.Query) Result {
	res := Result{Failed: map[string]error{}}
	answers := make([][]plugins.Chunk, len(h.retrievers))
	errs := make([]error, len(h.retrievers))
	var wg sync.WaitGroup
	for i, r := range h.retrievers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = r.Search(ctx, q)
		}()
	}
	wg.Wait()
	for i, r := range h.retrievers {
		if errs[i] != nil {
			res.Failed[r.spec.Name] = errs[i]
		}
	}
	res.Chunks = Fuse(min(max(q.TopK, 1), MaxTopK), answers...)
	return res
}

// Fuse merges ranked lists by reciprocal rank fusion (k = 60): a chunk's
// score is the sum of 1/(60+rank) over the lists it appears in (by id).
// Ties keep the earlier list's order.
func Fuse(topK int, lists ...[]plugins.Chunk) []plugins.Chunk {
	type entry struct {
		c     plugins.Chunk
		score float64
		first int
	}
	byID := map[string]*entry{}
	var order []*entry
	n := 0
	for _, l := range lists {
		for rank, c := range l {
			e := byID[c.ID]
			if e == nil {
				e = &entry{c: c, first: n}
				byID[c.ID] = e
				order = append(order, e)
			}
			e.score += 1 / float64(60+rank+1)
			n++
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].score > order[j].score })
	out := make([]plugins.Chunk, 0, min(topK, len(order)))
	for _, e := range order {
		if len(out) == topK {
			break
		}
		e.c.Score = e.score
		out = append(out, e.c)
	}
	return out
}

// IngestResult is one retriever's outcome of Host.Ingest.
type IngestResult struct {
	Name   string
	Report plugins.IngestReport
	// Skipped is true for a retriever not fed by ingestion.
	Skipped bool
	Err     error
}

// Ingest writes one course through every retriever, in parallel.
func (h *Host) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) []IngestResult {
	out := make([]IngestResult, len(h.retrievers))
	var wg sync.WaitGroup
	for i, r := range h.retrievers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := r.Ingest(ctx, course, lessons)
			out[i] = IngestResult{Name: r.spec.Name, Report: rep, Err: err}
			if errors.Is(err, plugins.ErrUnsupported) {
				out[i].Err, out[i].Skipped = nil, true
			}
		}()
	}
	wg.Wait()
	return out
}

// cut shortens s to at most n bytes without splitting a rune.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
