package web

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/learnplatform/platform/consent/hydra"
	"github.com/learnplatform/platform/kit/kratos"
	"github.com/learnplatform/platform/kit/orytest"
)

const hookSecret = "0123456789abcdef-hook"

// harness drives the handlers through a router, with the real hydra and
// kratos clients talking to fakeory's Hydra and Kratos.
type harness struct {
	t      *testing.T
	hydra  *orytest.Hydra
	kratos *orytest.Kratos
	h      *Handler
	router chi.Router
	logs   *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	hs := &harness{t: t, hydra: orytest.NewHydra(t), kratos: orytest.NewKratos(t), logs: &bytes.Buffer{}}
	hs.hydra.AddClient(orytest.Client{ID: "tutor-web", Name: "Learning Platform", FirstParty: true, Public: true})
	hs.hydra.AddClient(orytest.Client{ID: "buddy", Name: "Study Buddy"})
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h, err := New(Options{
		Hydra:           hydra.New(hs.hydra.Admin.URL, hc),
		Kratos:          kratos.New(hs.kratos.Public.URL, hs.kratos.Admin.URL, hc),
		PublicURL:       mustURL("http://consent.test/"),
		LoginURL:        mustURL("http://login.test/login"),
		RememberFor:     720 * time.Hour,
		TokenHookSecret: hookSecret,
		Logger:          slog.New(slog.NewTextHandler(hs.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs.h = h
	hs.router = chi.NewRouter()
	h.Mount(hs.router)
	return hs
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func (hs *harness) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	hs.router.ServeHTTP(rec, req)
	if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusBadGateway {
		hs.t.Errorf("%s %s answered %d", req.Method, req.URL, rec.Code)
	}
	return rec
}

// get is a browser navigation to the consent app.
func (hs *harness) get(target, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://consent.test"+target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return hs.do(req)
}

// post is a same-origin form post from the consent app's own page.
func (hs *harness) post(target, cookie string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://consent.test"+target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", "http://consent.test")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return hs.do(req)
}

// user adds an identity with a live session and returns the identity id,
// the session and the browser's Cookie header.
func (hs *harness) user(i orytest.Identity, s orytest.Session) (string, orytest.Session, string) {
	if i.Email == "" {
		i.Email = "ada@example.org"
	}
	id := hs.kratos.AddIdentity(i)
	s.IdentityID = id
	s = hs.kratos.PutSession(s)
	return id, s, s.Cookie()
}

func location(t *testing.T, rec *httptest.ResponseRecorder) *url.URL {
	t.Helper()
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; body: %s", rec.Code, rec.Body)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func body(rec *httptest.ResponseRecorder) string { b, _ := io.ReadAll(rec.Body); return string(b) }
