package host

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host/internal/pluginlog"
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
	q.Text = pluginlog.Cut(q.Text, MaxQueryBytes)
	var got []plugins.Chunk
	err := r.proc.Call(ctx, "Search", func(ctx context.Context, client any) error {
		var err error
		got, err = client.(plugins.Retriever).Search(ctx, q)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.screen(q, got), nil
}

// screen is the host's own check of a search answer. What it drops is
// counted per reason and logged as one line per call (rate-limited like
// every warning about the plugin), with the first ids of each reason.
func (r *Retriever) screen(q plugins.Query, got []plugins.Chunk) []plugins.Chunk {
	out := got[:0:0]
	seen := map[string]bool{}
	counts := map[string]int{}
	examples := map[string][]string{}
	var firstErr error
	drop := func(reason string, c plugins.Chunk, err error) {
		counts[reason]++
		if len(examples[reason]) < 3 {
			examples[reason] = append(examples[reason], fmt.Sprintf("%q", pluginlog.Cut(c.ID, 80)))
		}
		if firstErr == nil && err != nil {
			firstErr = err
		}
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
			drop("excess", c, nil)
		default:
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	if len(counts) == 0 {
		return out
	}
	reasons := make([]string, 0, len(counts))
	for reason, n := range counts {
		r.metrics.Dropped.WithLabelValues(r.spec.Name, reason).Add(float64(n))
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	args := []any{"kept", len(out), "dropped", len(got) - len(out)}
	var ex []string
	for _, reason := range reasons {
		args = append(args, reason, counts[reason])
		ex = append(ex, reason+": "+strings.Join(examples[reason], ", "))
	}
	args = append(args, "examples", strings.Join(ex, "; "), "query_course", q.Course, "max_stage", q.MaxStage, "top_k", q.TopK)
	if firstErr != nil {
		args = append(args, "first_error", firstErr.Error())
	}
	// Locked results mean the plugin ignores the query's stage: always
	// worth a line of its own key, so excess results cannot hide it.
	msg := "dropped search results"
	if counts["locked"] > 0 {
		msg = "dropped search results above the learner's stage or of another course"
	}
	r.proc.Warn(msg, args...)
	return out
}

// Ingest feeds the plugin one course; ErrUnsupported when it is not fed by
// ingestion (it said so at its start, or answered UNIMPLEMENTED), without
// a warning or an error counted. Ingestion gets ten times the call timeout.
func (r *Retriever) Ingest(ctx context.Context, course string, lessons []plugins.Lesson) (plugins.IngestReport, error) {
	if s := r.proc.Snapshot(); s.State == StateUp && !s.Info.Has(plugins.CapabilityIngest) {
		r.metrics.Calls.WithLabelValues(r.spec.Name, "Ingest", "unsupported").Inc()
		return plugins.IngestReport{}, fmt.Errorf("%s: %w", r.spec.Name, plugins.ErrUnsupported)
	}
	var rep plugins.IngestReport
	err := r.proc.CallWithTimeout(ctx, "Ingest", 10*r.spec.timeout(), func(ctx context.Context, client any) error {
		var err error
		rep, err = client.(plugins.Ingester).Ingest(ctx, course, lessons)
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

// ErrLate is in Result.Failed for a retriever that had not answered when
// Search answered without it (Options.SearchSoftDeadline, SearchQuorum).
var ErrLate = errors.New("no answer by the search's soft deadline; answered without it")

// Search asks every retriever at once and fuses their answers by
// reciprocal rank (k = 60), best first, at most q.TopK. Each chunk's Score
// becomes its fused score.
//
// It answers when every retriever answered or failed, when SearchQuorum
// of them answered, or once SearchSoftDeadline passed and at least one
// answered: a slow retriever then costs the soft deadline, not its whole
// timeout. The calls still running are cancelled and named in Failed
// (ErrLate).
func (h *Host) Search(ctx context.Context, q plugins.Query) Result {
	res := Result{Failed: map[string]error{}}
	n := len(h.retrievers)
	answers := make([][]plugins.Chunk, n)
	if n == 0 {
		return res
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i      int
		chunks []plugins.Chunk
		err    error
	}
	ch := make(chan answer, n)
	for i, r := range h.retrievers {
		go func() {
			cs, err := r.Search(ctx, q)
			ch <- answer{i, cs, err}
		}()
	}
	quorum := h.opts.SearchQuorum
	if quorum <= 0 || quorum > n {
		quorum = n
	}
	soft := time.NewTimer(h.opts.SearchSoftDeadline)
	defer soft.Stop()
	done := make([]bool, n)
	answered, finished, softPassed := 0, 0, false
wait:
	for finished < n {
		select {
		case a := <-ch:
			finished++
			done[a.i] = true
			if a.err != nil {
				res.Failed[h.retrievers[a.i].spec.Name] = a.err
				continue
			}
			answers[a.i] = a.chunks
			answered++
			if answered >= quorum || softPassed {
				break wait
			}
		case <-soft.C:
			softPassed = true
			if answered > 0 {
				break wait
			}
		}
	}
	for i, r := range h.retrievers {
		if !done[i] {
			res.Failed[r.spec.Name] = fmt.Errorf("%s: %w (%s)", r.spec.Name, ErrLate, h.opts.SearchSoftDeadline)
		}
	}
	if len(res.Failed) > 0 && answered > 0 {
		if ok, held := h.logs.Allow("partial search"); ok {
			names := make([]string, 0, len(res.Failed))
			for n := range res.Failed {
				names = append(names, n)
			}
			sort.Strings(names)
			reasons := make([]string, len(names))
			for i, n := range names {
				reasons[i] = OneLine(res.Failed[n].Error(), 300)
			}
			args := []any{"without", strings.Join(names, ","), "why", strings.Join(reasons, "; "), "answered", answered}
			if held > 0 {
				args = append(args, "suppressed", held)
			}
			h.opts.Logger.Warn("search answered without some retrievers", args...)
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
