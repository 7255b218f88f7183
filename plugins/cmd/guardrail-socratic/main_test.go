package main

import (
	"strings"
	"testing"

	"github.com/learnplatform/platform/plugins"
	"github.com/learnplatform/platform/plugins/plugintest"
)

const solution = "Here is the complete solution:\n\n```go\npackage main\n\nimport \"fmt\"\n\nfunc main() {\n\tfor i := 1; i <= 10; i++ {\n\t\tfmt.Println(i)\n\t}\n}\n```"

func TestConformance(t *testing.T) {
	g := plugintest.LaunchGuardrail(t, plugintest.Build(t, "."), map[string]any{"min_code_lines": 6})
	tried := plugins.Context{History: []plugins.Turn{{Role: "user", Text: "I tried `for i := 0; i < 10` but it prints 0"}}}
	homework := "Exercise 1\n(a) Write a function that sums a slice.\n(b) Write a function that reverses a string.\n10 points each, due by Friday."
	plugintest.Guardrail(t, g,
		plugintest.Case{Name: "give me the answer", Input: &plugins.InputCheck{Message: "just give me the answer please"}, Want: plugins.Rewrite},
		plugintest.Case{Name: "solve it for me", Input: &plugins.InputCheck{Message: "Can you solve this exercise for me?"}, Want: plugins.Rewrite},
		plugintest.Case{Name: "pasted homework", Input: &plugins.InputCheck{Message: homework}, Want: plugins.Rewrite},
		plugintest.Case{Name: "ordinary question", Input: &plugins.InputCheck{Message: "Why does my loop start at zero?"}, Want: plugins.Allow},
		plugintest.Case{Name: "solution before trying", Output: &plugins.OutputCheck{Message: "print 1 to 10", Answer: solution}, Want: plugins.Rewrite},
		plugintest.Case{Name: "solution after trying", Output: &plugins.OutputCheck{Message: "still wrong", Answer: solution, Context: tried}, Want: plugins.Allow},
		plugintest.Case{Name: "a guiding answer", Output: &plugins.OutputCheck{Message: "print 1 to 10", Answer: "Where should the loop start? Try `i := 1`."}, Want: plugins.Allow},
	)
}

func TestHintHasNoCode(t *testing.T) {
	h := hint("A for loop repeats a block. Start at one and stop at ten. " + solution)
	if strings.Contains(h, "```") || strings.Contains(h, "fmt.Println") || !strings.Contains(h, "A for loop repeats a block.") {
		t.Errorf("hint: %q", h)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []string{`{"min_code_lines": 0}`, `{"answer_requests": ["("]}`, `[]`} {
		if err := (&socratic{}).Configure(t.Context(), []byte(cfg)); err == nil {
			t.Errorf("%s accepted", cfg)
		}
	}
}
