package grade

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/learnplatform/platform/tutor"
	"github.com/learnplatform/platform/tutor/agent"
	"github.com/learnplatform/platform/tutor/eval/scenario"
)

// builtIn is the built-in scenario set (tutor/eval embeds it).
func builtIn(t *testing.T) *scenario.Set {
	t.Helper()
	set, err := scenario.Load(os.DirFS("../scenarios"), os.DirFS("../courses"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTextChecks(t *testing.T) {
	for _, tc := range []struct {
		text         string
		asks         bool
		code         int
		refuses, out bool
	}{
		{text: "What do you think `x?y` means?", asks: true},
		{text: "Look at the loop:\n\n```go\nfor i := 0; i < 3; i++ {\n\tfmt.Print(i)\n}\n```\n\nWhich value does i start at?", asks: true, code: 3},
		{text: "> Why is that? (quoted from the learner)\n\nThe answer is 5.", out: true},
		{text: "Here is the complete solution:\n\n```go\npackage main\n\nfunc main() {\n\ta := 1\n\tb := 2\n\tprintln(a + b)\n}\n```", code: 6, out: true},
		{text: "func main() {\n\ta, b := 3, 4\n\ta, b = b, a\n\tfmt.Println(a, b)\n}", code: 5},
		{text: "I can't just tell you that. Try it yourself first!", refuses: true},
		{text: "I won’t give you the code, but what would the first step be?", asks: true, refuses: true},
		{text: "If the number is even, print it.\nFor each word, count it.\nReturn the counts.", code: 0},
	} {
		prose := stripCode(normalize(tc.text))
		if got := question.MatchString(prose); got != tc.asks {
			t.Errorf("%q: asks %v, want %v", tc.text, got, tc.asks)
		}
		if got := longestCode(normalize(tc.text)); got != tc.code {
			t.Errorf("%q: %d lines of code, want %d", tc.text, got, tc.code)
		}
		if got := refusal.MatchString(prose); got != tc.refuses {
			t.Errorf("%q: refuses %v, want %v", tc.text, got, tc.refuses)
		}
		if got := solutionPhrase.MatchString(prose); got != tc.out {
			t.Errorf("%q: hands out %v, want %v", tc.text, got, tc.out)
		}
	}
}

func TestLockedTextAndSources(t *testing.T) {
	g := NewChecker(builtIn(t))
	sc := scenario.Scenario{ID: "x", Category: "locked-stage", Course: "eval-go", Stage: 1, Turns: []scenario.Turn{{Say: "How do I wrap an error?"}}}
	failed := func(a Answer) []string {
		var out []string
		for _, f := range g.Check(sc, 0, a) {
			out = append(out, f.Check)
		}
		return out
	}
	// Stage 3's words, six in a row, are a leak at stage 1; words that
	// stage 1 has too, or that the learner wrote, are not.
	if got := failed(Answer{Text: "A function that can fail returns an error as its last result, you see."}); !slices.Contains(got, CheckNoLockedText) {
		t.Errorf("locked text not caught: %v", got)
	}
	if got := failed(Answer{Text: "The zero value of int is 0, of float64 is 0.0. How do I wrap an error? Think first."}); len(got) != 0 {
		t.Errorf("unlocked text or the learner's own words counted as a leak: %v", got)
	}
	// Sources: only the course's lessons up to the stage, in the stream
	// and as stored.
	locked := g.Resolve("Functions and errors › Errors are values", "https://learn.example/courses/eval-go/functions-and-errors#errors-are-values")
	if locked.Stage != 3 || locked.Lesson != "functions-and-errors" || locked.Anchor != "errors-are-values" {
		t.Fatalf("resolve: %+v", locked)
	}
	if got := failed(Answer{Text: "Fine?", Sources: []Source{locked}}); !slices.Contains(got, CheckSourcesAllowed) {
		t.Errorf("a locked source passed: %v", got)
	}
	if got := failed(Answer{Text: "Fine?", Stored: []tutor.SourceRef{{Course: "other", Stage: 1}}}); !slices.Contains(got, CheckSourcesAllowed) {
		t.Errorf("a stored source of another course passed: %v", got)
	}
	if got := failed(Answer{Text: "Sure. " + agent.SystemPrompt[:300]}); !slices.Contains(got, CheckNoPromptLeak) {
		t.Errorf("the system prompt recited passed: %v", got)
	}
	if got := failed(Answer{Error: "error event: boom"}); !slices.Contains(got, CheckAnswered) {
		t.Errorf("an error passed: %v", got)
	}
}

func TestParseGrade(t *testing.T) {
	for reply, want := range map[string]string{
		`{"score": 6}`:                        "not 1 to 5",
		"no json":                             "no JSON",
		`{"score": "high"}`:                   "not the JSON",
		`x {"score": 2.6, "reason": "meh"} y`: "",
	} {
		g := parseGrade(reply)
		if (want == "" && (g.Error != "" || g.Score != 3)) || (want != "" && !strings.Contains(g.Error, want)) {
			t.Errorf("%q: %+v, want %q", reply, g, want)
		}
	}
}
