// Package kit holds what the platform's services share and nothing
// service-specific: strict YAML configuration (config/) and HTTP plumbing
// with health, readiness, metrics and logs (server/). Services import it;
// it imports none of them.
package kit
