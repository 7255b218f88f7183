// Package host starts, supervises and calls the tutor's plugins. The tutor
// declares plugins in its YAML (Spec), calls Start once, and then only sees
// Retrievers and Guardrails that look like in-process implementations:
//
//   - every start (and restart) checks the binary's pinned SHA-256 (also
//     handed to go-plugin's SecureConfig), speaks the versioned handshake
//     over gRPC with AutoMTLS, passes the config blob (Configure) and asks
//     Health before the plugin takes calls;
//   - a required plugin that cannot start stops Start with a message naming
//     it and why; an optional one starts degraded with a warning and is
//     retried in the background;
//   - a plugin that exits, or fails its health check three times running,
//     is killed and restarted with exponential backoff while calls to it
//     fail fast with ErrUnavailable;
//   - every call has the plugin's timeout; answers are checked (malformed,
//     oversized, another course's or above the learner's stage chunks are
//     dropped and counted), so a misbehaving plugin cannot leak or stall;
//   - plugin output is logged tagged with the plugin's name, and calls,
//     errors, latency, restarts and dropped results are Prometheus metrics.
//
// The tutor imports it; nothing in plugins/ outside tests does. This
// package holds what the tutor sees (Spec, Start, Host, the typed
// Retriever and Guardrail with their checks, the fused search, the
// guardrail chain, the status table); underneath, internal/process
// launches and supervises one plugin process and times its calls,
// internal/pluginlog turns what plugins write into log lines and error
// messages, and internal/metrics holds the Prometheus series.
package host
