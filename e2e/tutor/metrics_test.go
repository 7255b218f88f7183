package tutor

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/tutor/internal/ck"
)

// The tutor exports what operators watch: streams, answers, first-token
// time and refused messages, next to the HTTP metrics.
func TestMetrics(t *testing.T) {
	l := ck.Verified(t, "")
	c := ck.For(t, l)
	if res := c.Do(t, ck.Create("What is a zero value?", metadata())); res.Status != 200 {
		t.Fatalf("message: %d", res.Status)
	}
	c.Do(t, ck.Create(strings.Repeat("x", 64<<10), metadata())) // refused: too large
	res, err := http.Get(e2etest.Need(t).URL("tutor") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"tutor_open_streams ", `tutor_answers_total{outcome="done"}`, "tutor_first_token_seconds_count",
		`tutor_message_refusals_total{code="too_large"}`, "token_validations_total", "http_requests_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
