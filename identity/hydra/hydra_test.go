package hydra

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeHydra answers Hydra's two session routes as v2.3.0 does, recording
// the calls; answer can replace its answer per path.
type fakeHydra struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []string
	answer map[string]func(w http.ResponseWriter)
}

func newFakeHydra(t *testing.T) *fakeHydra {
	f := &fakeHydra{answer: map[string]func(http.ResponseWriter){}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		answer := f.answer[r.URL.Path]
		f.mu.Unlock()
		if answer != nil {
			answer(w)
			return
		}
		q := r.URL.Query()
		switch {
		case r.Method != http.MethodDelete:
			w.WriteHeader(http.StatusMethodNotAllowed)
		case r.URL.Path == "/admin/oauth2/auth/sessions/login" && q.Get("subject") != "":
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/admin/oauth2/auth/sessions/consent" && q.Get("subject") != "" && q.Get("all") == "true":
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(r.URL.Path, "/admin/oauth2/auth/sessions/"):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_request","error_description":"Query parameter 'subject' is not defined but should have been."}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

const subject = "8f2c1e9a-4b7d-4c21-9e55-0a1b2c3d4e5f"

func TestEndSessionsCallsBothRoutes(t *testing.T) {
	f := newFakeHydra(t)
	c, err := New(f.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EndSessions(context.Background(), subject); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"DELETE /admin/oauth2/auth/sessions/login?subject=" + subject,
		"DELETE /admin/oauth2/auth/sessions/consent?all=true&subject=" + subject,
	}
	if strings.Join(f.calls, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(f.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestAnswers(t *testing.T) {
	hydraJSON := func(status int, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(body))
		}
	}
	for _, c := range []struct {
		name        string
		answer      func(http.ResponseWriter)
		ok, unavail bool
	}{
		{"nothing to end (Hydra's 404)", hydraJSON(404, `{"error":"Unable to locate the resource"}`), true, false},
		{"not Hydra (a bare 404: wrong admin_url)", func(w http.ResponseWriter) { w.WriteHeader(404) }, false, true},
		{"server error", hydraJSON(500, `{"error":"error","error_description":"database down"}`), false, true},
		{"bad request", hydraJSON(400, `{"error":"invalid_request","error_description":"bad subject"}`), false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeHydra(t)
			f.answer["/admin/oauth2/auth/sessions/consent"] = c.answer
			cl, _ := New(f.URL, nil)
			err := cl.EndSessions(context.Background(), subject)
			if c.ok != (err == nil) || c.unavail != errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %v", err)
			}
			if len(f.calls) != 2 {
				t.Fatalf("both routes are tried: %v", f.calls)
			}
			if err != nil && !strings.Contains(err.Error(), "sessions/consent") {
				t.Fatalf("the error does not name the route: %v", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	f := newFakeHydra(t)
	f.Close()
	c, _ := New(f.URL, nil)
	if err := c.EndSessions(context.Background(), subject); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
}

func TestAdminURLWithPath(t *testing.T) {
	f := newFakeHydra(t)
	c, _ := New(f.URL+"/hydra", nil)
	_ = c.RevokeLoginSessions(context.Background(), subject)
	if len(f.calls) != 1 || !strings.HasPrefix(f.calls[0], "DELETE /hydra/admin/oauth2/auth/sessions/login?") {
		t.Fatalf("calls: %v", f.calls)
	}
}

func TestRefusesBadInput(t *testing.T) {
	if _, err := New("hydra:4445", nil); err == nil {
		t.Fatal("accepted a URL without scheme")
	}
	f := newFakeHydra(t)
	c, _ := New(f.URL, nil)
	if err := c.EndSessions(context.Background(), ""); err == nil || len(f.calls) != 0 {
		t.Fatalf("an empty subject: %v, calls %v", err, f.calls)
	}
}
