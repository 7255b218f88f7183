// Package api serves the tutor's JSON API next to the ChatKit endpoint:
// GET /api/v1/me (role, verification and message quota), courses and
// enrollments, and the reports for staff (usage for admins as JSON or CSV,
// feedback by lesson section for instructors and admins). Every route sits
// behind kit/token's RequireUser; cmd/tutor mounts Routes.
package api

import (
	"github.com/learnplatform/platform/kit/account"

	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/kit/token"
	"github.com/learnplatform/platform/tutor"
)

// API holds what the handlers use.
type API struct {
	Threads       tutor.ThreadStore
	Courses       tutor.CourseStore
	Reports       tutor.ReportStore
	Lessons       tutor.LessonStore
	DailyMessages int
	Logger        *slog.Logger
}

// Routes mounts the API on r (already behind RequireUser).
func (a *API) Routes(r chi.Router) {
	r.Get("/me", a.me)
	r.Get("/courses", a.courses)
	r.With(token.RequireVerifiedEmail).Post("/courses/{course}/enroll", a.enroll)
	r.With(token.RequireVerifiedEmail).Post("/courses/{course}/stages/{stage}/complete", a.completeStage)
	r.With(token.RequireVerifiedEmail).Get("/courses/{course}/lessons/{lesson}", a.lesson)
	r.Route("/admin", func(r chi.Router) {
		r.With(token.RequireRole(account.RoleAdmin)).Get("/usage", a.usage)
		r.With(token.RequireRole(account.RoleInstructor, account.RoleAdmin)).Get("/feedback", a.feedback)
		r.With(token.RequireRole(account.RoleInstructor, account.RoleAdmin)).Put("/enrollments/{user_id}/{course}", a.setEnrollment)
	})
}

// fail answers err in the platform's error shape, mapping the domain's
// codes to statuses here and nowhere else in this package.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := tutor.ErrorCode(err)
	st := http.StatusInternalServerError
	switch code {
	case tutor.EINVALID, tutor.EUNSUPPORTED:
		st = http.StatusBadRequest
	case tutor.ETOOLARGE:
		st = http.StatusRequestEntityTooLarge
	case tutor.EUNAUTHORIZED, tutor.EUNVERIFIED:
		st = http.StatusForbidden
	case tutor.ENOTFOUND:
		st = http.StatusNotFound
	case tutor.ECONFLICT:
		st = http.StatusConflict
	case tutor.ERATELIMITED:
		st = http.StatusTooManyRequests
	case tutor.EUNAVAILABLE:
		st = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	if st == http.StatusInternalServerError && a.Logger != nil {
		a.Logger.Error("api request failed", "path", r.URL.Path, "request_id", server.RequestID(r.Context()), "error", err)
	}
	server.WriteError(w, st, code, tutor.ErrorMessage(err))
}

func caller(r *http.Request) (account.User, token.User) {
	u, _ := token.UserFrom(r.Context())
	return account.User{ID: u.ID, Role: u.Role}, u
}

// Me is GET /api/v1/me.
type Me struct {
	UserID        string       `json:"user_id"`
	Email         string       `json:"email,omitempty"`
	Name          string       `json:"name,omitempty"`
	Role          string       `json:"role"`
	EmailVerified bool         `json:"email_verified"`
	Exempt        bool         `json:"exempt"`
	Limit         *int         `json:"limit"`
	Remaining     *int         `json:"remaining"`
	ResetsAt      *time.Time   `json:"resets_at"`
	Enrollments   []Enrollment `json:"enrollments"`
}

// Enrollment is an enrollment as the API shows it.
type Enrollment struct {
	Course        string     `json:"course"`
	UnlockedStage int        `json:"unlocked_stage"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	EndedAt       *time.Time `json:"ended_at"`
}

func enrollmentJSON(e tutor.Enrollment) Enrollment {
	return Enrollment{Course: e.Course, UnlockedStage: e.UnlockedStage, EnrolledAt: e.EnrolledAt, EndedAt: e.EndedAt}
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	c, u := caller(r)
	out := Me{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified, Exempt: c.Staff(), Enrollments: []Enrollment{}}
	if !c.Staff() {
		qs, err := a.Threads.QuotaState(r.Context(), c.ID, tutor.Quota{Limit: a.DailyMessages, Window: tutor.QuotaWindow})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out.Limit, out.Remaining = &qs.Limit, &qs.Remaining
		if !qs.ResetsAt.IsZero() {
			t := qs.ResetsAt.UTC()
			out.ResetsAt = &t
		}
	}
	es, err := a.Courses.Enrollments(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, e := range es {
		out.Enrollments = append(out.Enrollments, enrollmentJSON(e))
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// CourseInfo is a course in GET /api/v1/courses.
type CourseInfo struct {
	Course     string      `json:"course"`
	Title      string      `json:"title"`
	Stages     int         `json:"stages"`
	Enrollment *Enrollment `json:"enrollment"`
}

func (a *API) courses(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	cs, err := a.Courses.Courses(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	es, err := a.Courses.Enrollments(r.Context(), c.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]CourseInfo, 0, len(cs))
	for _, co := range cs {
		ci := CourseInfo{Course: co.Course, Title: co.Title, Stages: co.Stages}
		for _, e := range es {
			if e.Course == co.Course {
				ej := enrollmentJSON(e)
				ci.Enrollment = &ej
			}
		}
		out = append(out, ci)
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"courses": out})
}

// catalog is GET /api/v1/integrations/courses: the course list for
// integrators' services, which call with their own client_credentials
// token (scope courses.read) and see no learner's state.
func (a *API) catalog(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Courses.Courses(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]CourseInfo, 0, len(cs))
	for _, co := range cs {
		out = append(out, CourseInfo{Course: co.Course, Title: co.Title, Stages: co.Stages})
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"courses": out})
}

// IntegratorRoutes mounts the routes that take an integrator's own token
// (client_credentials), each with the scopes it needs, on r.
func (a *API) IntegratorRoutes(r chi.Router, v *token.Validator) {
	r.With(token.RequireClient(v, "courses.read")).Get("/integrations/courses", a.catalog)
}

func (a *API) enroll(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	e, err := a.Courses.Enroll(r.Context(), c.ID, chi.URLParam(r, "course"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, enrollmentJSON(e))
}

func (a *API) completeStage(w http.ResponseWriter, r *http.Request) {
	c, _ := caller(r)
	stage, err := strconv.Atoi(chi.URLParam(r, "stage"))
	if err != nil || stage < 1 {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "the stage must be a number from 1"))
		return
	}
	e, err := a.Courses.CompleteStage(r.Context(), c.ID, chi.URLParam(r, "course"), stage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, enrollmentJSON(e))
}

// setEnrollmentBody is PUT /api/v1/admin/enrollments/{user_id}/{course}.
type setEnrollmentBody struct {
	UnlockedStage *int `json:"unlocked_stage"`
	Ended         bool `json:"ended"`
}

func (a *API) setEnrollment(w http.ResponseWriter, r *http.Request) {
	var body setEnrollmentBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "the body must be {\"unlocked_stage\": N, \"ended\": false}: %s", err))
		return
	}
	if body.UnlockedStage == nil {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "unlocked_stage is required"))
		return
	}
	e, err := a.Courses.SetEnrollment(r.Context(), chi.URLParam(r, "user_id"), chi.URLParam(r, "course"), *body.UnlockedStage, body.Ended)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, enrollmentJSON(e))
}

// maxUsageDays bounds one usage report.
const maxUsageDays = 366

func parseDay(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return t, tutor.Errorf(tutor.EINVALID, "%s must be a date like 2026-01-31", name)
	}
	return t, nil
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	to, err := parseDay("to", q.Get("to"), today)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	from, err := parseDay("from", q.Get("from"), to.AddDate(0, 0, -29))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if from.After(to) {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "from is after to"))
		return
	}
	if to.Sub(from) > maxUsageDays*24*time.Hour {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "at most %d days per report", maxUsageDays))
		return
	}
	days, err := a.Reports.Usage(r.Context(), tutor.UsageFilter{From: from, To: to, UserID: q.Get("user_id")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if q.Get("format") == "csv" || (q.Get("format") == "" && strings.Contains(r.Header.Get("Accept"), "text/csv")) {
		writeUsageCSV(w, days)
		return
	}
	if f := q.Get("format"); f != "" && f != "json" && f != "csv" {
		a.fail(w, r, tutor.Errorf(tutor.EINVALID, "format must be json or csv"))
		return
	}
	type row struct {
		Day string `json:"day"`
		tutor.UsageDay
	}
	out := make([]row, 0, len(days))
	for _, d := range days {
		out = append(out, row{Day: d.Day.Format(time.DateOnly), UsageDay: d})
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{
		"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "usage": out,
	})
}

func writeUsageCSV(w http.ResponseWriter, days []tutor.UsageDay) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="ai_usage_metric.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"day", "user_id", "messages", "errors", "avg_first_token_ms", "avg_response_ms", "total_response_ms", "tokens_in", "tokens_out"})
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, d := range days {
		_ = cw.Write([]string{d.Day.Format(time.DateOnly), d.UserID, i(int64(d.Messages)), i(int64(d.Errors)),
			i(d.AvgFirstTokenMS), i(d.AvgResponseMS), i(d.TotalResponseMS), i(d.TokensIn), i(d.TokensOut)})
	}
	cw.Flush()
}

func (a *API) feedback(w http.ResponseWriter, r *http.Request) {
	course := r.URL.Query().Get("course")
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			a.fail(w, r, tutor.Errorf(tutor.EINVALID, "limit must be a number from 1 to 200"))
			return
		}
		limit = n
	}
	rows, err := a.Reports.WorstSections(r.Context(), course, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if rows == nil {
		rows = []tutor.SectionFeedback{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"course": course, "sections": rows})
}
