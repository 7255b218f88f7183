// Package content reads course material: Markdown lessons with YAML front
// matter (course, stage, lesson, title, optionally course_title), split
// into sections at their headings for retrieval. cmd/tutor uses it for
// `tutor ingest DIR` and for the content folder ingested at start-up; the
// stores never see files.
package content

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/tutor"
)

// frontMatter is the YAML block at the top of a lesson.
type frontMatter struct {
	Course      string `yaml:"course"`
	CourseTitle string `yaml:"course_title"`
	Stage       int    `yaml:"stage"`
	Lesson      string `yaml:"lesson"`
	Title       string `yaml:"title"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

// Load reads every *.md file under fsys (recursively) as a lesson. Files
// whose name starts with an underscore or a dot, and README.md, are
// skipped. The first problem stops loading, naming the file.
func Load(fsys fs.FS) ([]tutor.Lesson, error) {
	var lessons []tutor.Lesson
	seen := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".md") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") || strings.EqualFold(name, "README.md") {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		l, err := Parse(p, data)
		if err != nil {
			return err
		}
		key := l.Course + "/" + l.Lesson
		if other, dup := seen[key]; dup {
			return fmt.Errorf("%s: lesson %q of course %q is also in %s", p, l.Lesson, l.Course, other)
		}
		seen[key] = p
		lessons = append(lessons, l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(lessons) == 0 {
		return nil, errors.New("no lessons (*.md files with front matter) found")
	}
	sort.Slice(lessons, func(i, j int) bool {
		a, b := lessons[i], lessons[j]
		if a.Course != b.Course {
			return a.Course < b.Course
		}
		if a.Stage != b.Stage {
			return a.Stage < b.Stage
		}
		return a.Source < b.Source
	})
	return lessons, nil
}

// Parse reads one lesson file; source names it in errors and in the lesson.
func Parse(source string, data []byte) (tutor.Lesson, error) {
	fail := func(format string, args ...any) (tutor.Lesson, error) {
		return tutor.Lesson{}, fmt.Errorf("%s: %s", source, fmt.Sprintf(format, args...))
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	rest, ok := bytes.CutPrefix(data, []byte("---\n"))
	if !ok {
		return fail("no front matter: the file must start with a line \"---\"")
	}
	head, body, ok := bytes.Cut(rest, []byte("\n---\n"))
	if !ok {
		if h, found := bytes.CutSuffix(rest, []byte("\n---")); found {
			head, body, ok = h, nil, true
		}
	}
	if !ok {
		return fail("front matter is not closed by a line \"---\"")
	}
	var fm frontMatter
	dec := yaml.NewDecoder(bytes.NewReader(head))
	dec.KnownFields(true)
	if err := dec.Decode(&fm); err != nil {
		return fail("front matter: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	switch {
	case !slugRE.MatchString(fm.Course):
		return fail("front matter: course must be a slug (a-z, 0-9, -), got %q", fm.Course)
	case !slugRE.MatchString(fm.Lesson):
		return fail("front matter: lesson must be a slug (a-z, 0-9, -), got %q", fm.Lesson)
	case fm.Stage < 1 || fm.Stage > 1000:
		return fail("front matter: stage must be a number from 1, got %d", fm.Stage)
	case strings.TrimSpace(fm.Title) == "":
		return fail("front matter: title is required")
	}
	l := tutor.Lesson{
		Course: fm.Course, CourseTitle: strings.TrimSpace(fm.CourseTitle), Lesson: fm.Lesson, Stage: fm.Stage,
		Title: strings.TrimSpace(fm.Title), Source: path.Clean(source), Body: strings.TrimSpace(string(body)),
	}
	l.Sections = Sections(l.Title, l.Body)
	if len(l.Sections) == 0 {
		return fail("the lesson has no text")
	}
	return l, nil
}

// Sections splits Markdown at ATX headings outside code fences. Text before
// the first heading becomes a section titled after the lesson.
func Sections(title, body string) []tutor.Section {
	var out []tutor.Section
	cur := tutor.Section{Heading: title}
	var text []string
	flush := func() {
		t := strings.TrimSpace(strings.Join(text, "\n"))
		if t != "" {
			cur.Text = t
			out = append(out, cur)
		}
		text = text[:0]
	}
	fence := ""
	anchors := map[string]int{}
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
		} else if fence != "" && strings.HasPrefix(trimmed, fence) {
			fence = ""
		} else if fence == "" {
			if h, ok := heading(line); ok {
				flush()
				a := Anchor(h)
				if n := anchors[a]; n > 0 {
					anchors[a] = n + 1
					a = fmt.Sprintf("%s-%d", a, n)
				} else {
					anchors[a] = 1
				}
				cur = tutor.Section{Heading: h, Anchor: a}
				continue
			}
		}
		text = append(text, line)
	}
	flush()
	return out
}

// heading returns the text of an ATX heading line (# to ######).
func heading(line string) (string, bool) {
	if len(line) == 0 || line[0] != '#' {
		return "", false
	}
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n > 6 || n == len(line) || line[n] != ' ' {
		return "", false
	}
	h := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(line[n:]), "#"))
	return h, h != ""
}

// Anchor makes a heading's URL fragment the way common Markdown renderers
// do: lower case, letters, digits, - and _ kept, spaces to -.
func Anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
