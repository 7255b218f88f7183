package main

import (
	"testing"

	"github.com/learnplatform/platform/plugins/plugintest"
)

// The conformance kit against the built binary, as the tutor runs it.
func TestConformance(t *testing.T) {
	r := plugintest.LaunchRetriever(t, plugintest.Build(t, "."), nil)
	plugintest.Retriever(t, r, &plugintest.Fixture{Course: "hello", Query: "say letter", Stages: 2})
}
