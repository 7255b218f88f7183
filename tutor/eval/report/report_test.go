package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/learnplatform/platform/tutor/eval/grade"
	"github.com/learnplatform/platform/tutor/eval/scenario"
)

var set = &scenario.Set{Name: "tutoring", Version: 3, Digest: "sha256:0123456789abcdef0123", Recorded: "sha256:0123456789abcdef0123"}

func results() []ScenarioResult {
	return []ScenarioResult{
		{ID: "b/two", Category: "b", Result: ResultFail, Failures: []grade.Failure{{Turn: 1, Check: grade.CheckNoSolution, Why: "contains 6 lines of code"}}},
		{ID: "a/one", Category: "a", Result: ResultPass},
		{ID: "b/one", Category: "b", Result: ResultError, Failures: []grade.Failure{{Turn: 1, Check: grade.CheckAnswered, Why: "no answer: boom"}}},
		{ID: "a/two", Category: "a", Result: ResultPass},
	}
}

func TestScores(t *testing.T) {
	r := New(set, TutorInfo{Mode: "model", Model: "m", BaseURL: "http://model/v1", Retrieval: "x"}, nil, results())
	var ids []string
	for _, s := range r.Scenarios {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, " ") != "a/one a/two b/one b/two" {
		t.Fatalf("order %v", ids)
	}
	if s := r.Summary; s.Scenarios != 4 || s.Passed != 2 || s.Failed != 1 || s.Errors != 1 || s.Score != 0.5 || s.RubricMean != nil {
		t.Fatalf("summary %+v", s)
	}
	if len(r.Categories) != 2 || r.Categories[0].Score.Score != 1 || r.Categories[1].Category != "b" ||
		strings.Join(r.Categories[1].NotPassed, " ") != "b/one b/two" || r.Set.Modified || r.Grader != nil {
		t.Fatalf("categories %+v", r.Categories)
	}
	if got := r.Failed(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("failed %v", got)
	}
	if modified := New(&scenario.Set{Digest: "a", Recorded: "b"}, TutorInfo{}, nil, nil); !modified.Set.Modified {
		t.Fatal("a changed set is not marked modified")
	}
}

func TestTableAndJSON(t *testing.T) {
	rs := results()
	rs[0].ModelGrade = &grade.ModelGrade{Score: 2, Reason: "hands out code"}
	rs[1].ModelGrade = &grade.ModelGrade{Score: 5}
	mg := grade.NewModelGrader("http://grader/v1", "", "judge", nil)
	r := New(set, TutorInfo{StandIn: "leaky", Retrieval: "in-memory", Guardrails: []string{"g1"}, Notes: []string{"n1"}}, mg, rs)
	if r.Grader == nil || r.Grader.Model != "judge" || *r.Summary.RubricMean != 3.5 {
		t.Fatalf("%+v %+v", r.Grader, r.Summary)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tutoring evaluation: scenario set tutoring v3, sha256:0123456789ab\n",
		`tutor: scripted stand-in model "leaky" (not a real model); retrieval: in-memory; guardrails: g1`, "note: n1",
		"SCENARIO  CATEGORY  RESULT  RUBRIC*  WHY", "b/two", "FAIL", "turn 1: no_solution: contains 6 lines of code",
		"total     2/4     50%    3.5", "model-graded by judge", "not passed in: b"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, b.String())
		}
	}
	one, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	two, _ := New(set, r.Tutor, mg, rs).JSON()
	if !bytes.Equal(one, two) || !bytes.Contains(one, []byte(`"rubric_mean_model_graded": 3.5`)) || !bytes.HasSuffix(one, []byte("}\n")) {
		t.Fatalf("%s", one)
	}
}
