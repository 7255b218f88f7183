package plugintest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/internal/memstore"
	"github.com/learnplatform/platform/plugins/plugintest"
)

const evil = "github.com/learnplatform/platform/plugins/internal/testplugins/evil"

func TestRetrieverSuiteInProcess(t *testing.T) {
	plugintest.Retriever(t, memstore.New(), nil)
}

func TestRetrieverSuiteOverGRPC(t *testing.T) {
	t.Parallel()
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, evil), nil, "EVIL_MODE=ok")
	plugintest.Retriever(t, r, nil)
}

func TestGuardrailSuiteOverGRPC(t *testing.T) {
	t.Parallel()
	g := plugintest.LaunchGuardrail(t, plugintest.Build(t, evil), nil, "EVIL_MODE=ok", "EVIL_KIND=guardrail")
	plugintest.Guardrail(t, g,
		plugintest.Case{Name: "block", Input: &plugins.InputCheck{Message: "BLOCKME"}, Want: plugins.Block},
		plugintest.Case{Name: "hint", Output: &plugins.OutputCheck{Answer: "SOLUTION"}, Want: plugins.Rewrite},
	)
}

// leaky ignores the stage limit, as a buggy retriever would.
type leaky struct{ *memstore.Store }

func (l leaky) Search(ctx context.Context, q plugins.Query) ([]plugins.Chunk, error) {
	q.MaxStage = 3
	return l.Store.Search(ctx, q)
}

// The suite must fail a retriever that leaks locked stages. It runs in a
// child test process, since a failing suite fails its *testing.T.
func TestRetrieverSuiteCatchesALeak(t *testing.T) {
	if os.Getenv("PLUGINTEST_LEAKY") == "1" {
		plugintest.Retriever(t, leaky{memstore.New()}, nil)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRetrieverSuiteCatchesALeak$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUGINTEST_LEAKY=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "LEAK: chunk") || !strings.Contains(string(out), "--- FAIL: TestRetrieverSuiteCatchesALeak/stages") {
		t.Fatalf("the suite passed a leaking retriever (err %v):\n%s", err, out)
	}
}

// sloppy blocks without telling the learner anything.
type sloppy struct{}

func (sloppy) CheckInput(context.Context, plugins.InputCheck) (plugins.Decision, error) {
	return plugins.Decision{Action: plugins.Block, Reason: "no"}, nil
}

func (sloppy) CheckOutput(context.Context, plugins.OutputCheck) (plugins.Decision, error) {
	return plugins.Decision{Action: plugins.Allow}, nil
}

func TestGuardrailSuiteCatchesMalformedDecisions(t *testing.T) {
	if os.Getenv("PLUGINTEST_SLOPPY") == "1" {
		plugintest.Guardrail(t, sloppy{})
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGuardrailSuiteCatchesMalformedDecisions$", "-test.v")
	cmd.Env = append(os.Environ(), "PLUGINTEST_SLOPPY=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "block without a learner message") {
		t.Fatalf("the suite passed a malformed guardrail (err %v):\n%s", err, out)
	}
}
