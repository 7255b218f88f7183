package e2etest

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Form is one <form> of a hosted page (identity/pages renders one per method
// group, class "form-<group>"), read from its HTML as a browser would.
type Form struct {
	Action  string
	Hidden  url.Values // hidden inputs: the CSRF token and the like
	Buttons []Button
}

// Button is a submit button of a form.
type Button struct {
	Name, Value, Label string
}

// Has reports whether the form has a button name=value.
func (f *Form) Has(name, value string) bool { return f.Button(name, value) != nil }

// Button returns the button name=value, or nil.
func (f *Form) Button(name, value string) *Button {
	for i, b := range f.Buttons {
		if b.Name == name && b.Value == value {
			return &f.Buttons[i]
		}
	}
	return nil
}

var (
	formRE   = regexp.MustCompile(`(?s)<form class="card form-([a-z_]+)"[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	buttonRE = regexp.MustCompile(`(?s)<button type="submit" name="([^"]*)" value="([^"]*)"[^>]*>(.*?)</button>`)
)

// PageForm returns the form of method group on page, or nil when the page
// has none.
func PageForm(t testing.TB, page *Response, group string) *Form {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(string(page.Body), -1) {
		if m[1] != group {
			continue
		}
		f := &Form{Action: html.UnescapeString(m[2]), Hidden: url.Values{}}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[3], -1) {
			f.Hidden.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		for _, b := range buttonRE.FindAllStringSubmatch(m[3], -1) {
			f.Buttons = append(f.Buttons, Button{
				Name: html.UnescapeString(b[1]), Value: html.UnescapeString(b[2]),
				Label: strings.TrimSpace(html.UnescapeString(b[3])),
			})
		}
		return f
	}
	return nil
}

// Press submits f as a browser does when button name=value is clicked, with
// extra fields filled in; it returns the answer without following it.
func (c *Client) Press(f *Form, name, value string, extra url.Values) *Response {
	c.T.Helper()
	if !f.Has(name, value) {
		c.T.Fatalf("the form has no button %s=%s: %+v", name, value, f.Buttons)
	}
	body := url.Values{}
	for k, v := range f.Hidden {
		body[k] = append([]string(nil), v...)
	}
	for k, v := range extra {
		body[k] = v
	}
	body.Set(name, value)
	return c.Do("POST", f.Action, body, "Accept", "text/html")
}

// FollowFrom follows res's redirect (resolved against base) as Follow does.
func (c *Client) FollowFrom(base string, res *Response) (string, *Response) {
	c.T.Helper()
	if res.Status < 300 || res.Status > 399 {
		c.T.Fatalf("expected a redirect, got %d:\n%s", res.Status, res.Body)
	}
	b, err := url.Parse(base)
	if err != nil {
		c.T.Fatal(err)
	}
	next, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		c.T.Fatal(err)
	}
	return c.Follow(b.ResolveReference(next).String(), "")
}
