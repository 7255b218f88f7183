// Package kit holds what the platform's services share and nothing
// service-specific: strict YAML configuration (config/), HTTP plumbing with
// health, readiness, metrics and logs (server/), optional OpenTelemetry
// tracing by configuration (tracing/, with an in-process OTLP collector for
// tests in tracing/tracingtest), and validation of Hydra's access tokens
// (token/, used by tutor and identity), the platform's domain user and roles
// (account/), the one Kratos client (kratos/, for identity and consent), fakes
// of Kratos and Hydra speaking their JSON for in-process tests (orytest/), a
// throw-away PostgreSQL for tests (pgtest/) and the image healthcheck
// (cmd/healthcheck). Services import it;
// it imports none of them, which keeps the service modules independent.
package kit
