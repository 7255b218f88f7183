package faults

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
)

// Kratos goes away: the hosted pages say sign-in is unavailable (503, never
// a blank page or a 500), API clients get the JSON error, readiness names
// Kratos; when it is back everything works again without a restart.
func TestKratosDown(t *testing.T) {
	st := e2etest.Need(t)
	if err := st.StopComponent("kratos"); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			st.Restart(context.Background(), "kratos")
		}
	})
	c := e2etest.NewClient(t)
	base := strings.TrimSuffix(c.Base, "/")
	for _, path := range []string{"/login", "/registration?flow=00000000-0000-0000-0000-000000000000", "/welcome", "/recovery"} {
		_, res := c.Follow(base+path, "")
		if res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "Sign-in is unavailable right now") || res.Header.Get("Retry-After") == "" {
			t.Fatalf("%s with Kratos down: %d %s", path, res.Status, res.Body)
		}
	}
	res := c.Do("GET", "/self-service/login/api", nil)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	res.JSON(t, &e)
	if res.Status != http.StatusServiceUnavailable || e.Error.Code != "unavailable" {
		t.Fatalf("API flow with Kratos down: %d %s", res.Status, res.Body)
	}
	ready := c.Do("GET", "/readyz", nil)
	if ready.Status != http.StatusServiceUnavailable || !strings.Contains(string(ready.Body), `"failing":["kratos"]`) {
		t.Fatalf("identity readyz: %d %s", ready.Status, ready.Body)
	}

	if err := st.Restart(context.Background(), "kratos"); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if res := c.Do("GET", "/self-service/login/api", nil); res.Status != http.StatusOK {
		t.Fatalf("after Kratos is back: %d %s", res.Status, res.Body)
	}
	email := e2etest.UniqueEmail("after-kratos")
	c.Register(email, e2etest.StrongPassword, "")
	if tok, _ := e2etest.NewClient(t).Login(email, e2etest.StrongPassword); tok == "" {
		t.Fatal("sign-in after Kratos came back")
	}
}
