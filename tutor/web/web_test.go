package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/tutor"
)

// stores is an in-memory CourseStore and LessonStore: only what the pages read.
type stores struct {
	tutor.CourseStore
	courses []tutor.Course
	lessons []tutor.LessonInfo
	down    bool
}

func (s *stores) Courses(context.Context) ([]tutor.Course, error) {
	if s.down {
		return nil, errors.New("connection refused")
	}
	return s.courses, nil
}

func (s *stores) Course(_ context.Context, c string) (tutor.Course, error) {
	if s.down {
		return tutor.Course{}, errors.New("connection refused")
	}
	for _, co := range s.courses {
		if co.Course == c {
			return co, nil
		}
	}
	return tutor.Course{}, tutor.Errorf(tutor.ENOTFOUND, "no course")
}

func (s *stores) Lessons(_ context.Context, c string) ([]tutor.LessonInfo, error) {
	var out []tutor.LessonInfo
	for _, l := range s.lessons {
		if l.Course == c {
			out = append(out, l)
		}
	}
	return out, nil
}

func (s *stores) Lesson(context.Context, string, string) (tutor.Lesson, error) {
	return tutor.Lesson{}, errors.New("pages never read lesson text")
}

func newTestApp(t *testing.T, st *stores, hydra, identity string) http.Handler {
	t.Helper()
	h, err := New(Config{Courses: st, Lessons: st, Issuer: hydra, IdentityURL: identity})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	h.Routes(r)
	return r
}

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

var sample = &stores{
	courses: []tutor.Course{{Course: "go-basics", Title: "Go <basics>", Stages: 2}},
	lessons: []tutor.LessonInfo{
		{Course: "go-basics", Lesson: "values", Stage: 1, Title: "Values"},
		{Course: "go-basics", Lesson: "loops", Stage: 2, Title: "Loops & <b>more</b>"},
	},
}

func TestPages(t *testing.T) {
	h := newTestApp(t, sample, "http://127.0.0.1:4444/", "http://127.0.0.1:4455/")
	for _, tc := range []struct {
		path, page string
		status     int
		want       []string
	}{
		{"/", "landing", 200, []string{`href="/courses/go-basics"`, `href="http://127.0.0.1:4455/registration"`}},
		{"/courses", "courses", 200, []string{`data-course="go-basics"`, "Go &lt;basics&gt;", "2 stages · 2 lessons"}},
		{"/courses/go-basics", "course", 200, []string{`data-stage="1"`, `data-stage="2"`, `href="/courses/go-basics/loops"`, "Loops &amp; &lt;b&gt;more&lt;/b&gt;"}},
		{"/courses/go-basics/loops", "lesson", 200, []string{`data-lesson="loops"`, `data-stage="2"`, `id="tutor-panel"`, `id="ask-ai"`}},
		{"/courses/nope", "notfound", 404, nil},
		{"/courses/go-basics/nope", "notfound", 404, nil},
		{"/callback?code=x&state=y", "callback", 200, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := get(t, h, tc.path)
			b := body(t, res)
			if res.StatusCode != tc.status || !strings.Contains(b, `data-page="`+tc.page+`"`) {
				t.Fatalf("%d, page %q:\n%s", res.StatusCode, tc.page, b)
			}
			for _, w := range append(tc.want, `data-issuer="http://127.0.0.1:4444/"`, `data-client-id="tutor-web"`) {
				if !strings.Contains(b, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			csp := res.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:4444;") {
				t.Errorf("CSP %q", csp)
			}
			if strings.Contains(b, "<b>") {
				t.Error("a title's markup reached the page unescaped")
			}
		})
	}
}

// A database that is down gives a page that says so, never a blank one.
func TestPagesWithTheDatabaseDown(t *testing.T) {
	h := newTestApp(t, &stores{down: true}, "http://127.0.0.1:4444/", "")
	res := get(t, h, "/courses")
	if b := body(t, res); res.StatusCode != 503 || !strings.Contains(b, "The tutor is unavailable") {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	res = get(t, h, "/")
	if b := body(t, res); res.StatusCode != 200 || !strings.Contains(b, "catalogue is unavailable") || !strings.Contains(b, "data-signin") {
		t.Fatalf("landing with the database down: %d %s", res.StatusCode, b)
	}
}

func TestStaticFiles(t *testing.T) {
	app, err := New(Config{Courses: sample, Lessons: sample, Issuer: "http://h/"})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	app.Routes(r)
	res := get(t, r, "/static/"+app.version+"/app.js", "Accept-Encoding", "gzip")
	if res.StatusCode != 200 || res.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("%d %v", res.StatusCode, res.Header)
	}
	etag := res.Header.Get("ETag")
	if res := get(t, r, "/static/"+app.version+"/app.js", "If-None-Match", etag); res.StatusCode != 304 {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
	if res := get(t, r, "/static/old/app.js"); res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("an old version: %d %v", res.StatusCode, res.Header)
	}
	if res := get(t, r, "/static/"+app.version+"/nope.js"); res.StatusCode != 404 {
		t.Fatalf("missing file: %d", res.StatusCode)
	}
}

// /web/status names the sign-in dependencies that do not answer ready.
func TestSignInStatus(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" && r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(200)
	}))
	defer ready.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer failing.Close()

	for _, tc := range []struct {
		name, hydra, identity, want string
	}{
		{"all up", ready.URL, ready.URL, `{"signin":{"available":true,"failing":[]}}`},
		{"identity down", ready.URL, failing.URL, `{"signin":{"available":false,"failing":["identity"]}}`},
		{"hydra unreachable", "http://127.0.0.1:1", ready.URL, `{"signin":{"available":false,"failing":["hydra"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestApp(t, sample, tc.hydra, tc.identity)
			res := get(t, h, "/web/status")
			if b := strings.TrimSpace(body(t, res)); b != tc.want {
				t.Fatalf("%s, want %s", b, tc.want)
			}
		})
	}
}

// In containers the server checks Hydra and the edge at internal addresses
// while the pages send browsers to the public ones.
func TestSignInStatusAtInternalURLs(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer ready.Close()
	unreachable := "http://127.0.0.1:1/"
	h, err := New(Config{Courses: sample, Lessons: sample,
		Issuer: unreachable, IssuerProbeURL: ready.URL,
		IdentityURL: unreachable, IdentityProbeURL: ready.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	h.Routes(r)
	if b := strings.TrimSpace(body(t, get(t, r, "/web/status"))); b != `{"signin":{"available":true,"failing":[]}}` {
		t.Fatalf("probed the public URLs: %s", b)
	}
	if page := body(t, get(t, r, "/")); !strings.Contains(page, unreachable) || strings.Contains(page, ready.URL) {
		t.Fatalf("the page must name the public URLs only")
	}
}
