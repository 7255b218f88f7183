package scenario

import (
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// builtIn is the built-in scenario set (tutor/eval embeds it).
func builtIn(t *testing.T) *Set {
	t.Helper()
	set, err := Load(os.DirFS("../scenarios"), os.DirFS("../courses"))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestExpectMerges(t *testing.T) {
	set := builtIn(t)
	no := false
	sc := Scenario{Category: "direct-answer", Expect: Expect{AsksQuestion: &no, Forbid: []string{"a"}},
		Turns: []Turn{{Say: "q", Expect: Expect{Forbid: []string{"b"}, MaxCodeLines: 9}}}}
	e := set.Expect(sc, 0)
	if On(e.AsksQuestion) || !On(e.NoSolution) || !slices.Equal(e.Forbid, []string{"a", "b"}) || e.MaxCodeLines != 9 {
		t.Fatalf("merged %+v", e)
	}
}

func TestLoadRefusesBadScenarios(t *testing.T) {
	courses := os.DirFS("../courses")
	set := `name: t
version: 1
categories:
  - name: cat
    expect: {asks_question: true}
`
	good := `scenarios:
  - id: cat/one
    version: 1
    category: cat
    course: eval-go
    stage: 1
    turns: [{say: hi}]
`
	if _, err := Load(fstest.MapFS{"set.yaml": {Data: []byte(set)}, "cat.yaml": {Data: []byte(good)}}, courses); err != nil {
		t.Fatalf("a good set: %v", err)
	}
	for name, tc := range map[string]struct{ file, want string }{
		"unknown key":      {strings.Replace(good, "stage: 1", "stage: 1\n    stgae: 2", 1), "stgae"},
		"unknown category": {strings.Replace(good, "category: cat", "category: dog", 1), `category "dog"`},
		"unknown course":   {strings.Replace(good, "course: eval-go", "course: nope", 1), `course "nope"`},
		"stage too high":   {strings.Replace(good, "stage: 1", "stage: 9", 1), "stages 1 to 4"},
		"no turns":         {strings.Replace(good, "turns: [{say: hi}]", "turns: []", 1), "turns"},
		"empty message":    {strings.Replace(good, "say: hi", "say: ''", 1), "say"},
		"bad pattern":      {good + "    expect: {forbid: ['(']}\n", "missing closing )"},
		"bad id":           {strings.Replace(good, "cat/one", "Cat One", 1), "id"},
		"duplicate id":     {good + strings.TrimPrefix(good, "scenarios:\n"), "also used"},
		"no version":       {strings.Replace(good, "version: 1", "version: 0", 1), "version"},
	} {
		_, err := Load(fstest.MapFS{"set.yaml": {Data: []byte(set)}, "cat.yaml": {Data: []byte(tc.file)}}, courses)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cat.yaml") {
			t.Errorf("%s: %v, want an error naming cat.yaml and %q", name, err, tc.want)
		}
	}
}
