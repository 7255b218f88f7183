package pages

import (
	"net/url"
	"testing"
)

func TestReturnToAllowList(t *testing.T) {
	must := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	ui := &UI{opts: Options{
		PublicURL:     must("http://127.0.0.1:4455/"),
		AllowedReturn: []*url.URL{must("http://127.0.0.1:8080/"), must("https://learn.example.org/app")},
	}}
	cases := map[string]bool{
		"":                                      true,
		"/welcome":                              true,
		"http://127.0.0.1:4455/settings":        true,
		"http://127.0.0.1:8080/courses?x=1":     true,
		"https://learn.example.org/app":         true,
		"https://learn.example.org/app/lesson":  true,
		"https://learn.example.org/application": false, // prefix of a path segment only
		"https://learn.example.org/":            false,
		"http://evil.example.org/":              false,
		"//evil.example.org/":                   false,
		"/\\evil.example.org":                   false,
		"javascript:alert(1)":                   false,
		"http://127.0.0.1:8080@evil.org/":       false,
		"http://user:pw@127.0.0.1:8080/":        false,
		"http://127.0.0.1:9999/":                false,
		"https://127.0.0.1:8080/":               false,
		"http://127.0.0.1:8080/\r\nx":           false,
	}
	for raw, want := range cases {
		if _, got := ui.ReturnTo(raw); got != want {
			t.Errorf("returnTo(%q) = %v, want %v", raw, got, want)
		}
	}
}
