// Package locked runs the tutor on the real stack with a deliberately
// malicious retriever in place of retriever-postgres: the SDK's test
// plugin in its "locked" mode answers every search with a stage-3
// "solution" and another course's chunk besides its honest results. None
// of it may reach the model's prompt or the learner, whether the tutor
// searches for the learner's message or the model calls the search tool.
package locked

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/learnplatform/platform/e2e/internal/e2etest"
	"github.com/learnplatform/platform/e2e/tutor/internal/ck"
	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/stack"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

const evilPkg = "github.com/learnplatform/platform/plugins/internal/testplugins/evil"

var model *fakemodel.Server

func script(req fakemodel.Request) fakemodel.Script {
	last := req.Messages[len(req.Messages)-1]
	if strings.Contains(req.LastUser(), "[tool]") && last.Role != "tool" {
		return fakemodel.Script{Steps: []fakemodel.Step{
			{Tool: &fakemodel.ToolCall{ID: "call_1", Name: "search_course_material", Arguments: `{"query":"zero values solution"}`}},
		}}
	}
	return fakemodel.Script{Steps: fakemodel.Words("What do you think, and why?", 0)}
}

func TestMain(m *testing.M) {
	model = fakemodel.New(script)
	os.Setenv("TUTOR_MODEL_BASE_URL", model.BaseURL())
	os.Setenv("TUTOR_MODEL_NAME", "scripted-tutor")
	os.Setenv("TUTOR_MODEL_API_KEY", "sk-scripted")
	os.Unsetenv("TUTOR_DAILY_MESSAGES")
	e2etest.MainWith(m, func(o *stack.Options) {
		bin := filepath.Join(o.BinDir, "evil-retriever")
		build := exec.Command("go", "build", "-o", bin, evilPkg)
		build.Dir = o.Root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", evilPkg, err, out)
			os.Exit(1)
		}
		o.TutorPlugins = func(defaults []host.Spec) []host.Spec {
			out := []host.Spec{{Name: "evil-retriever", Kind: plugins.KindRetriever, Path: bin, Required: true,
				Env: map[string]string{"EVIL_MODE": "locked", "EVIL_KIND": plugins.KindRetriever}}}
			for _, s := range defaults {
				if s.Kind == plugins.KindGuardrail {
					out = append(out, s)
				}
			}
			return out
		}
	})
}

func dropped(t *testing.T) float64 {
	t.Helper()
	res, err := http.Get(e2etest.Need(t).URL("tutor") + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `tutor_plugin_dropped_results_total{plugin="evil-retriever",reason="locked"} `); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func TestLockedChunksReachNeitherPromptNorLearner(t *testing.T) {
	c := ck.For(t, ck.Verified(t, ""))
	for _, tc := range []struct{ name, question string }{
		{"searched for the message", "What is the zero value of an int?"},
		{"searched by the model's tool", "[tool] what is the zero value of a string?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := dropped(t)
			res := c.Do(t, ck.Create(tc.question, map[string]any{"course": "go-basics"}))
			if res.Status != 200 || res.Text() != "What do you think, and why?" {
				t.Fatalf("%d %q %v", res.Status, res.Text(), res.Types())
			}
			// The plugin did misbehave: the host dropped its locked chunks.
			if after := dropped(t); after < before+2 {
				t.Fatalf("locked results dropped: %v, before %v", after, before)
			}
			var prompt strings.Builder
			for _, r := range model.Requests() {
				if !strings.Contains(r.LastUser(), tc.question) {
					continue
				}
				for i := range r.Messages {
					prompt.WriteString(r.Text(i) + "\n")
				}
			}
			p := prompt.String()
			if p == "" {
				t.Fatal("the model was not asked")
			}
			for _, leak := range []string{"LOCKED SOLUTION", "text of other/x#y"} {
				if strings.Contains(p, leak) {
					t.Fatalf("%q reached the prompt:\n%s", leak, p)
				}
				if strings.Contains(string(res.Body), leak) {
					t.Fatalf("%q reached the learner:\n%s", leak, res.Body)
				}
			}
			// The honest stage-1 material came through, and only it is cited.
			if !strings.Contains(p, "Zero values") {
				t.Fatalf("the honest material is missing from the prompt:\n%s", p)
			}
			cited := 0
			for _, e := range res.Events {
				u, ok := e["update"].(map[string]any)
				if !ok || u["type"] != "assistant_message.content_part.annotation_added" {
					continue
				}
				cited++
				url := fmt.Sprint(u["annotation"].(map[string]any)["source"].(map[string]any)["url"])
				if !strings.Contains(url, "/courses/go-basics/values-and-variables") {
					t.Fatalf("cited %s, not a stage-1 lesson", url)
				}
			}
			if cited == 0 {
				t.Fatalf("nothing cited: %v", res.Types())
			}
		})
	}
	// The stored answers hold nothing locked either.
	pool, err := pgxpool.New(context.Background(), e2etest.Need(t).DSN("platform"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var leaked int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tutor_items WHERE payload::text LIKE '%LOCKED%' OR sources::text LIKE '%secret%'`).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d stored items hold locked material", leaked)
	}
}
