// Package kit holds what the platform's services share and nothing
// service-specific: strict YAML configuration (config/), HTTP plumbing with
// health, readiness, metrics and logs (server/), and validation of Hydra's
// access tokens (token/, used by tutor and identity). Services import it;
// it imports none of them, which keeps the service modules independent.
package kit
