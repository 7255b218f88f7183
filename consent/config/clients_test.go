package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var goodEnv = env(map[string]string{
	"TUTOR_PUBLIC_URL":                 "http://127.0.0.1:8080/",
	"INTEGRATOR_EXAMPLE_CLIENT_SECRET": "0123456789abcdef0123",
})

func TestCommittedClientsLoad(t *testing.T) {
	clients, err := LoadClients("../../ory-config/clients.yaml", goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 {
		t.Fatalf("got %d clients", len(clients))
	}
	web := clients[0]
	if web.ID != "tutor-web" || !web.Public || !web.FirstParty || web.RedirectURIs[0] != "http://127.0.0.1:8080/callback" {
		t.Fatalf("tutor-web: %+v", web)
	}
	if clients[1].Secret != "0123456789abcdef0123" || clients[1].Public {
		t.Fatalf("integrator: %+v", clients[1])
	}
}

func TestMalformedClients(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"clients:\n  - id: Bad ID\n    public: true\n    grant_types: [authorization_code]\n    redirect_uris: [http://x/]\n", "clients[0].id: must be"},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [implicit]\n", "clients[0].grant_types: unknown grant type \"implicit\""},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [authorization_code]\n", "clients[0].redirect_uris: the authorization_code grant needs"},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [client_credentials]\n", "cannot use client_credentials"},
		{"clients:\n  - id: a1\n    grant_types: [client_credentials]\n", "clients[0].secret_env: a confidential client needs"},
		{"clients:\n  - id: a1\n    secret_env: NOPE\n    grant_types: [client_credentials]\n", "environment variable NOPE must hold"},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [authorization_code]\n    redirect_uris: [/relative]\n", "clients[0].redirect_uris[0]"},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [authorization_code]\n    redirect_uris: [${MISSING}x]\n", "environment variable(s) not set: MISSING"},
		{"clients:\n  - id: a1\n    pubic: true\n", "clients[0].pubic: unknown key"},
		{"clients:\n  - {id: a1, public: true, grant_types: [refresh_token]}\n  - {id: a1, public: true, grant_types: [refresh_token]}\n", "declared twice"},
		{"clients:\n  - id: a1\n    public: true\n    grant_types: [refresh_token]\n    scopes: [\"bad scope\"]\n", "not a valid scope"},
	}
	dir := t.TempDir()
	for i, c := range cases {
		p := filepath.Join(dir, "clients.yaml")
		os.WriteFile(p, []byte(c.yaml), 0o600)
		_, err := LoadClients(p, goodEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("case %d: want one line with %q, got %v", i, c.want, err)
		}
	}
}
