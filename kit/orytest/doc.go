// Package orytest stands in for Ory Kratos v1.3.1 (public and admin APIs)
// and Ory Hydra v2.3.0 (admin API, and the issuer of RS256 access tokens)
// in in-process tests. The fakes are httptest servers answering the JSON the
// real services answer (shapes taken from Kratos' session, identity, settings
// and batch-import packages and Hydra's flow, client, consent and oauth2
// packages at those versions), so tests drive the real kratos-client-go and
// hydra-client-go clients (kit/kratos, the consent app's hydra package) and
// kit/token's validator.
//
// They hold state that tests set up (identities, sessions, flows, OAuth2
// clients, login, consent and logout requests), record what they were sent,
// and can be told to fail. Only what the platform's tests need is there;
// grow them as the services use more. Imported by tests only.
package orytest
