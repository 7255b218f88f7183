package orytest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A session made by signing in through a login flow is live (times and
// methods filled in as for PutSession), so whoami answers it.
func TestSignedInSessionIsLive(t *testing.T) {
	k := NewKratos(t)
	k.AddIdentity(Identity{Email: "ada@example.org", Password: "pw-123456789"})
	f := k.NewLoginFlow("api")
	res, err := http.Post(k.Public.URL+"/self-service/login?flow="+f.ID, "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"identifier": {"ada@example.org"}, "password": {"pw-123456789"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	var token string
	k.mu.Lock()
	for _, s := range k.sessions {
		token = s.Token
	}
	k.mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, k.Public.URL+"/sessions/whoami", nil)
	req.Header.Set("X-Session-Token", token)
	who, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	who.Body.Close()
	if who.StatusCode != http.StatusOK {
		t.Fatalf("whoami: %d", who.StatusCode)
	}
}
