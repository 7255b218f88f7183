package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/content"
)

// LessonBody is GET /api/v1/courses/{course}/lessons/{lesson}: the lesson
// rendered to HTML on the server (goldmark, raw HTML never passed through)
// and its headings.
type LessonBody struct {
	Course      string            `json:"course"`
	CourseTitle string            `json:"course_title"`
	Lesson      string            `json:"lesson"`
	Title       string            `json:"title"`
	Stage       int               `json:"stage"`
	HTML        string            `json:"html"`
	Headings    []content.Heading `json:"headings"`
}

// lesson answers a lesson's content to a verified learner enrolled in its
// course at its stage or beyond (staff read every lesson): 403
// email_not_verified before verification (RequireVerifiedEmail), 409 without
// an active enrollment, 403 unauthorized for a stage still locked.
func (a *API) lesson(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	course, name := chi.URLParam(r, "course"), chi.URLParam(r, "lesson")
	l, err := a.Lessons.Lesson(r.Context(), course, name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !c.Staff() {
		e, err := a.Courses.Enrollment(r.Context(), c.ID, course)
		switch {
		case tutor.ErrorCode(err) == tutor.ENOTFOUND:
			a.fail(w, r, tutor.Errorf(tutor.ECONFLICT, "you are not enrolled in %q; start the course first", course))
			return
		case err != nil:
			a.fail(w, r, err)
			return
		case !e.Active():
			a.fail(w, r, tutor.Errorf(tutor.ECONFLICT, "your enrollment in %q has ended; enrol again to read it", course))
			return
		case l.Stage > e.UnlockedStage:
			a.fail(w, r, tutor.Errorf(tutor.EUNAUTHORIZED, "stage %d is locked: complete stage %d first", l.Stage, e.UnlockedStage))
			return
		}
	}
	html, heads, err := content.Render(l.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if heads == nil {
		heads = []content.Heading{}
	}
	w.Header().Set("Cache-Control", "no-store")
	server.WriteJSON(w, http.StatusOK, LessonBody{
		Course: l.Course, CourseTitle: l.CourseTitle, Lesson: l.Lesson, Title: l.Title, Stage: l.Stage, HTML: html, Headings: heads,
	})
}
