package plugintest_test

import (
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
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, evil), nil, "EVIL_MODE=ok")
	plugintest.Retriever(t, r, nil)
}

func TestGuardrailSuiteOverGRPC(t *testing.T) {
	g := plugintest.LaunchGuardrail(t, plugintest.Build(t, evil), nil, "EVIL_MODE=ok", "EVIL_KIND=guardrail")
	plugintest.Guardrail(t, g,
		plugintest.Case{Name: "block", Input: &plugins.InputCheck{Message: "BLOCKME"}, Want: plugins.Block},
		plugintest.Case{Name: "hint", Output: &plugins.OutputCheck{Answer: "SOLUTION"}, Want: plugins.Rewrite},
	)
}
