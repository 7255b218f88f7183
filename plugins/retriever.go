package plugins

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Query asks a retriever for material of one course up to a stage.
type Query struct {
	// Text is what to look for: the learner's question or the model's
	// search terms. May be empty (then nothing is found).
	Text string
	// Course is the course slug; nothing of another course may come back.
	Course string
	// MaxStage is the learner's unlocked stage; nothing above it may come
	// back. The host checks again, whatever the plugin does.
	MaxStage int
	// TopK is how many chunks at most (>= 1).
	TopK int
}

// Chunk is one retrievable piece of course material, a lesson section.
type Chunk struct {
	// ID is stable: the same section always has the same id (the host
	// makes it "course/lesson#anchor").
	ID string
	// Text is the section's Markdown.
	Text string
	// Source is where the chunk came from, e.g. the lesson's file.
	Source string
	Course string
	// Stage is the lesson's stage (>= 1).
	Stage  int
	Lesson string
	// Title is the lesson's title; Section and Anchor the section heading
	// and its URL fragment.
	Title, Section, Anchor string
	// Score orders search results, higher first; comparable within one
	// result only.
	Score float64
}

// Validate reports what makes a chunk unusable: no id or text, no course or
// lesson, a stage below 1, a score that is not a finite number, or text
// that is not UTF-8.
func (c Chunk) Validate() error {
	switch {
	case c.ID == "":
		return errors.New("chunk without id")
	case c.Text == "":
		return fmt.Errorf("chunk %q without text", c.ID)
	case c.Course == "" || c.Lesson == "":
		return fmt.Errorf("chunk %q without course or lesson", c.ID)
	case c.Stage < 1:
		return fmt.Errorf("chunk %q with stage %d", c.ID, c.Stage)
	case math.IsNaN(c.Score) || math.IsInf(c.Score, 0):
		return fmt.Errorf("chunk %q with score %v", c.ID, c.Score)
	case !utf8.ValidString(c.Text) || !utf8.ValidString(c.ID):
		return fmt.Errorf("chunk %q is not UTF-8", c.ID)
	}
	return nil
}

// Retriever finds course material. Search must return at most q.TopK
// chunks, none of another course or above q.MaxStage, best first; an empty
// q.Text finds nothing. It must honour ctx's deadline and cancellation.
type Retriever interface {
	Search(ctx context.Context, q Query) ([]Chunk, error)
}

// Lesson is one lesson with its chunks, as ingested.
type Lesson struct {
	Course, Lesson string
	Stage          int
	Title, Source  string
	// ContentHash covers everything about the lesson; a retriever may skip
	// a lesson whose hash it already holds.
	ContentHash string
	Chunks      []Chunk
}

// IngestReport counts what Ingest did.
type IngestReport struct {
	Added, Updated, Unchanged, Removed int
}

// Ingester is a Retriever that can be fed by `tutor ingest`. Ingest makes
// the retriever's copy of course exactly lessons: new ones added, changed
// ones (by ContentHash) replaced, missing ones removed; an empty lessons
// removes the course. Running it twice with the same lessons changes
// nothing the second time.
type Ingester interface {
	Ingest(ctx context.Context, course string, lessons []Lesson) (IngestReport, error)
}

// Configurer is implemented by plugins that take configuration. The host
// passes the `config` block of the plugin's declaration as JSON once after
// every start, before any other call. An error stops the plugin's start.
// A plugin that does not implement it refuses any non-empty configuration.
type Configurer interface {
	Configure(ctx context.Context, config []byte) error
}

// HealthChecker is implemented by plugins whose readiness depends on
// something (a database, a server). Without it a running plugin is healthy.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// ErrUnsupported is returned by a plugin client for an optional call the
// plugin does not implement (Ingest on a read-only retriever).
var ErrUnsupported = errors.New("not supported by this plugin")
