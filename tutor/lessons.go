package tutor

import "context"

// LessonInfo is a lesson without its text: a line of a course's outline.
type LessonInfo struct {
	Course string
	Lesson string
	Stage  int
	Title  string
}

// LessonStore reads the ingested lessons for the learner web app. What a
// learner may read (verified email, enrolled, stage unlocked) is decided by
// the caller; the store only reads.
type LessonStore interface {
	// Lessons is a course's outline: every lesson, by stage, then in the
	// order of their files. ENOTFOUND when the course does not exist.
	Lessons(ctx context.Context, course string) ([]LessonInfo, error)
	// Lesson returns one lesson with its Markdown body (Sections empty);
	// ENOTFOUND when there is none.
	Lesson(ctx context.Context, course, lesson string) (Lesson, error)
}
