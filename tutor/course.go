package tutor

import (
	"context"
	"time"
)

// Course is a set of lessons in numbered stages.
type Course struct {
	// Course is the slug, e.g. "go-basics".
	Course string
	Title  string
	// Stages is the highest stage of any lesson.
	Stages int
}

// Lesson is one Markdown file of course material.
type Lesson struct {
	Course string
	// CourseTitle, when the file names one, titles the course.
	CourseTitle string
	Lesson      string
	Stage       int
	Title       string
	// Source is the file the lesson came from, relative to the content folder.
	Source string
	// Body is the Markdown after the front matter.
	Body string
	// Sections are the lesson split at its headings, in order.
	Sections []Section
}

// Section is one retrievable part of a lesson.
type Section struct {
	// Heading is the section's heading text (the lesson title for the
	// part before the first heading).
	Heading string
	// Anchor is the heading's URL fragment.
	Anchor string
	// Text is the section's Markdown.
	Text string
}

// Passage is a section returned by a Retriever.
type Passage struct {
	Course      string
	Lesson      string
	LessonTitle string
	Stage       int
	Section     string
	Anchor      string
	Text        string
	// Rank orders passages, higher first; comparable within one result only.
	Rank float64
}

// Ref is the passage's SourceRef.
func (p Passage) Ref() SourceRef {
	return SourceRef{Course: p.Course, Lesson: p.Lesson, Section: p.Section, Anchor: p.Anchor, Title: p.LessonTitle, Stage: p.Stage}
}

// RetrievalQuery asks for material of one course up to a stage.
type RetrievalQuery struct {
	Course string
	// MaxStage is the learner's unlocked stage; nothing above it may come back.
	MaxStage int
	// Text is what to look for (the learner's question).
	Text string
	// Limit is how many passages at most.
	Limit int
}

// Retriever finds course material. Implementations must return nothing
// above MaxStage; the tutor checks again (Allowed) before using a passage.
type Retriever interface {
	Retrieve(ctx context.Context, q RetrievalQuery) ([]Passage, error)
}

// Allowed drops passages outside the query's course or above its stage:
// the host's own check, whatever the retriever did.
func Allowed(q RetrievalQuery, ps []Passage) []Passage {
	out := ps[:0:0]
	for _, p := range ps {
		if p.Course == q.Course && p.Stage >= 1 && p.Stage <= q.MaxStage {
			out = append(out, p)
		}
	}
	return out
}

// Enrollment is a learner's place in a course.
type Enrollment struct {
	UserID        string
	Course        string
	UnlockedStage int
	EnrolledAt    time.Time
	// EndedAt is set when the enrollment ended; threads about the course
	// are deleted a retention period later.
	EndedAt *time.Time
}

// Active reports whether the enrollment has not ended.
func (e Enrollment) Active() bool { return e.EndedAt == nil }

// CourseStore keeps courses, lessons and enrollments.
type CourseStore interface {
	// Courses lists every course.
	Courses(ctx context.Context) ([]Course, error)
	// Course returns one course, ENOTFOUND when there is none.
	Course(ctx context.Context, course string) (Course, error)
	// Enrollment returns the user's enrollment, ENOTFOUND when none.
	Enrollment(ctx context.Context, userID, course string) (Enrollment, error)
	// Enrollments lists the user's enrollments.
	Enrollments(ctx context.Context, userID string) ([]Enrollment, error)
	// Enroll enrolls the user at stage 1, or returns the existing
	// enrollment (an ended one is reopened at its stage).
	Enroll(ctx context.Context, userID, course string) (Enrollment, error)
	// CompleteStage unlocks stage+1 when stage is the learner's unlocked
	// stage and below the course's last; ECONFLICT otherwise.
	CompleteStage(ctx context.Context, userID, course string, stage int) (Enrollment, error)
	// SetEnrollment sets a learner's stage and whether the enrollment has
	// ended (staff only; the caller checks the role).
	SetEnrollment(ctx context.Context, userID, course string, stage int, ended bool) (Enrollment, error)
	// Ingest stores lessons, replacing what changed, and removes lessons
	// of the ingested courses that are not in lessons any more. Running it
	// twice on the same lessons changes nothing.
	Ingest(ctx context.Context, lessons []Lesson) (IngestReport, error)
}

// IngestReport counts what Ingest did.
type IngestReport struct {
	Courses, Added, Updated, Unchanged, Removed int
}
