package content

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Heading is a heading of a rendered lesson, for the page's outline and the
// page context the tutor widget sends.
type Heading struct {
	Level  int    `json:"level"`
	Text   string `json:"text"`
	Anchor string `json:"anchor"`
}

// md renders lessons. Raw HTML is never passed through (goldmark's default:
// it is replaced by a comment) and dangerous link targets (javascript:,
// vbscript:, file:, data: other than images) are dropped, so a lesson
// cannot put markup or script into the learner's page.
var md = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
)

// Render turns a lesson's Markdown into HTML that is safe to insert into a
// page, with heading ids equal to the section anchors Sections makes (so
// links in the tutor's sources land on the right heading), and lists the
// headings.
func Render(body string) (string, []Heading, error) {
	src := []byte(body)
	ctx := parser.NewContext(parser.WithIDs(&anchorIDs{seen: map[string]int{}}))
	doc := md.Parser().Parse(text.NewReader(src), parser.WithContext(ctx))
	var heads []Heading
	err := ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		h, ok := n.(*ast.Heading)
		if !ok || !entering {
			return ast.WalkContinue, nil
		}
		id, _ := h.AttributeString("id")
		idb, _ := id.([]byte)
		heads = append(heads, Heading{Level: h.Level, Text: plainText(h, src), Anchor: string(idb)})
		return ast.WalkSkipChildren, nil
	})
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	if err := md.Renderer().Render(&buf, src, doc); err != nil {
		return "", nil, fmt.Errorf("render: %w", err)
	}
	return buf.String(), heads, nil
}

// plainText is a node's text without markup.
func plainText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch t := c.(type) {
		case *ast.Text:
			b.Write(t.Segment.Value(src))
			if t.SoftLineBreak() || t.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(t.Value)
		case *ast.RawHTML:
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}

// anchorIDs gives headings the anchors Sections gives their sections:
// Anchor of the heading text, a repeated one numbered -1, -2, ...
type anchorIDs struct {
	seen map[string]int
}

func (a *anchorIDs) Generate(value []byte, kind ast.NodeKind) []byte {
	base := Anchor(strings.TrimSpace(strings.TrimRight(strings.TrimSpace(string(value)), "#")))
	if base == "" {
		base = "section"
	}
	id := base
	if n := a.seen[base]; n > 0 {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	a.seen[base]++
	return []byte(id)
}

func (a *anchorIDs) Put(value []byte) { a.seen[string(value)]++ }
