// Package faults takes parts of a real stack away and checks that the rest
// degrades the way docs/architecture.md says. It owns its stack: the tests
// stop components that other packages' tests need.
package faults

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/kit/token"
)

func TestMain(m *testing.M) {
	// TestPostgresRestartUnderLoad keeps four answers of one learner in
	// flight; the per-learner cap (2 by default) is not under test here.
	os.Setenv("TUTOR_CONCURRENT_ANSWERS_PER_USER", "10")
	e2etest.Main(m)
}

// Hydra goes away after the validator has its keys: tokens keep validating
// from the cache. A validator that starts while Hydra is away answers 503.
func TestHydraDown(t *testing.T) {
	st := e2etest.Need(t)
	ctx := context.Background()
	learner := e2etest.NewLearner(t, "")
	warm, err := token.New(token.Config{Issuer: st.URL("hydra")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Validate(ctx, learner.AccessToken); err != nil {
		t.Fatal(err)
	}

	if err := st.StopComponent("hydra"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Restart(context.Background(), "hydra"); err != nil {
			t.Fatalf("bringing Hydra back: %v", err)
		}
	})
	if u, err := warm.Validate(ctx, learner.AccessToken); err != nil || u.ID != learner.ID {
		t.Fatalf("with Hydra down a cached key must still validate: %v", err)
	}

	cold, err := token.New(token.Config{Issuer: st.URL("hydra")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cold.Validate(ctx, learner.AccessToken); !errors.Is(err, token.ErrKeysUnavailable) {
		t.Fatalf("no key ever fetched: want ErrKeysUnavailable, got %v", err)
	}
	h := token.RequireUser(cold)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("handler reached without keys")
	}))
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+learner.AccessToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("validator started while Hydra is down: %d %v", rec.Code, rec.Header())
	}

	// The tutor got its keys at start-up and stays ready.
	res, err := http.Get(st.URL("tutor") + "readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("tutor readyz with Hydra down: %d", res.StatusCode)
	}
}
