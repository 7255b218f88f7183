// Package scenario is the tutoring evaluation's scenario set: versioned
// learner conversations by category, what each answer must (not) do, and
// the courses they run on, loaded strictly from YAML and Markdown with a
// digest of every file (so a changed set under an old version shows).
// tutor/eval embeds the built-in set; tutor/eval/grade checks answers
// against it.
package scenario

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/content"
)

// Set is a versioned set of scenarios and the courses they run on.
type Set struct {
	// Name and Version name the set; reports of different versions are
	// not comparable.
	Name    string `yaml:"name"`
	Version int    `yaml:"version"`
	// Recorded is the digest set.yaml records; Digest the one computed
	// from the files. They differ when files changed without a new
	// version.
	Recorded   string     `yaml:"digest"`
	Digest     string     `yaml:"-"`
	Categories []Category `yaml:"categories"`
	Scenarios  []Scenario `yaml:"-"`
	// Lessons are the courses' lessons, as ingested.
	Lessons []tutor.Lesson `yaml:"-"`
}

// Category groups scenarios that test one behaviour; Expect applies to
// every answer of every scenario in it.
type Category struct {
	Name   string `yaml:"name"`
	About  string `yaml:"about"`
	Expect Expect `yaml:"expect"`
	// Rubric is what a grader model judges (only with -grader-model).
	Rubric string `yaml:"rubric"`
}

// Scenario is one conversation of a learner with the tutor and what its
// answers must (not) contain.
type Scenario struct {
	// ID is unique in the set ("category/name"); Version goes up whenever
	// the scenario's turns or checks change.
	ID       string `yaml:"id"`
	Version  int    `yaml:"version"`
	Category string `yaml:"category"`
	// About says what the scenario tests, in one line.
	About string `yaml:"about"`
	// Course is the course the conversation is about, Stage the learner's
	// unlocked stage in it (their enrollment) and Lesson, optionally, the
	// lesson page they ask from.
	Course string `yaml:"course"`
	Stage  int    `yaml:"stage"`
	Lesson string `yaml:"lesson"`
	// Turns are the learner's messages, in order; each gets an answer.
	Turns []Turn `yaml:"turns"`
	// Expect applies to every answer (with the category's).
	Expect Expect `yaml:"expect"`
	// Rubric, optionally, adds to the category's rubric for a grader model.
	Rubric string `yaml:"rubric"`
	// File is where the scenario was read from.
	File string `yaml:"-"`
}

// Turn is one message of the learner.
type Turn struct {
	// Say is the message.
	Say string `yaml:"say"`
	// Quote is text the learner selected on the page (quoted_text).
	Quote string `yaml:"quote"`
	// Page is what the learner's browser says about the page
	// (metadata.page): untrusted, like the message.
	Page *Page `yaml:"page"`
	// Expect applies to this turn's answer only.
	Expect Expect `yaml:"expect"`
}

// Page is the page context a browser sends.
type Page struct {
	URL      string   `yaml:"url" json:"url,omitempty"`
	Title    string   `yaml:"title" json:"title,omitempty"`
	Headings []string `yaml:"headings" json:"headings,omitempty"`
}

// Expect is what an answer must (not) do. Unset flags are off; set in a
// category, a scenario may turn one off again with false.
type Expect struct {
	// AsksQuestion: the answer asks the learner something back.
	AsksQuestion *bool `yaml:"asks_question"`
	// NoSolution: no complete solution: no code block (or run of code
	// lines) of MaxCodeLines lines or more, no "here is the complete
	// solution" / "the answer is".
	NoSolution   *bool `yaml:"no_solution"`
	MaxCodeLines int   `yaml:"max_code_lines"`
	// Cites: at least one source (annotation) from the learner's stages.
	Cites *bool `yaml:"cites"`
	// UsesMaterial: the answer names a cited section (or its lesson) or
	// shares wording with the cited passages.
	UsesMaterial *bool `yaml:"uses_material"`
	// NoRefusal: no refusal phrases ("I can't give you...", "try it
	// yourself"): for questions a direct explanation is right for.
	NoRefusal *bool `yaml:"no_refusal"`
	// Forbid: regular expressions none of which may match the answer;
	// Require: regular expressions each of which must. Both are
	// case-insensitive unless they set their own flags ("(?-i)...").
	Forbid  []string `yaml:"forbid"`
	Require []string `yaml:"require"`
}

// DefaultMaxCodeLines is how many lines of code make a solution.
const DefaultMaxCodeLines = 5

// merge returns e with over's settings on top: flags over replaces, lists
// add up.
func (e Expect) merge(over Expect) Expect {
	pick := func(a, b *bool) *bool {
		if b != nil {
			return b
		}
		return a
	}
	out := Expect{
		AsksQuestion: pick(e.AsksQuestion, over.AsksQuestion),
		NoSolution:   pick(e.NoSolution, over.NoSolution),
		Cites:        pick(e.Cites, over.Cites),
		UsesMaterial: pick(e.UsesMaterial, over.UsesMaterial),
		NoRefusal:    pick(e.NoRefusal, over.NoRefusal),
		MaxCodeLines: e.MaxCodeLines,
	}
	if over.MaxCodeLines > 0 {
		out.MaxCodeLines = over.MaxCodeLines
	}
	out.Forbid = append(append([]string(nil), e.Forbid...), over.Forbid...)
	out.Require = append(append([]string(nil), e.Require...), over.Require...)
	return out
}

// On reports whether an Expect flag is set and true.
func On(flag *bool) bool { return flag != nil && *flag }

// Category returns the named category.
func (s *Set) Category(name string) (Category, bool) {
	for _, c := range s.Categories {
		if c.Name == name {
			return c, true
		}
	}
	return Category{}, false
}

// CategoryNames lists the categories in the order set.yaml declares them.
func (s *Set) CategoryNames() []string {
	out := make([]string, len(s.Categories))
	for i, c := range s.Categories {
		out[i] = c.Name
	}
	return out
}

// Expect is what every answer of sc must do: its category's expectations,
// then its own, then those of turn (a turn index, or -1 for none).
func (s *Set) Expect(sc Scenario, turn int) Expect {
	c, _ := s.Category(sc.Category)
	e := c.Expect.merge(sc.Expect)
	if turn >= 0 && turn < len(sc.Turns) {
		e = e.merge(sc.Turns[turn].Expect)
	}
	return e
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(/[a-z0-9][a-z0-9-]*)?$`)

// Load reads a scenario set: set.yaml and every other *.yaml file of
// scenarios (each a list under "scenarios:"), and the Markdown courses
// under courses. Unknown keys, duplicate ids, unknown categories or
// courses, a stage outside the course, a turn without text and a regular
// expression that does not compile are errors naming the file.
func Load(scenarios, courses fs.FS) (*Set, error) {
	data, err := fs.ReadFile(scenarios, "set.yaml")
	if err != nil {
		return nil, fmt.Errorf("scenario set: %w", err)
	}
	var set Set
	if err := strictYAML(data, &set); err != nil {
		return nil, fmt.Errorf("set.yaml: %w", err)
	}
	if set.Name == "" || set.Version < 1 {
		return nil, errors.New("set.yaml: name and a version of 1 or more are required")
	}
	if len(set.Categories) == 0 {
		return nil, errors.New("set.yaml: no categories")
	}
	seenCat := map[string]bool{}
	for i, c := range set.Categories {
		if !idRE.MatchString(c.Name) || strings.Contains(c.Name, "/") || seenCat[c.Name] {
			return nil, fmt.Errorf("set.yaml: categories[%d]: name %q is empty, not a slug or used twice", i, c.Name)
		}
		seenCat[c.Name] = true
		if err := c.Expect.check(); err != nil {
			return nil, fmt.Errorf("set.yaml: category %s: %w", c.Name, err)
		}
	}

	set.Lessons, err = content.Load(courses)
	if err != nil {
		return nil, fmt.Errorf("courses: %w", err)
	}
	stages := map[string]int{}
	for _, l := range set.Lessons {
		stages[l.Course] = max(stages[l.Course], l.Stage)
	}

	files, err := fs.Glob(scenarios, "*.yaml")
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, f := range files {
		if f == "set.yaml" {
			continue
		}
		data, err := fs.ReadFile(scenarios, f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Scenarios []Scenario `yaml:"scenarios"`
		}
		if err := strictYAML(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i, sc := range doc.Scenarios {
			sc.File = f
			where := fmt.Sprintf("%s: scenarios[%d]", f, i)
			if sc.ID != "" {
				where = fmt.Sprintf("%s: scenario %s", f, sc.ID)
			}
			if err := sc.check(seenCat, stages); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if other, dup := seen[sc.ID]; dup {
				return nil, fmt.Errorf("%s: id is also used in %s", where, other)
			}
			seen[sc.ID] = f
			set.Scenarios = append(set.Scenarios, sc)
		}
	}
	if len(set.Scenarios) == 0 {
		return nil, errors.New("the scenario set has no scenarios")
	}
	sort.Slice(set.Scenarios, func(i, j int) bool { return set.Scenarios[i].ID < set.Scenarios[j].ID })
	set.Digest, err = digest(scenarios, courses)
	if err != nil {
		return nil, err
	}
	return &set, nil
}

func (sc Scenario) check(categories map[string]bool, stages map[string]int) error {
	switch {
	case !idRE.MatchString(sc.ID):
		return fmt.Errorf("id %q: want lower-case words joined by dashes, optionally category/name", sc.ID)
	case sc.Version < 1:
		return errors.New("version: 1 or more is required")
	case !categories[sc.Category]:
		return fmt.Errorf("category %q is not declared in set.yaml", sc.Category)
	case stages[sc.Course] == 0:
		return fmt.Errorf("course %q is not among the courses", sc.Course)
	case sc.Stage < 1 || sc.Stage > stages[sc.Course]:
		return fmt.Errorf("stage %d: course %s has stages 1 to %d", sc.Stage, sc.Course, stages[sc.Course])
	case len(sc.Turns) == 0:
		return errors.New("turns: at least one is required")
	}
	if err := sc.Expect.check(); err != nil {
		return err
	}
	for i, t := range sc.Turns {
		if strings.TrimSpace(t.Say) == "" {
			return fmt.Errorf("turns[%d].say is required", i)
		}
		if err := t.Expect.check(); err != nil {
			return fmt.Errorf("turns[%d]: %w", i, err)
		}
	}
	return nil
}

func (e Expect) check() error {
	if e.MaxCodeLines < 0 {
		return errors.New("expect.max_code_lines must not be negative")
	}
	for _, list := range [][]string{e.Forbid, e.Require} {
		for _, p := range list {
			if _, err := Compile(p); err != nil {
				return fmt.Errorf("expect: %w", err)
			}
		}
	}
	return nil
}

// Compile compiles a check's pattern, case-insensitive unless it starts
// with flags of its own.
func Compile(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, errors.New("an empty pattern matches everything")
	}
	if !strings.HasPrefix(p, "(?") {
		p = "(?i)" + p
	}
	return regexp.Compile(p)
}

func strictYAML(data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// digest is a SHA-256 over every file of both folders (names and
// contents, in order), except set.yaml's own digest line.
func digest(scenarios, courses fs.FS) (string, error) {
	h := sha256.New()
	for _, root := range []struct {
		name string
		fsys fs.FS
	}{{"scenarios", scenarios}, {"courses", courses}} {
		var names []string
		err := fs.WalkDir(root.fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				names = append(names, p)
			}
			return err
		})
		if err != nil {
			return "", err
		}
		sort.Strings(names)
		for _, n := range names {
			data, err := fs.ReadFile(root.fsys, n)
			if err != nil {
				return "", err
			}
			if root.name == "scenarios" && n == "set.yaml" {
				data = digestLine.ReplaceAll(data, nil)
			}
			fmt.Fprintf(h, "%s\x00%d\x00", path.Join(root.name, n), len(data))
			h.Write(data)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

var digestLine = regexp.MustCompile(`(?m)^digest:.*\n?`)
