// Package pluginhost runs the tutor's plugins: it starts the ones the
// tutor's YAML declares with plugins/host and shows them to the rest of the
// tutor as the tutor's own interfaces. Retriever is a tutor.Retriever that
// searches every retriever plugin (host.Search: in parallel, fused by
// reciprocal rank, locked and malformed chunks dropped by the host) and
// reports tutor.ErrSearchUnavailable when none answered; Guard is a
// tutor.Guard that runs the guardrail plugins in the order declared;
// Ingest writes lessons through every retriever that takes ingestion.
// cmd/tutor wires it; the agent and chatkit only see the interfaces.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor"
)

const tracerName = "github.com/learnplatform/platform/tutor/pluginhost"

// span starts a child of the request's span (kit/server) when the request
// is traced; otherwise it is a no-op that costs nothing.
func span(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName).Start(ctx, name, trace.WithAttributes(attrs...))
}

// Retriever searches the retriever plugins.
type Retriever struct {
	Host   *host.Host
	Logger *slog.Logger
}

// Retrieve implements tutor.Retriever. Chunks the learner may not see were
// dropped by the host already; tutor.Allowed checks again. When every
// retriever failed the error wraps tutor.ErrSearchUnavailable; when only
// some did, the others' answer is used and the failures are logged.
func (r Retriever) Retrieve(ctx context.Context, q tutor.RetrievalQuery) ([]tutor.Passage, error) {
	if q.Course == "" || q.MaxStage < 1 {
		return nil, nil
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 4
	}
	ctx, sp := span(ctx, "plugins search", attribute.Int("plugins.retrievers", len(r.Host.Retrievers())),
		attribute.String("course", q.Course), attribute.Int("stage", q.MaxStage))
	defer sp.End()
	res := r.Host.Search(ctx, plugins.Query{Text: q.Text, Course: q.Course, MaxStage: q.MaxStage, TopK: limit})
	sp.SetAttributes(attribute.Int("plugins.chunks", len(res.Chunks)), attribute.Int("plugins.failed", len(res.Failed)))
	if len(res.Failed) > 0 {
		names := make([]string, 0, len(res.Failed))
		for n := range res.Failed {
			names = append(names, n)
		}
		sort.Strings(names)
		reasons := make([]string, len(names))
		for i, n := range names {
			reasons[i] = n + ": " + res.Failed[n].Error()
		}
		if len(res.Failed) == len(r.Host.Retrievers()) {
			sp.SetStatus(codes.Error, "no retriever answered")
			return nil, fmt.Errorf("%w: %s", tutor.ErrSearchUnavailable, strings.Join(reasons, "; "))
		}
		// The host logged it (rate-limited): one line per search at most.
	}
	ps := make([]tutor.Passage, 0, len(res.Chunks))
	for _, c := range res.Chunks {
		ps = append(ps, passage(c))
	}
	return tutor.Allowed(q, ps), nil
}

// ChunkID is a section's id as the tutor gives it to retrievers: stable
// for the same section ("course/lesson#anchor").
func ChunkID(course, lesson, anchor string) string { return course + "/" + lesson + "#" + anchor }

func passage(c plugins.Chunk) tutor.Passage {
	return tutor.Passage{Course: c.Course, Lesson: c.Lesson, LessonTitle: c.Title, Stage: c.Stage,
		Section: c.Section, Anchor: c.Anchor, Text: c.Text, Rank: c.Score}
}

func chunk(p tutor.Passage) plugins.Chunk {
	return plugins.Chunk{ID: ChunkID(p.Course, p.Lesson, p.Anchor), Text: p.Text, Course: p.Course, Stage: p.Stage,
		Lesson: p.Lesson, Title: p.LessonTitle, Section: p.Section, Anchor: p.Anchor, Score: p.Rank}
}

// Guard runs the guardrail plugins.
type Guard struct {
	Host   *host.Host
	Logger *slog.Logger
}

// quotedID is the id under which the learner's selected text is screened:
// as material from the page, not as the learner's message.
const quotedID = "learner-selected-text"

// CheckInput implements tutor.Guard with host.CheckInput. The learner's
// selected text travels as one more chunk, so guardrails drop or redact it
// like course material.
func (g Guard) CheckInput(ctx context.Context, in tutor.GuardInput) tutor.InputVerdict {
	chunks := make([]plugins.Chunk, 0, len(in.Passages)+1)
	for _, p := range in.Passages {
		chunks = append(chunks, chunk(p))
	}
	if in.QuotedText != "" {
		chunks = append(chunks, plugins.Chunk{ID: quotedID, Text: in.QuotedText, Course: in.Turn.Course,
			Lesson: in.Turn.Thread.Lesson, Section: "Text the learner selected on the page", Stage: max(in.Turn.MaxStage, 1)})
	}
	ctx, sp := span(ctx, "plugins check_input", attribute.Int("plugins.guardrails", len(g.Host.Guardrails())))
	v := g.Host.CheckInput(ctx, plugins.InputCheck{Message: in.Message, Context: conversation(in.Turn), Chunks: chunks})
	sp.SetAttributes(attribute.Bool("plugins.blocked", v.Blocked), attribute.String("plugins.by", v.By))
	sp.End()
	out := tutor.InputVerdict{Blocked: v.Blocked, Unchecked: v.Unchecked, LearnerMessage: v.LearnerMessage, Message: v.Message, Reasons: v.Reasons}
	byID := make(map[string]tutor.Passage, len(in.Passages))
	for _, p := range in.Passages {
		byID[ChunkID(p.Course, p.Lesson, p.Anchor)] = p
	}
	for _, c := range v.Chunks {
		if c.ID == quotedID {
			out.QuotedText = c.Text
			continue
		}
		p, ok := byID[c.ID]
		if !ok { // the host only drops and rewrites; never adds
			continue
		}
		p.Text = c.Text
		out.Passages = append(out.Passages, p)
	}
	log := logger(g.Logger).With("thread", in.Turn.Thread.ID)
	switch {
	case v.Blocked:
		log.Warn("guardrail blocked the input", "by", v.By, "reasons", strings.Join(v.Reasons, "; "))
	case len(v.Reasons) > 0:
		log.Info("guardrails changed the input", "reasons", strings.Join(v.Reasons, "; "))
	}
	return out
}

// CheckOutput implements tutor.Guard with host.CheckOutput.
func (g Guard) CheckOutput(ctx context.Context, out tutor.GuardOutput) tutor.OutputVerdict {
	chunks := make([]plugins.Chunk, 0, len(out.Passages))
	for _, p := range out.Passages {
		chunks = append(chunks, chunk(p))
	}
	ctx, sp := span(ctx, "plugins check_output", attribute.Int("plugins.guardrails", len(g.Host.Guardrails())))
	v := g.Host.CheckOutput(ctx, plugins.OutputCheck{Message: out.Turn.Question, Answer: out.Answer,
		Context: conversation(out.Turn), Chunks: chunks})
	sp.SetAttributes(attribute.Bool("plugins.replaced", v.Replaced), attribute.String("plugins.by", v.By))
	sp.End()
	if v.Replaced {
		logger(g.Logger).Warn("guardrail replaced the answer", "thread", out.Turn.Thread.ID, "by", v.By,
			"blocked", v.Blocked, "reasons", strings.Join(v.Reasons, "; "))
	}
	return tutor.OutputVerdict{Answer: v.Answer, Replaced: v.Replaced, Blocked: v.Blocked, Reasons: v.Reasons}
}

// conversation is where the turn stands, as guardrails see it.
func conversation(t tutor.Turn) plugins.Context {
	c := plugins.Context{Course: t.Course, Lesson: t.Thread.Lesson, Stage: t.MaxStage}
	if t.Page != nil {
		c.PageTitle = t.Page.Title
	}
	for _, m := range t.History {
		c.History = append(c.History, plugins.Turn{Role: m.Role, Text: m.Text})
	}
	return c
}

// IngestResult is what ingestion did in one retriever, over all courses.
type IngestResult struct {
	Name   string
	Report plugins.IngestReport
	// Skipped: the retriever is not fed by ingestion.
	Skipped bool
	// Err names the courses that failed and why.
	Err error
}

// Ingest writes lessons through every retriever plugin, one course at a
// time: each retriever's copy of each course becomes exactly its lessons
// here. Courses not among lessons are left alone.
func Ingest(ctx context.Context, h *host.Host, lessons []tutor.Lesson) []IngestResult {
	byCourse := map[string][]plugins.Lesson{}
	var courses []string
	for _, l := range lessons {
		if _, ok := byCourse[l.Course]; !ok {
			courses = append(courses, l.Course)
		}
		byCourse[l.Course] = append(byCourse[l.Course], Lesson(l))
	}
	out := make([]IngestResult, len(h.Retrievers()))
	for i, r := range h.Retrievers() {
		out[i].Name = r.Name()
	}
	for _, course := range courses {
		for i, res := range h.Ingest(ctx, course, byCourse[course]) {
			o := &out[i]
			switch {
			case res.Skipped:
				o.Skipped = true
			case res.Err != nil:
				o.Err = errors.Join(o.Err, fmt.Errorf("course %s: %w", course, res.Err))
			default:
				o.Report.Added += res.Report.Added
				o.Report.Updated += res.Report.Updated
				o.Report.Unchanged += res.Report.Unchanged
				o.Report.Removed += res.Report.Removed
			}
		}
	}
	return out
}

// Lesson is a lesson as retrievers ingest it: one chunk per section, ids
// ChunkID, and a hash of everything about it.
func Lesson(l tutor.Lesson) plugins.Lesson {
	h := sha256.New()
	for _, s := range []string{l.Course, l.Lesson, l.CourseTitle, l.Title, l.Source, fmt.Sprint(l.Stage)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	out := plugins.Lesson{Course: l.Course, Lesson: l.Lesson, Stage: l.Stage, Title: l.Title, Source: l.Source}
	for _, s := range l.Sections {
		for _, f := range []string{s.Heading, s.Anchor, s.Text} {
			h.Write([]byte(f))
			h.Write([]byte{0})
		}
		out.Chunks = append(out.Chunks, plugins.Chunk{ID: ChunkID(l.Course, l.Lesson, s.Anchor), Text: s.Text, Source: l.Source,
			Course: l.Course, Stage: l.Stage, Lesson: l.Lesson, Title: l.Title, Section: s.Heading, Anchor: s.Anchor})
	}
	out.ContentHash = hex.EncodeToString(h.Sum(nil))
	return out
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
