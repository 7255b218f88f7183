// Package consent is Hydra's login, consent and logout provider: it turns a
// Kratos session into OAuth2 tokens carrying the platform's claims. This root
// package is the domain: which claims each scope releases (Scopes, Identity's
// claims) and what an OAuth2 client spec may say (Client). It imports only
// the standard library and kit/account. config/ reads the service's files,
// hydra/ talks to Hydra's admin API, web/ serves the pages and hooks (Kratos
// through kit/kratos), and cmd/consent wires them.
package consent
