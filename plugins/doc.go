// Package plugins is the SDK for the tutor's extensions, run as separate
// processes over hashicorp/go-plugin's gRPC transport:
//
//   - the contracts Retriever (where course knowledge comes from) and
//     Guardrail (what the tutor may take in and say), with their optional
//     extensions Ingester, Configurer and HealthChecker;
//   - the thin gRPC adapters between those interfaces and the protobuf
//     services in plugins/proto, and the go-plugin Plugin values;
//   - the versioned Handshake, and ServeRetriever / ServeGuardrail, which a
//     plugin's main calls;
//   - Logger, whose lines the host tags with the plugin's name.
//
// Plugin authors import this package and plugintest; the tutor imports
// plugins/host, which starts, supervises and calls plugins. Shipped plugins
// live in cmd/, a minimal one in examples/retriever-hello. docs/plugins.md
// is the integrator's guide.
package plugins
