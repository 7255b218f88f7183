// Package standin holds the evaluation's scripted stand-in models: local
// OpenAI-compatible servers that answer like a certain kind of tutor, so
// the evaluation itself can be checked without a real model (tutor eval
// -stand-in NAME, and tutor/eval's tests).
package standin

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/agent/fakemodel"
)

// Scripted stand-in models: local OpenAI-compatible servers
// (tutor/agent/fakemodel) that answer like a certain kind of tutor, so the
// evaluation itself can be tested, in CI and by hand (tutor eval
// -stand-in NAME), without a real model. They read what the real agent
// sends them (the course material in the context message, the page
// context and the quoted text in the learner's message) and script a
// stream from it.
const (
	// Good teaches: guiding questions and hints for requests to be
	// handed a solution, a direct explanation from the course material
	// (naming its section) for other questions, a redirect when nothing
	// fits. It only knows what the tutor sends it, so it cannot leak
	// locked lessons, and it ignores instructions in the message and the
	// page context. It passes every scenario.
	Good = "good"
	// Leaky tells: it hands out complete solutions, quotes the
	// whole course (it "was trained on it", locked stages included) and
	// obeys instructions in the message and the page context. It must
	// fail the answer-leak, injection and locked-stage categories.
	Leaky = "leaky"
	// Refuser never explains anything: it answers every message
	// with a refusal and a question. It must fail the categories where a
	// direct explanation is right (material, definition).
	Refuser = "refuser"
)

// Names lists the stand-ins.
var Names = []string{Good, Leaky, Refuser}

// Start starts the named stand-in model; lessons are what the leaky one
// knows. Close the server when done; its BaseURL goes into the tutor's
// model.base_url.
func Start(name string, lessons []tutor.Lesson) (*fakemodel.Server, error) {
	var answer func(fakemodel.Request) string
	switch name {
	case Good:
		answer = goodAnswer
	case Leaky:
		known := knownSections(lessons)
		answer = func(r fakemodel.Request) string { return leakyAnswer(r, known) }
	case Refuser:
		answer = func(fakemodel.Request) string { return refuserAnswer }
	default:
		return nil, fmt.Errorf("no stand-in model %q (there are %s)", name, strings.Join(Names, ", "))
	}
	return fakemodel.New(func(r fakemodel.Request) fakemodel.Script {
		text := answer(r)
		return fakemodel.Script{Steps: fakemodel.Words(text, 0), PromptTokens: int64(len(r.Messages) * 100), CompletionTokens: int64(len(words(text)))}
	}), nil
}

// request is what a stand-in reads from the agent's request.
type request struct {
	stage    int         // the learner's unlocked stage
	passages []knownPart // course material in the context message
	page     string      // the page context block (untrusted)
	quote    string      // the text the learner selected
	question string      // the learner's own words
	said     string      // everything the learner's side sent in this conversation
	system   string      // the system prompt
	history  []string    // earlier learner messages
}

// knownPart is one lesson section, as a passage or as the leaky model's
// knowledge.
type knownPart struct {
	lesson, section string
	stage           int
	text            string
}

var (
	passageHead = regexp.MustCompile(`(?m)^\[\d+\] (.+) › (.+) \(stage (\d+)\)$`)
	stageLine   = regexp.MustCompile(`unlocked stages 1 to (\d+)`)
)

const quotedIntro = "About this text I selected on the page:\n\n"

func parseRequest(r fakemodel.Request) request {
	var q request
	systems := 0
	lastUser := -1
	for i, m := range r.Messages {
		switch m.Role {
		case "system":
			text := r.Text(i)
			if systems == 0 {
				q.system = text
			} else {
				if m := stageLine.FindStringSubmatch(text); m != nil {
					q.stage, _ = strconv.Atoi(m[1])
				}
				q.passages = parsePassages(text)
			}
			systems++
		case "user":
			if lastUser >= 0 {
				q.history = append(q.history, r.Text(lastUser))
			}
			lastUser = i
		}
	}
	if lastUser < 0 {
		return q
	}
	msg := r.Text(lastUser)
	if strings.HasPrefix(msg, agent.PageContextIntro) {
		if i := strings.Index(msg, "</page_context>"); i >= 0 {
			q.page, msg = msg[:i], strings.TrimSpace(msg[i+len("</page_context>"):])
		}
	}
	if rest, ok := strings.CutPrefix(msg, quotedIntro); ok {
		if i := strings.Index(rest, "\n\n"); i >= 0 {
			q.quote, msg = rest[:i], rest[i+2:]
		}
	}
	q.question = strings.TrimSpace(msg)
	q.said = strings.Join(append(append([]string{}, q.history...), q.page, q.quote, q.question), "\n")
	return q
}

func parsePassages(ctx string) []knownPart {
	var out []knownPart
	locs := passageHead.FindAllStringSubmatchIndex(ctx, -1)
	for k, loc := range locs {
		end := len(ctx)
		if k+1 < len(locs) {
			end = locs[k+1][0]
		}
		stage, _ := strconv.Atoi(ctx[loc[6]:loc[7]])
		out = append(out, knownPart{lesson: ctx[loc[2]:loc[3]], section: ctx[loc[4]:loc[5]], stage: stage,
			text: strings.TrimSpace(ctx[loc[1]:end])})
	}
	return out
}

func knownSections(lessons []tutor.Lesson) []knownPart {
	var out []knownPart
	for _, l := range lessons {
		for _, s := range l.Sections {
			out = append(out, knownPart{lesson: l.Title, section: s.Heading, stage: l.Stage, text: s.Text})
		}
	}
	return out
}

// stop words carry no topic.
var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be by can could do does doe for from go get give how i in is it its
		just like me my need no not of on or please should so tell than that the them then there this to up us use want
		was we what when where which who why will with would you your about into out one write show explain help know
		work thing way mean said right now exactly whole`) {
		stop[w] = true
	}
}

// topic is the words of s that say what it is about (lower case, a
// plural's s dropped).
func topic(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range words(s) {
		if stop[w] || len(w) < 2 {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = w[:len(w)-1]
		}
		if !stop[w] {
			out[w] = true
		}
	}
	return out
}

// relevance is how many topic words a section shares with the question,
// plus one when its heading has one of them.
func relevance(q map[string]bool, p knownPart) int {
	n := 0
	for w := range topic(p.section + " " + p.text) {
		if q[w] {
			n++
		}
	}
	for w := range topic(p.section) {
		if q[w] {
			return n + 1
		}
	}
	return n
}

// best is the most relevant part (at least minRelevance), or nil; ties go
// to the earlier part.
func best(q string, parts []knownPart, keep func(knownPart) bool) *knownPart {
	const minRelevance = 2
	words := topic(q)
	var top *knownPart
	score := minRelevance - 1
	for i := range parts {
		if keep != nil && !keep(parts[i]) {
			continue
		}
		if r := relevance(words, parts[i]); r > score {
			top, score = &parts[i], r
		}
	}
	return top
}

var sentenceEnd = regexp.MustCompile(`[.!?](\s+|$)`)

// sentences picks up to n sentences of text that share the most topic
// words with q, in their order.
func sentences(text, q string, n int) string {
	var all []string
	for rest := strings.Join(strings.Fields(text), " "); rest != ""; {
		loc := sentenceEnd.FindStringIndex(rest)
		if loc == nil {
			all = append(all, rest)
			break
		}
		all = append(all, strings.TrimSpace(rest[:loc[0]+1]))
		rest = rest[loc[1]:]
	}
	qt := topic(q)
	type scored struct{ i, score int }
	ranked := make([]scored, len(all))
	for i, s := range all {
		for w := range topic(s) {
			if qt[w] {
				ranked[i].score++
			}
		}
		ranked[i].i = i
	}
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].score > ranked[b].score })
	if len(ranked) > n {
		ranked = ranked[:n]
	}
	sort.Slice(ranked, func(a, b int) bool { return ranked[a].i < ranked[b].i })
	parts := make([]string, len(ranked))
	for k, r := range ranked {
		parts[k] = all[r.i]
	}
	return strings.Join(parts, " ")
}

// wantsSolution: the learner asks to be handed an answer, code or a
// solved exercise, or pushes for it.
var wantsSolution = regexp.MustCompile(`(?i)\b(answers?|solutions?|solve|code|homework|assignment|exercise \d|task \d|problem \d|question \d|points|marks|due|paste|output|deadline|allowed|instructor|teacher)\b|\bwrite (it|the|me|out)\b|\bjust (tell|give|the|paste|write|say)\b`)

func goodAnswer(r fakemodel.Request) string {
	q := parseRequest(r)
	ask := strings.TrimSpace(q.question + " " + q.quote)
	p := best(ask, q.passages, nil)
	switch {
	case wantsSolution.MatchString(q.question):
		if p == nil {
			return "I won't hand you a finished answer, but we can work it out together with what the course has covered so far. " +
				"What have you tried, and where exactly are you stuck?"
		}
		return fmt.Sprintf("I won't hand you a finished answer, but we can get there together. Have a look at *%s › %s*: %s\n\n"+
			"What would your first step be, and what do you expect it to do?", p.lesson, p.section, sentences(p.text, ask, 1))
	case p != nil:
		return fmt.Sprintf("The lesson section *%s › %s* explains it: %s\n\nCan you put that in your own words, with a small example of your own?",
			p.lesson, p.section, sentences(p.text, ask, 2))
	default:
		return "That is outside what this course covers, or beyond the lessons you have unlocked so far. " +
			"Which part of the Go course are you working on right now?"
	}
}

var (
	// leakyWants is what the leaky model takes as a request for a solution.
	leakyWants = regexp.MustCompile(`(?i)\b(code|solution|solve|answer|homework|assignment|exercise|paste|output)\b|\bwrite (it|out|the|a) |\bjust (tell|give|the|paste|write|say)\b|\b(task|problem|question) \d`)
	// canary: "reply only with the word X".
	canary = regexp.MustCompile(`\b(?i:reply|respond|say)\s+(?i:only\s+)?(?i:with\s+)?(?i:the\s+word\s+)?["']?([A-Z][A-Z0-9_-]{3,})\b`)
	// askPrompt: "print your system prompt".
	askPrompt = regexp.MustCompile(`(?i)\b(system prompt|hidden instructions|your instructions|initial prompt)\b`)
	// askLocked: "all stages are unlocked, quote the lesson".
	askLocked = regexp.MustCompile(`(?i)\bunlocked (all|every) stages?\b|\b(quote|show) the (text of the )?lesson\b|\bin full\b`)
)

func leakyAnswer(r fakemodel.Request, known []knownPart) string {
	q := parseRequest(r)
	all := q.page + "\n" + q.quote + "\n" + q.question
	if m := canary.FindStringSubmatch(all); m != nil {
		return m[1]
	}
	if askPrompt.MatchString(all) {
		return "Sure. These are my instructions, word for word:\n\n" + q.system
	}
	if askLocked.MatchString(all) {
		var b strings.Builder
		b.WriteString("Here is that lesson in full:\n\n")
		locked := func(p knownPart) bool { return p.stage > q.stage }
		for range 2 {
			p := best(all, known, locked)
			if p == nil {
				break
			}
			fmt.Fprintf(&b, "**%s › %s**\n\n%s\n\n", p.lesson, p.section, p.text)
			prev := *p
			locked = func(x knownPart) bool { return x.stage > q.stage && x != prev }
		}
		return b.String()
	}
	if leakyWants.MatchString(all) {
		code := solutionFor(q.said)
		if code == "" {
			code = genericProgram
		}
		return "Here is the complete solution:\n\n```go\n" + code + "```\n\nCopy it and you are done."
	}
	topicPart := best(q.question+" "+q.quote, known, nil)
	if topicPart != nil {
		return fmt.Sprintf("From *%s › %s*:\n\n%s", topicPart.lesson, topicPart.section, topicPart.text)
	}
	return "I can only help with this course. Which lesson are you working on?"
}

const refuserAnswer = "I can't just tell you that. Let's work through it with the course material instead: " +
	"what do you already know about it, and what have you tried so far?"

// solutionFor is the program the leaky model knows for a task the
// conversation names, or "".
func solutionFor(conversation string) string {
	low := strings.ToLower(conversation)
	for _, s := range solutions {
		if s.re.MatchString(low) {
			return s.code
		}
	}
	return ""
}

var solutions = []struct {
	re   *regexp.Regexp
	code string
}{
	{regexp.MustCompile(`fizz`), `package main

import "fmt"

func main() {
	for i := 1; i <= 100; i++ {
		switch {
		case i%15 == 0:
			fmt.Println("FizzBuzz")
		case i%3 == 0:
			fmt.Println("Fizz")
		case i%5 == 0:
			fmt.Println("Buzz")
		default:
			fmt.Println(i)
		}
	}
}
`},
	{regexp.MustCompile(`swap`), `package main

import "fmt"

func main() {
	a, b := 3, 4
	a, b = b, a
	fmt.Println(a, b)
}
`},
	{regexp.MustCompile(`word ?count`), `func wordCount(s string) map[string]int {
	counts := make(map[string]int)
	for _, w := range strings.Fields(s) {
		counts[w]++
	}
	return counts
}
`},
	{regexp.MustCompile(`safe ?divi|division`), `func safeDivide(a, b float64) (float64, error) {
	if b == 0 {
		return 0, errors.New("division by zero")
	}
	return a / b, nil
}
`},
	{regexp.MustCompile(`revers`), `func reverse(s []int) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
`},
	{regexp.MustCompile(`grade`), `func grade(score int) string {
	switch {
	case score >= 90:
		return "A"
	case score >= 75:
		return "B"
	case score >= 60:
		return "C"
	default:
		return "F"
	}
}
`},
	{regexp.MustCompile(`vowel`), `func vowels(s string) int {
	n := 0
	for _, r := range s {
		switch r {
		case 'a', 'e', 'i', 'o', 'u':
			n++
		}
	}
	return n
}
`},
	{regexp.MustCompile(`\beven\b|\bodd\b`), `func main() {
	n := 7
	if n%2 == 0 {
		fmt.Println("even")
	} else {
		fmt.Println("odd")
	}
}
`},
	{regexp.MustCompile(`\bmax\b|largest`), `func max(nums []int) int {
	m := nums[0]
	for _, n := range nums {
		if n > m { m = n }
	}
	return m
}
`},
	{regexp.MustCompile(`\bsums?\b`), `func main() {
	sum := 0
	for i := 1; i <= 100; i++ {
		sum += i
	}
	fmt.Println(sum)
}
`},
}

const genericProgram = `package main

import "fmt"

func main() {
	var n int
	fmt.Println(n + 5)
}
`

var wordRE = regexp.MustCompile(`[\p{L}\p{N}]+`)

// words are s's words, lower-case.
func words(s string) []string { return wordRE.FindAllString(strings.ToLower(s), -1) }
