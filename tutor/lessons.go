package tutor

import (
	"context"

	"github.com/learnplatform/platform/kit/config"
)

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

// Web configures the learner web app the tutor serves.
type Web struct {
	// IdentityURL is the hosted login UI (the identity edge): the app links
	// to its registration and verification pages and checks it is up.
	IdentityURL config.URL `yaml:"identity_url"`
	// IdentityInternalURL is where the tutor itself checks the edge when
	// that differs from what browsers use (containers). Default: IdentityURL.
	IdentityInternalURL config.URL `yaml:"identity_internal_url"`
	// ClientID is the OAuth2 public client the app signs in as (default
	// tutor-web, ory-config/clients.yaml).
	ClientID string `yaml:"client_id"`
}
