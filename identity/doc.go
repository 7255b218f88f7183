// Package identity is the platform's identity edge: the hosted login UI for
// Kratos' self-service flows and the only public path to Kratos' public API,
// where the platform enforces what Kratos lacks (password composition rules,
// lockout, roles, the auth event log, and voiding access tokens when access
// is taken away).
//
// This root package holds the domain and imports only the standard
// library: the password policy, the lockout and mail limit rules and their
// stores' contracts, the auth event log's events, and the account actions
// that revoke tokens. Around it:
//
//   - pages serves the hosted pages; proxy forwards Kratos' public API with
//     the password policy, limits (lockout, address throttle, mail limits)
//     counts what passes; admin is the admin API; hooks takes Kratos' web
//     hooks.
//   - kratos talks to Kratos, hydra to Hydra's admin API, postgres to the
//     platform database, mail to the SMTP relay.
//   - config is the service's configuration file; cmd/identity loads it
//     and wires everything.
package identity
