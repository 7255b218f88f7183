package identity

import (
	"strings"
	"testing"
)

func rulesOf(vs []Violation) string {
	var names []string
	for _, v := range vs {
		names = append(names, v.Rule)
	}
	return strings.Join(names, ",")
}

func TestCompositionProfile(t *testing.T) {
	p := DefaultProfiles()[ProfileComposition]
	cases := []struct{ password, want string }{
		{"Password1!", "min_length"},
		{"alllowercase12!x", "upper"},
		{"ALLUPPERCASE12!X", "lower"},
		{"NoDigitsHere!!xx", "digit"},
		{"NoSpecial12xxAB", "special"},
		{"Correct-Horse-42!x", ""},
		{"", "min_length,upper,lower,digit,special"},
		{"short", "min_length,upper,digit,special"},
		{"Ünïcödé-Paß-42x", ""},           // non-ASCII letters have case too
		{"Пароль-Сложный-7", ""},          // Cyrillic
		{"密码密码密码密码密码密码1!", "upper,lower"}, // caseless letters count as neither
		{"Correct Horse 42 x", ""},        // a space is a special character
		{strings.Repeat("Aa1!", 33), "max_length"},
	}
	for _, c := range cases {
		if got := rulesOf(p.Check(c.password)); got != c.want {
			t.Errorf("%q: got %q, want %q", c.password, got, c.want)
		}
	}
}

func TestLengthOnlyProfile(t *testing.T) {
	p := DefaultProfiles()[ProfileLengthOnly]
	if got := rulesOf(p.Check("alllowercaseletters")); got != "" {
		t.Fatalf("length-only must not require composition: %s", got)
	}
	if got := rulesOf(p.Check("short")); got != "min_length" {
		t.Fatalf("got %s", got)
	}
	if len(p.Rules()) != 1 {
		t.Fatalf("length-only shows one rule, got %v", p.Rules())
	}
}

func TestMessagesNameTheCount(t *testing.T) {
	v := DefaultProfiles()[ProfileComposition].Check("Ab1!")
	if v[0].ID != MsgMinLength || !strings.Contains(v[0].Text, "at least 12") || !strings.Contains(v[0].Text, "has 4") {
		t.Fatalf("got %+v", v[0])
	}
}

func TestPolicyValidation(t *testing.T) {
	p := DefaultPolicy()
	p.PasswordPolicy.Profile = "nope"
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "password_policy.profile") {
		t.Fatalf("got %v", err)
	}
	p = DefaultPolicy()
	p.PasswordPolicy.Profiles["weak"] = PasswordRules{MinLength: 4}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "min_length") {
		t.Fatalf("got %v", err)
	}
}
