package main

import (
	"testing"

	"github.com/learnplatform/platform/plugins/plugintest"
)

// The conformance kit against the built binary, as the tutor runs it,
// with its default course and with one set by its config.
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, ".")
	r := plugintest.LaunchRetriever(t, bin, nil)
	plugintest.Retriever(t, r, &plugintest.Fixture{Course: "hello", Query: "say letter", Stages: 2})
	r = plugintest.LaunchRetriever(t, bin, map[string]any{"course": "go-basics"})
	plugintest.Retriever(t, r, &plugintest.Fixture{Course: "go-basics", Query: "say letter", Stages: 2})
}
