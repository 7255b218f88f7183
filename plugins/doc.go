// Package plugins is the SDK for the tutor's extensions: the Retriever and
// Guardrail contracts, their gRPC adapters for hashicorp/go-plugin, Serve
// helpers and the plugintest conformance kit. Not yet: the contracts and the
// shipped plugins arrive with the plugin-platform issue; this module exists so
// the layout and go.work are in place.
package plugins
