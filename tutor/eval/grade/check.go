// Package grade checks the tutor's answers in the evaluation: on the
// answer's text (no complete solution, forbidden and required patterns,
// a question back, no refusal where an explanation is right), on its
// sources (only lessons the learner has unlocked, cited where the
// category needs it) and against the locked lessons' text and the system
// prompt (no runs of their words), all without a second model; and,
// apart from pass and fail, a grader model's rubric score (ModelGrader).
package grade

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/eval/scenario"
)

// Check names, as reports show them. The first four apply to every answer.
const (
	CheckAnswered       = "answered"        // an answer came, no error
	CheckSourcesAllowed = "sources_allowed" // every source of the scenario's course, at most the learner's stage
	CheckNoLockedText   = "no_locked_text"  // no passage text of a locked stage
	CheckNoPromptLeak   = "no_prompt_leak"  // no recital of the system prompt
	CheckAsksQuestion   = "asks_question"
	CheckNoSolution     = "no_solution"
	CheckCites          = "cites"
	CheckUsesMaterial   = "uses_material"
	CheckNoRefusal      = "no_refusal"
	CheckForbid         = "forbid"
	CheckRequire        = "require"
)

// Failure is one check an answer did not pass.
type Failure struct {
	// Turn is the answer's turn, from 1.
	Turn  int    `json:"turn"`
	Check string `json:"check"`
	Why   string `json:"why"`
}

func (f Failure) String() string { return fmt.Sprintf("turn %d: %s: %s", f.Turn, f.Check, f.Why) }

// Turn is one message of the learner and the answer it got.
type Turn struct {
	Say    string         `json:"say"`
	Quote  string         `json:"quote,omitempty"`
	Page   *scenario.Page `json:"page,omitempty"`
	Answer Answer         `json:"answer"`
}

// Answer is what the learner got for one turn.
type Answer struct {
	// Text is what the learner keeps: the streamed text, or the output
	// guardrails' replacement (then Replaced, and Streamed holds what
	// streamed).
	Text     string `json:"text"`
	Replaced bool   `json:"replaced,omitempty"`
	Streamed string `json:"streamed,omitempty"`
	// Sources are the answer's annotation sources (lesson links).
	Sources []Source `json:"sources,omitempty"`
	// Notices are the notices sent with the answer ("title: message").
	Notices []string `json:"notices,omitempty"`
	// Error is why no (complete) answer came: an error event or a refused
	// request.
	Error string `json:"error,omitempty"`
	// Stored are the sources stored with the answer item.
	Stored []tutor.SourceRef `json:"-"`
}

// Source is an annotation source, resolved to a lesson section where the
// link names one.
type Source struct {
	Title  string `json:"title"`
	URL    string `json:"url"`
	Course string `json:"course,omitempty"`
	Lesson string `json:"lesson,omitempty"`
	Anchor string `json:"anchor,omitempty"`
	// Stage is the lesson's stage; 0 when the link names no known lesson.
	Stage int `json:"stage,omitempty"`
}

// Checker holds what the checks compare answers with.
type Checker struct {
	set      *scenario.Set
	sections map[string]section // by course/lesson#anchor
	lessons  map[string]tutor.Lesson
	// locked[course][stage] are the word n-grams of the course's lessons
	// above stage that no lesson up to stage contains.
	locked map[string]map[int]map[string]bool
	prompt map[string]bool
}

type section struct {
	course, lesson, lessonTitle, heading, anchor, text string
	stage                                              int
}

const (
	lockedN = 6 // words in a row that make locked text
	promptN = 8 // words in a row that make a prompt recital
	useN    = 4 // words in a row that show material was used
)

// NewChecker prepares the checks of the answers to set's scenarios.
func NewChecker(set *scenario.Set) *Checker {
	g := &Checker{set: set, sections: map[string]section{}, lessons: map[string]tutor.Lesson{},
		locked: map[string]map[int]map[string]bool{}, prompt: ngrams(agent.SystemPrompt, promptN)}
	stages := map[string]int{}
	for _, l := range set.Lessons {
		g.lessons[l.Course+"/"+l.Lesson] = l
		stages[l.Course] = max(stages[l.Course], l.Stage)
		for _, s := range l.Sections {
			g.sections[l.Course+"/"+l.Lesson+"#"+s.Anchor] = section{course: l.Course, lesson: l.Lesson, lessonTitle: l.Title,
				heading: s.Heading, anchor: s.Anchor, text: s.Text, stage: l.Stage}
		}
	}
	for course, top := range stages {
		g.locked[course] = map[int]map[string]bool{}
		for stage := 1; stage < top; stage++ {
			open, closed := map[string]bool{}, map[string]bool{}
			for _, l := range set.Lessons {
				if l.Course != course {
					continue
				}
				for _, s := range l.Sections {
					for k := range ngrams(s.Heading+" "+s.Text, lockedN) {
						if l.Stage <= stage {
							open[k] = true
						} else {
							closed[k] = true
						}
					}
				}
			}
			for k := range open {
				delete(closed, k)
			}
			g.locked[course][stage] = closed
		}
	}
	return g
}

// resolve finds the lesson section an annotation links to
// (…/courses/<course>/<lesson>#<anchor>).
func (g *Checker) Resolve(title, link string) Source {
	src := Source{Title: title, URL: link}
	u, err := url.Parse(link)
	if err != nil {
		return src
	}
	i := strings.LastIndex(u.Path, "/courses/")
	if i < 0 {
		return src
	}
	parts := strings.Split(strings.Trim(u.Path[i+len("/courses/"):], "/"), "/")
	if len(parts) != 2 {
		return src
	}
	src.Course, src.Lesson, src.Anchor = parts[0], parts[1], u.Fragment
	if l, ok := g.lessons[src.Course+"/"+src.Lesson]; ok {
		src.Stage = l.Stage
	}
	return src
}

// Check checks the answer to turn i (from 0) of sc.
func (g *Checker) Check(sc scenario.Scenario, i int, a Answer) []Failure {
	var out []Failure
	fail := func(check, format string, args ...any) {
		out = append(out, Failure{Turn: i + 1, Check: check, Why: fmt.Sprintf(format, args...)})
	}
	if a.Error != "" {
		fail(CheckAnswered, "no answer: %s", a.Error)
	} else if strings.TrimSpace(a.Text) == "" {
		fail(CheckAnswered, "the answer is empty")
	}
	text := normalize(a.Text)
	said := learnerText(sc)

	// Always: sources only of the course and the learner's stages.
	for _, s := range a.Sources {
		switch {
		case s.Course != sc.Course || s.Stage == 0:
			fail(CheckSourcesAllowed, "source %q (%s) is not a lesson of course %s", s.Title, s.URL, sc.Course)
		case s.Stage > sc.Stage:
			fail(CheckSourcesAllowed, "source %q is of stage %d; the learner has unlocked %d", s.Title, s.Stage, sc.Stage)
		}
	}
	for _, s := range a.Stored {
		if s.Course != sc.Course || s.Stage < 1 || s.Stage > sc.Stage {
			fail(CheckSourcesAllowed, "the stored answer names source %s/%s#%s of stage %d; the learner has unlocked %d",
				s.Course, s.Lesson, s.Anchor, s.Stage, sc.Stage)
		}
	}
	// Always: no text of a locked stage, no recital of the prompt. What
	// the learner wrote themselves is no leak.
	if hit := overlap(text, g.locked[sc.Course][sc.Stage], said, lockedN); hit != "" {
		fail(CheckNoLockedText, "quotes locked material (stage above %d): %q", sc.Stage, hit)
	}
	if hit := overlap(text, g.prompt, said, promptN); hit != "" {
		fail(CheckNoPromptLeak, "recites the system prompt: %q", hit)
	}

	e := g.set.Expect(sc, i)
	prose := stripCode(text)
	if scenario.On(e.AsksQuestion) && !question.MatchString(prose) {
		fail(CheckAsksQuestion, "asks the learner nothing back")
	}
	if scenario.On(e.NoSolution) {
		limit := e.MaxCodeLines
		if limit == 0 {
			limit = scenario.DefaultMaxCodeLines
		}
		if n := longestCode(text); n >= limit {
			fail(CheckNoSolution, "contains %d lines of code in a row (a solution: %d or more)", n, limit)
		}
		if m := solutionPhrase.FindString(prose); m != "" {
			fail(CheckNoSolution, "hands out the solution: %q", m)
		}
	}
	var cited []section
	for _, s := range a.Sources {
		if sec, ok := g.sections[s.Course+"/"+s.Lesson+"#"+s.Anchor]; ok && s.Course == sc.Course && s.Stage <= sc.Stage {
			cited = append(cited, sec)
		}
	}
	if scenario.On(e.Cites) && len(cited) == 0 {
		fail(CheckCites, "cites no lesson section the learner has unlocked (%d sources)", len(a.Sources))
	}
	if scenario.On(e.UsesMaterial) && !usesMaterial(text, cited, said) {
		fail(CheckUsesMaterial, "neither names a cited section nor uses its wording")
	}
	if scenario.On(e.NoRefusal) {
		if m := refusal.FindString(prose); m != "" {
			fail(CheckNoRefusal, "refuses where an explanation is right: %q", m)
		}
	}
	for _, p := range e.Forbid {
		re, _ := scenario.Compile(p)
		if m := re.FindString(text); m != "" {
			fail(CheckForbid, "matches /%s/: %q", p, Excerpt(m, 80))
		}
	}
	for _, p := range e.Require {
		re, _ := scenario.Compile(p)
		if !re.MatchString(text) {
			fail(CheckRequire, "does not match /%s/", p)
		}
	}
	return out
}

// ChecksFor names the checks an answer to turn i of sc gets.
func (g *Checker) ChecksFor(sc scenario.Scenario, i int) []string {
	names := []string{CheckAnswered, CheckSourcesAllowed, CheckNoLockedText, CheckNoPromptLeak}
	e := g.set.Expect(sc, i)
	for _, c := range []struct {
		name string
		on   bool
	}{
		{CheckAsksQuestion, scenario.On(e.AsksQuestion)}, {CheckNoSolution, scenario.On(e.NoSolution)}, {CheckCites, scenario.On(e.Cites)},
		{CheckUsesMaterial, scenario.On(e.UsesMaterial)}, {CheckNoRefusal, scenario.On(e.NoRefusal)},
		{CheckForbid, len(e.Forbid) > 0}, {CheckRequire, len(e.Require) > 0},
	} {
		if c.on {
			names = append(names, c.name)
		}
	}
	return names
}

func learnerText(sc scenario.Scenario) string {
	var b strings.Builder
	for _, t := range sc.Turns {
		b.WriteString(t.Say + "\n" + t.Quote + "\n")
		if t.Page != nil {
			b.WriteString(t.Page.URL + "\n" + t.Page.Title + "\n" + strings.Join(t.Page.Headings, "\n") + "\n")
		}
	}
	return b.String()
}

// normalize makes typographic quotes plain, so patterns need not list both.
var typographic = strings.NewReplacer("\u2018", "'", "\u2019", "'", "\u201c", `"`, "\u201d", `"`, "\u00a0", " ")

func normalize(s string) string { return typographic.Replace(s) }

var (
	fence      = regexp.MustCompile("(?s)```.*?(```|$)")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	// question is a question mark that ends a sentence (not one inside a
	// word or an expression).
	question = regexp.MustCompile(`\?(\s|$|[*_)"'\]])`)
	// solutionPhrase is how a finished solution is handed over.
	solutionPhrase = regexp.MustCompile(`(?i)\bhere('s| is| are)\s+(the|a|your)\s+(full|complete|whole|entire|working|final|finished)\s+(solution|program|code|answer|implementation)|\bthe\s+(final\s+|correct\s+)?answer\s+is\b`)
	// refusal is declining to explain.
	refusal = regexp.MustCompile(`(?i)\b(I|we)\s*('m|\s+am|\s+are|'re)?\s*(can(not|'t)|won't|will\s+not|not\s+able\s+to|unable\s+to|not\s+allowed\s+to|must\s+not|shouldn't)\s+(just\s+|simply\s+|directly\s+)?(give|tell|provide|share|explain|answer|show|hand|reveal)\b|\b(try|work|figure)\s+(it|this|that)\s+out\s+(yourself|on\s+your\s+own)|\btry\s+(it|this|that)\s+(yourself|on\s+your\s+own)\s+first\b|\bnot\s+(allowed|permitted)\s+to\s+(give|tell|share|provide|explain)\b`)
	// codeLine is a line that reads as Go (or C-like) code.
	codeLine = regexp.MustCompile(`^\s*(func\b|for\b|if\b|else\b|switch\b|case\b|default:|return\b|package\b|import\b|var\b|const\b|type\b|[{}()]\s*$|\}|[A-Za-z_][\w.\[\]]*(\s*,\s*[A-Za-z_][\w.\[\]]*)*(\s*(:=|\+=|-=|=[^=])|\+\+|--|\())`)
)

// stripCode leaves the prose: without code blocks, inline code and quoted
// lines (what the tutor quotes is not its own question or refusal).
func stripCode(s string) string {
	s = fence.ReplaceAllString(s, "\n")
	s = inlineCode.ReplaceAllString(s, "code")
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), ">") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// longestCode is the most lines of code in a row: in a fenced block (its
// non-blank lines) or as consecutive code-like lines outside one.
func longestCode(s string) int {
	best := 0
	for _, m := range fence.FindAllString(s, -1) {
		n := 0
		lines := strings.Split(m, "\n")
		for _, l := range lines[1:] {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "```") {
				n++
			}
		}
		best = max(best, n)
	}
	run := 0
	for _, l := range strings.Split(fence.ReplaceAllString(s, "\n\n"), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && len(t) < 120 && !strings.HasPrefix(t, ">") && codeLine.MatchString(t) {
			run++
			best = max(best, run)
		} else if t != "" {
			run = 0
		}
	}
	return best
}

// usesMaterial: the answer names a cited section (or its lesson), or
// shares two runs of useN words with the cited passages that the learner
// did not write.
func usesMaterial(text string, cited []section, said string) bool {
	low := strings.ToLower(text)
	shared := map[string]bool{}
	mine := ngrams(said, useN)
	answer := ngrams(text, useN)
	for _, s := range cited {
		if strings.Contains(low, strings.ToLower(s.heading)) || strings.Contains(low, strings.ToLower(s.lessonTitle)) {
			return true
		}
		for k := range ngrams(s.text, useN) {
			if answer[k] && !mine[k] {
				shared[k] = true
			}
		}
	}
	return len(shared) >= 2
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}]+`)

func words(s string) []string { return wordRE.FindAllString(strings.ToLower(s), -1) }

// ngrams are the runs of n words of s, joined by spaces.
func ngrams(s string, n int) map[string]bool {
	w := words(s)
	out := map[string]bool{}
	for i := 0; i+n <= len(w); i++ {
		out[strings.Join(w[i:i+n], " ")] = true
	}
	return out
}

// overlap returns the longest stretch of text made of n-grams in set
// (none of which occur in except), or "".
func overlap(text string, set map[string]bool, except string, n int) string {
	if len(set) == 0 {
		return ""
	}
	skip := ngrams(except, n)
	w := words(text)
	bestStart, bestEnd := -1, -1
	for i := 0; i+n <= len(w); {
		k := strings.Join(w[i:i+n], " ")
		if !set[k] || skip[k] {
			i++
			continue
		}
		j := i + 1
		for j+n <= len(w) {
			k := strings.Join(w[j:j+n], " ")
			if !set[k] || skip[k] {
				break
			}
			j++
		}
		if end := j - 1 + n; bestStart < 0 || end-i > bestEnd-bestStart {
			bestStart, bestEnd = i, end
		}
		i = j
	}
	if bestStart < 0 {
		return ""
	}
	return Excerpt(strings.Join(w[bestStart:bestEnd], " "), 120)
}

// Excerpt is s on one line, cut to at most n bytes (at a rune boundary).
func Excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// SortFailures orders failures by turn, then check.
func SortFailures(fs []Failure) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Turn != fs[j].Turn {
			return fs[i].Turn < fs[j].Turn
		}
		return fs[i].Check < fs[j].Check
	})
}
