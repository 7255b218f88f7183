package content

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseSplitsSectionsAtHeadings(t *testing.T) {
	l, err := Parse("go/1.md", []byte("---\ncourse: go\ncourse_title: Go\nstage: 2\nlesson: loops\ntitle: Loops\n---\nIntro text.\n\n## The for loop\nfor i := 0\n\n```go\n# not a heading\n```\n## The for loop\nAgain.\n### Range!\nWalks a slice.\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Course != "go" || l.CourseTitle != "Go" || l.Stage != 2 || l.Lesson != "loops" || l.Title != "Loops" || l.Source != "go/1.md" {
		t.Fatalf("%+v", l)
	}
	var got []string
	for _, s := range l.Sections {
		got = append(got, s.Heading+"#"+s.Anchor)
	}
	want := "Loops#,The for loop#the-for-loop,The for loop#the-for-loop-1,Range!#range"
	if strings.Join(got, ",") != want {
		t.Fatalf("sections %v, want %s", got, want)
	}
	if !strings.Contains(l.Sections[1].Text, "# not a heading") {
		t.Fatalf("a # line in a code fence is not a heading: %q", l.Sections[1].Text)
	}
}

func TestParseRefusesBadFrontMatter(t *testing.T) {
	cases := map[string]string{
		"no front matter": "# Title\n",
		"not closed":      "---\ncourse: go\n",
		"unknown key":     "---\ncourse: go\nstage: 1\nlesson: a\ntitle: A\ncolour: red\n---\ntext\n",
		"bad stage":       "---\ncourse: go\nstage: zero\nlesson: a\ntitle: A\n---\ntext\n",
		"stage 0":         "---\ncourse: go\nstage: 0\nlesson: a\ntitle: A\n---\ntext\n",
		"bad slug":        "---\ncourse: Go Basics\nstage: 1\nlesson: a\ntitle: A\n---\ntext\n",
		"no title":        "---\ncourse: go\nstage: 1\nlesson: a\n---\ntext\n",
		"no text":         "---\ncourse: go\nstage: 1\nlesson: a\ntitle: A\n---\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("x.md", []byte(src)); err == nil || !strings.HasPrefix(err.Error(), "x.md: ") {
				t.Fatalf("want an error naming the file, got %v", err)
			}
		})
	}
}

func TestLoadTheSampleCourse(t *testing.T) {
	lessons, err := Load(os.DirFS("sample"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lessons) != 3 {
		t.Fatalf("%d lessons", len(lessons))
	}
	for i, l := range lessons {
		if l.Course != "go-basics" || l.Stage != i+1 || len(l.Sections) < 3 {
			t.Fatalf("lesson %d: %s stage %d, %d sections", i, l.Course, l.Stage, len(l.Sections))
		}
	}
}

func TestLoadRefusesDuplicates(t *testing.T) {
	lesson := []byte("---\ncourse: go\nstage: 1\nlesson: a\ntitle: A\n---\ntext\n")
	fsys := fstest.MapFS{"one.md": {Data: lesson}, "sub/two.md": {Data: lesson}, "_draft.md": {Data: []byte("junk")}}
	if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "also in") {
		t.Fatalf("duplicate lesson: %v", err)
	}
	if _, err := Load(fstest.MapFS{"README.md": {Data: []byte("# hi")}}); err == nil {
		t.Fatal("a folder without lessons must be an error")
	}
}
