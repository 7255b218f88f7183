package content

import (
	"strings"
	"testing"
)

func TestRenderAnchorsMatchSections(t *testing.T) {
	body := "Intro text.\n\n## Zero values\n\nA.\n\n## The `for` loop\n\nB.\n\n## Zero values\n\nC.\n\n```go\n# not a heading\n```\n"
	html, heads, err := Render(body)
	if err != nil {
		t.Fatal(err)
	}
	secs := Sections("Title", body)
	var want []string
	for _, s := range secs[1:] { // the first is the text before any heading
		want = append(want, s.Anchor)
	}
	var got []string
	for _, h := range heads {
		got = append(got, h.Anchor)
		if !strings.Contains(html, `id="`+h.Anchor+`"`) {
			t.Errorf("no element with id %q in %s", h.Anchor, html)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("heading ids %v, section anchors %v", got, want)
	}
	if heads[1].Text != "The for loop" || heads[1].Level != 2 {
		t.Fatalf("heading %+v", heads[1])
	}
}

// Raw HTML in a lesson never reaches the page, and dangerous link targets
// are dropped; the text around them stays.
func TestRenderIsInert(t *testing.T) {
	body := "Before.\n\n<script>window.pwned = 1</script>\n\nInline <img src=x onerror=\"window.pwned=2\"> here.\n\n" +
		"<div onclick=\"x()\">block</div>\n\n[click](javascript:alert(1)) and ![i](javascript:alert(2))\n\n" +
		"## <span onmouseover=\"x()\">Heading</span>\n"
	html, heads, err := Render(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img src=\"x\"", " onerror=", " onclick=", " onmouseover=", "javascript:", "<div", "<span"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("rendered lesson contains %q:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, "Before.") || !strings.Contains(html, "here.") {
		t.Errorf("text around the payload lost:\n%s", html)
	}
	if len(heads) != 1 || heads[0].Text != "Heading" {
		t.Errorf("headings %+v", heads)
	}
}
