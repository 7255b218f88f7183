package fakeory

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Hydra is a fake of the two routes of Hydra's admin API the edge calls:
// DELETE /admin/oauth2/auth/sessions/login?subject= and
// DELETE /admin/oauth2/auth/sessions/consent?subject=&all=true (204 each,
// also when there was nothing to end, as Hydra v2.3.0 answers).
type Hydra struct {
	Admin *httptest.Server

	mu       sync.Mutex
	logins   []string // subjects whose login sessions were ended
	consents []string // subjects whose consent sessions were revoked
	fail     int
}

// NewHydra starts the fake, closed when the test ends.
func NewHydra(t testing.TB) *Hydra {
	h := &Hydra{}
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /admin/oauth2/auth/sessions/login", func(w http.ResponseWriter, r *http.Request) {
		subject := r.URL.Query().Get("subject")
		if subject == "" && r.URL.Query().Get("sid") == "" {
			hydraError(w, http.StatusBadRequest, "invalid_request", "Either 'subject' or 'sid' query parameters need to be defined.")
			return
		}
		h.mu.Lock()
		h.logins = append(h.logins, subject)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /admin/oauth2/auth/sessions/consent", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("subject") == "" {
			hydraError(w, http.StatusBadRequest, "invalid_request", "Query parameter 'subject' is not defined but should have been.")
			return
		}
		if q.Get("client") == "" && q.Get("all") != "true" {
			hydraError(w, http.StatusBadRequest, "invalid_request", "Query parameter both 'client' and 'all' is not defined but one of them should have been.")
			return
		}
		h.mu.Lock()
		h.consents = append(h.consents, q.Get("subject"))
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	h.Admin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		fail := h.fail
		h.mu.Unlock()
		if fail != 0 {
			hydraError(w, fail, "error", "the fake was told to fail")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Admin.Close)
	return h
}

// Fail makes every request answer status (0: answer normally).
func (h *Hydra) Fail(status int) { h.mu.Lock(); h.fail = status; h.mu.Unlock() }

// Ended lists the subjects whose login sessions and whose consent sessions
// were ended, in order.
func (h *Hydra) Ended() (logins, consents []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.logins...), append([]string(nil), h.consents...)
}

func hydraError(w http.ResponseWriter, status int, name, description string) {
	writeJSON(w, status, map[string]any{"error": name, "error_description": description})
}
