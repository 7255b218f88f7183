package consent

import (
	"github.com/learnplatform/platform/kit/account"

	"maps"
	"slices"
	"strings"
	"testing"
)

func TestReleasedClaimsFollowScopes(t *testing.T) {
	cases := []struct {
		granted    []string
		firstParty bool
		want       []string
	}{
		{[]string{"openid"}, false, nil},
		{[]string{"openid", "offline_access"}, false, nil},
		{[]string{"openid", "email"}, false, []string{ClaimEmail, ClaimEmailVerified}},
		{[]string{"openid", "profile"}, false, []string{ClaimName}},
		{[]string{"openid", "role"}, false, []string{ClaimRole}},
		{[]string{"openid"}, true, []string{ClaimRole}},
		{[]string{"openid", "offline_access", "email", "profile"}, true, []string{ClaimEmail, ClaimEmailVerified, ClaimName, ClaimRole}},
		{[]string{"courses.read"}, false, nil},
		{nil, true, []string{ClaimRole}},
	}
	for _, c := range cases {
		got := ReleasedClaims(c.granted, c.firstParty)
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("ReleasedClaims(%v, first party %v) = %v, want %v", c.granted, c.firstParty, got, want)
		}
	}
}

func TestUserClaims(t *testing.T) {
	u := Identity{User: account.User{ID: "u1", Email: "ada@example.org", EmailVerified: true, Name: "Ada", Role: account.RoleInstructor}, Active: true}
	if got := u.Claims([]string{"openid"}, false); len(got) != 0 {
		t.Fatalf("openid alone released %v", got)
	}
	got := u.Claims([]string{"openid", "email", "profile"}, true)
	want := map[string]any{"email": "ada@example.org", "email_verified": true, "name": "Ada", "role": "instructor"}
	if !maps.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	at := u.AccessTokenClaims([]string{"openid"}, false, "s1")
	if !maps.Equal(at, map[string]any{"session_id": "s1"}) {
		t.Fatalf("access token claims %v", at)
	}
	if at := u.AccessTokenClaims([]string{"openid"}, false, ""); len(at) != 0 {
		t.Fatalf("no session id, yet %v", at)
	}
	// false and "" are released as values, not dropped, when their scope is granted.
	u2 := Identity{User: account.User{ID: "u2"}}
	if got := u2.Claims([]string{"email"}, false); got["email_verified"] != false || got["email"] != "" || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestEveryScopeSaysWhatItReveals(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Scopes {
		if seen[s.Name] {
			t.Errorf("scope %q listed twice", s.Name)
		}
		seen[s.Name] = true
		if Reveals(s.Name) != s.Reveals || s.Reveals == "" {
			t.Errorf("scope %q: Reveals = %q", s.Name, Reveals(s.Name))
		}
	}
	// Every claim the platform releases is behind exactly one scope.
	owner := map[string]string{}
	for _, s := range Scopes {
		for _, c := range s.Claims {
			if owner[c] != "" {
				t.Errorf("claim %s released by %s and %s", c, owner[c], s.Name)
			}
			owner[c] = s.Name
		}
	}
	for _, c := range []string{ClaimEmail, ClaimEmailVerified, ClaimName, ClaimRole} {
		if owner[c] == "" {
			t.Errorf("claim %s is behind no scope", c)
		}
	}
	want := map[string]string{
		"email":   "your email address and whether it is verified",
		"profile": "your name",
		"role":    "your role on the platform (student, instructor, admin)",
		"openid":  "your account id",
	}
	for s, text := range want {
		if Reveals(s) != text {
			t.Errorf("Reveals(%q) = %q, want %q", s, Reveals(s), text)
		}
	}
	if r := Reveals("courses.read"); !strings.Contains(r, "none of your account details") {
		t.Errorf("unknown scope: %q", r)
	}
}
