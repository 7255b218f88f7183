// Package web is the learner web app the tutor serves on its own origin:
// landing, course list, course and lesson pages rendered with html/template,
// and plain JavaScript modules (embedded, no build step) that sign the
// learner in as the public OAuth2 client tutor-web (authorization code with
// PKCE, tokens in memory only), fill in what depends on the learner through
// the tutor's API, and run the tutor widget over the ChatKit endpoint.
//
// Pages hold only what anyone may see (course and lesson titles); lesson
// text and everything about the learner come from the API with the Bearer
// token. cmd/tutor mounts Routes next to the API.
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/tutor"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config wires the web app.
type Config struct {
	Courses tutor.CourseStore
	Lessons tutor.LessonStore
	// Issuer is Hydra's public URL (the token issuer), which browsers reach
	// for authorization, tokens and logout.
	Issuer string
	// IssuerProbeURL is where the server itself reaches Hydra's public API
	// for the sign-in check; default Issuer (they differ in containers).
	IssuerProbeURL string
	// IdentityURL is the hosted login UI (the identity edge); empty hides
	// the links to its pages and skips its check.
	IdentityURL string
	// IdentityProbeURL is where the server itself checks the edge; default
	// IdentityURL.
	IdentityProbeURL string
	// ClientID is the public OAuth2 client (default tutor-web).
	ClientID string
	// Audience is what the app asks Hydra to put in its access tokens: the
	// tutor API's audience (default "tutor-api").
	Audience string
	// ProbeTimeout bounds each sign-in availability check (default 1.5 s).
	ProbeTimeout time.Duration
	Logger       *slog.Logger
}

// Handler serves the pages, the static files and the sign-in status.
type Handler struct {
	cfg     Config
	pages   map[string]*template.Template
	assets  map[string]*asset
	version string
	csp     string
	probe   *probe
}

type asset struct {
	body, gz    []byte
	contentType string
	etag        string
}

// New parses the templates and loads the static files.
func New(cfg Config) (*Handler, error) {
	if cfg.ClientID == "" {
		cfg.ClientID = "tutor-web"
	}
	if cfg.Audience == "" {
		cfg.Audience = "tutor-api"
	}
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = 1500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IssuerProbeURL == "" {
		cfg.IssuerProbeURL = cfg.Issuer
	}
	if cfg.IdentityProbeURL == "" {
		cfg.IdentityProbeURL = cfg.IdentityURL
	}
	for _, u := range []*string{&cfg.Issuer, &cfg.IssuerProbeURL, &cfg.IdentityURL, &cfg.IdentityProbeURL} {
		if *u != "" && !strings.HasSuffix(*u, "/") {
			*u += "/" // base URLs: paths are appended
		}
	}
	h := &Handler{cfg: cfg, pages: map[string]*template.Template{}}
	if err := h.loadAssets(); err != nil {
		return nil, err
	}
	funcs := template.FuncMap{"static": func(name string) string { return "/static/" + h.version + "/" + name }}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	for _, p := range []string{"landing", "courses", "course", "lesson", "callback", "notfound", "unavailable"} {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+p+".html")
		if err != nil {
			return nil, err
		}
		h.pages[p] = t
	}
	h.csp = contentSecurityPolicy(cfg.Issuer)
	h.probe = &probe{cfg: cfg, client: &http.Client{Timeout: cfg.ProbeTimeout}}
	return h, nil
}

// contentSecurityPolicy allows scripts, styles and connections only from
// the tutor itself (and Hydra's token endpoint), never inline: a lesson or
// an answer that got markup past the renderers still could not run script.
func contentSecurityPolicy(issuer string) string {
	hydra := ""
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		hydra = " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; " +
		"connect-src 'self'" + hydra + "; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"
}

// loadAssets reads the embedded static files, gzips them once and derives
// the version that names them in URLs (a hash of all), so they can be
// cached for good.
func (h *Handler) loadAssets() error {
	h.assets = map[string]*asset{}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, p := range names {
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		ct := mime.TypeByExtension(path.Ext(p))
		if strings.HasSuffix(p, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		fh := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "static/")
		h.assets[name] = &asset{body: body, gz: gz.Bytes(), contentType: ct, etag: `"` + hex.EncodeToString(fh[:8]) + `"`}
		sum.Write([]byte(name))
		sum.Write(fh[:])
	}
	h.version = hex.EncodeToString(sum.Sum(nil)[:6])
	return nil
}

// Routes mounts the app on r: pages, /static/, /callback and /web/status.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/", h.landing)
	r.Get("/courses", h.courseList)
	r.Get("/courses/{course}", h.coursePage)
	r.Get("/courses/{course}/{lesson}", h.lessonPage)
	r.Get("/callback", h.callback)
	r.Get("/static/{version}/*", h.static)
	r.Get("/web/status", h.status)
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	a := h.assets[chi.URLParam(r, "*")]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if chi.URLParam(r, "version") == h.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else { // an old page asking for an old version: serve today's, briefly
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Add("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		body = a.gz
	}
	_, _ = w.Write(body)
}

// page is what every template gets.
type page struct {
	Title  string
	Page   string
	Config appConfig
	// Course pages.
	Courses []courseCard
	Course  tutor.Course
	Stages  []stage
	// Lesson pages.
	Lesson tutor.LessonInfo
	// Error pages.
	Message string
}

// appConfig is handed to the JavaScript as data attributes of <body>.
type appConfig struct {
	Issuer, ClientID, Audience, IdentityURL string
}

type courseCard struct {
	tutor.Course
	Lessons int
}

type stage struct {
	Number  int
	Lessons []tutor.LessonInfo
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Page = name
	p.Config = appConfig{Issuer: h.cfg.Issuer, ClientID: h.cfg.ClientID, Audience: h.cfg.Audience, IdentityURL: h.cfg.IdentityURL}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.cfg.Logger.Error("render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	// Pages carry no personal data, but a stale page must not outlive a
	// new deployment's assets.
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders a store error as a page: 404 for a missing course or
// lesson, else "unavailable" (never a blank page).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if tutor.ErrorCode(err) == tutor.ENOTFOUND {
		h.render(w, r, http.StatusNotFound, "notfound", page{Title: "Not found", Message: "There is no such course or lesson."})
		return
	}
	h.cfg.Logger.Error("web page", "path", r.URL.Path, "request_id", server.RequestID(r.Context()), "error", err)
	h.render(w, r, http.StatusServiceUnavailable, "unavailable", page{Title: "Tutor unavailable"})
}

func (h *Handler) cards(ctx context.Context) ([]courseCard, error) {
	cs, err := h.cfg.Courses.Courses(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]courseCard, 0, len(cs))
	for _, c := range cs {
		ls, err := h.cfg.Lessons.Lessons(ctx, c.Course)
		if err != nil {
			return nil, err
		}
		out = append(out, courseCard{Course: c, Lessons: len(ls)})
	}
	return out, nil
}

func (h *Handler) landing(w http.ResponseWriter, r *http.Request) {
	cards, err := h.cards(r.Context())
	if err != nil {
		// The landing page still greets and offers sign-in without the catalogue.
		h.cfg.Logger.Error("landing: courses", "error", err)
		h.render(w, r, http.StatusOK, "landing", page{Title: "Learn with a tutor", Message: "unavailable"})
		return
	}
	h.render(w, r, http.StatusOK, "landing", page{Title: "Learn with a tutor", Courses: cards})
}

func (h *Handler) courseList(w http.ResponseWriter, r *http.Request) {
	cards, err := h.cards(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "courses", page{Title: "Courses", Courses: cards})
}

func (h *Handler) coursePage(w http.ResponseWriter, r *http.Request) {
	c, err := h.cfg.Courses.Course(r.Context(), chi.URLParam(r, "course"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ls, err := h.cfg.Lessons.Lessons(r.Context(), c.Course)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	stages := make([]stage, c.Stages)
	for i := range stages {
		stages[i].Number = i + 1
	}
	for _, l := range ls {
		if l.Stage >= 1 && l.Stage <= len(stages) {
			stages[l.Stage-1].Lessons = append(stages[l.Stage-1].Lessons, l)
		}
	}
	h.render(w, r, http.StatusOK, "course", page{Title: c.Title, Course: c, Stages: stages})
}

func (h *Handler) lessonPage(w http.ResponseWriter, r *http.Request) {
	c, err := h.cfg.Courses.Course(r.Context(), chi.URLParam(r, "course"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ls, err := h.cfg.Lessons.Lessons(r.Context(), c.Course)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := chi.URLParam(r, "lesson")
	for _, l := range ls {
		if l.Lesson == name {
			h.render(w, r, http.StatusOK, "lesson", page{Title: l.Title, Course: c, Lesson: l})
			return
		}
	}
	h.fail(w, r, tutor.Errorf(tutor.ENOTFOUND, "no lesson %q", name))
}

// callback is where Hydra sends the browser back with a code (or an
// error); the JavaScript exchanges it and moves on.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "callback", page{Title: "Signing in"})
}

// status tells the app whether sign-in can work now: Hydra's and the
// identity edge's readiness, checked from here, at most every few seconds.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	failing := h.probe.failing(r.Context())
	server.WriteJSON(w, http.StatusOK, map[string]any{
		"signin": map[string]any{"available": len(failing) == 0, "failing": failing},
	})
}

// probe checks the sign-in dependencies and remembers the answer briefly,
// so many browsers asking at once cost one check.
type probe struct {
	cfg    Config
	client *http.Client

	mu      sync.Mutex
	at      time.Time
	result  []string
	running chan struct{}
}

const probeTTL = 3 * time.Second

func (p *probe) failing(ctx context.Context) []string {
	p.mu.Lock()
	if time.Since(p.at) < probeTTL && p.result != nil {
		defer p.mu.Unlock()
		return p.result
	}
	if p.running == nil {
		p.running = make(chan struct{})
		go p.run()
	}
	running := p.running
	p.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return []string{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result
}

func (p *probe) run() {
	checks := map[string]string{"hydra": p.cfg.IssuerProbeURL + "health/ready"}
	if p.cfg.IdentityURL != "" {
		checks["identity"] = p.cfg.IdentityProbeURL + "readyz"
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	failing := []string{}
	for name, u := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.check(u); err != nil {
				mu.Lock()
				failing = append(failing, name)
				mu.Unlock()
				p.cfg.Logger.Warn("sign-in dependency unavailable", "name", name, "error", err)
			}
		}()
	}
	wg.Wait()
	sort.Strings(failing)
	p.mu.Lock()
	p.result, p.at = failing, time.Now()
	close(p.running)
	p.running = nil
	p.mu.Unlock()
}

func (p *probe) check(u string) error {
	res, err := p.client.Get(u)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return errors.New(res.Status)
	}
	return nil
}
