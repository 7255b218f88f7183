// Package report is the outcome of an evaluation run: a result per
// scenario, scores per category and in all, as a table for people and as
// stable JSON (no times, no random ids, sorted) so the reports of two
// runs (two models, two prompts) can be diffed.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/learnplatform/platform/tutor/eval/grade"
	"github.com/learnplatform/platform/tutor/eval/scenario"
)

// Scenario results.
const (
	ResultPass  = "pass"
	ResultFail  = "fail"
	ResultError = "error" // no answer came (the model or the tutor failed)
)

// Report is the outcome of a run. Its JSON is stable: no times, no
// random ids, scenarios sorted by id and categories by name, so the
// reports of two runs (two models, two prompts) can be diffed.
type Report struct {
	Set   SetInfo   `json:"scenario_set"`
	Tutor TutorInfo `json:"tutor"`
	// Grader is the model that gave the rubric scores, when one did.
	Grader     *GraderInfo      `json:"grader,omitempty"`
	Summary    Score            `json:"summary"`
	Categories []CategoryScore  `json:"categories"`
	Scenarios  []ScenarioResult `json:"scenarios"`
}

// SetInfo names the scenario set that ran.
type SetInfo struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Digest  string `json:"digest"`
	// Modified: the files differ from what set.yaml's digest records (a
	// changed set under an old version; not comparable with that version).
	Modified bool `json:"modified,omitempty"`
}

// TutorInfo describes the tutor under test.
type TutorInfo struct {
	// Mode is "model" or "course-material" (no model configured).
	Mode    string `json:"mode"`
	Model   string `json:"model,omitempty"`
	BaseURL string `json:"base_url,omitempty"`
	// StandIn names the scripted stand-in model answering instead of a
	// real one (-stand-in), if any.
	StandIn string `json:"stand_in,omitempty"`
	// Retrieval says where course search came from.
	Retrieval  string   `json:"retrieval"`
	Guardrails []string `json:"guardrails,omitempty"`
	Notes      []string `json:"notes,omitempty"`
}

// GraderInfo names the grader model.
type GraderInfo struct {
	Model   string `json:"model"`
	BaseURL string `json:"base_url"`
	// Label says what its scores are: model-graded, apart from pass/fail.
	Label string `json:"label"`
}

// Score counts results.
type Score struct {
	Scenarios int `json:"scenarios"`
	Passed    int `json:"passed"`
	Failed    int `json:"failed"`
	Errors    int `json:"errors"`
	// Score is passed / scenarios, from 0 to 1.
	Score float64 `json:"score"`
	// RubricMean is the grader model's mean score (1-5) when one graded.
	RubricMean *float64 `json:"rubric_mean_model_graded,omitempty"`
}

// CategoryScore is one category's score and the scenarios that did not pass.
type CategoryScore struct {
	Category string `json:"category"`
	Score
	NotPassed []string `json:"not_passed,omitempty"`
}

// ScenarioResult is one scenario's outcome.
type ScenarioResult struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Category string `json:"category"`
	About    string `json:"about,omitempty"`
	Course   string `json:"course"`
	Stage    int    `json:"stage"`
	// Result is pass, fail or error; Failures say why.
	Result   string          `json:"result"`
	Failures []grade.Failure `json:"failures,omitempty"`
	// Checks names every check the answers got.
	Checks []string     `json:"checks"`
	Turns  []grade.Turn `json:"turns"`
	// ModelGrade is the grader model's rubric score (not part of Result).
	ModelGrade *grade.ModelGrade `json:"model_grade,omitempty"`
}

// Why is the failures in one line.
func (r ScenarioResult) Why() string {
	parts := make([]string, len(r.Failures))
	for i, f := range r.Failures {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ")
}

// New is the report of a run of set's scenarios (results, in any order)
// against the tutor described, graded also by mg when it is not nil.
func New(set *scenario.Set, tutor TutorInfo, mg *grade.ModelGrader, results []ScenarioResult) *Report {
	r := &Report{Set: SetInfo{Name: set.Name, Version: set.Version, Digest: set.Digest, Modified: set.Digest != set.Recorded},
		Tutor: tutor, Scenarios: results}
	if mg != nil {
		r.Grader = &GraderInfo{Model: mg.Model, BaseURL: mg.BaseURL, Label: "model-graded rubric score 1-5; not part of pass/fail"}
	}
	sort.Slice(r.Scenarios, func(i, j int) bool { return r.Scenarios[i].ID < r.Scenarios[j].ID })
	byCat := map[string]*CategoryScore{}
	var rubricAll []int
	rubric := map[string][]int{}
	for _, s := range r.Scenarios {
		c := byCat[s.Category]
		if c == nil {
			c = &CategoryScore{Category: s.Category}
			byCat[s.Category] = c
		}
		for _, sc := range []*Score{&c.Score, &r.Summary} {
			sc.Scenarios++
			switch s.Result {
			case ResultPass:
				sc.Passed++
			case ResultFail:
				sc.Failed++
			default:
				sc.Errors++
			}
		}
		if s.Result != ResultPass {
			c.NotPassed = append(c.NotPassed, s.ID)
		}
		if s.ModelGrade != nil && s.ModelGrade.Score > 0 {
			rubric[s.Category] = append(rubric[s.Category], s.ModelGrade.Score)
			rubricAll = append(rubricAll, s.ModelGrade.Score)
		}
	}
	r.Summary.finish(rubricAll)
	for _, c := range byCat {
		c.finish(rubric[c.Category])
		r.Categories = append(r.Categories, *c)
	}
	sort.Slice(r.Categories, func(i, j int) bool { return r.Categories[i].Category < r.Categories[j].Category })
	return r
}

func (s *Score) finish(rubric []int) {
	if s.Scenarios > 0 {
		s.Score = round(float64(s.Passed) / float64(s.Scenarios))
	}
	if len(rubric) > 0 {
		sum := 0
		for _, v := range rubric {
			sum += v
		}
		m := round(float64(sum) / float64(len(rubric)))
		s.RubricMean = &m
	}
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }

// Failed lists the categories with a scenario that did not pass.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Categories {
		if c.Passed < c.Scenarios {
			out = append(out, c.Category)
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON to path (its folder is
// made if needed).
func (r *Report) WriteJSON(path string) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// JSON is the report's stable JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteTable prints the report for people: a line per scenario (result
// and why), then the score per category.
func (r *Report) WriteTable(w io.Writer) error {
	set := fmt.Sprintf("scenario set %s v%d, %s", r.Set.Name, r.Set.Version, shortDigest(r.Set.Digest))
	if r.Set.Modified {
		set += " (modified: files differ from the version's digest)"
	}
	fmt.Fprintf(w, "tutoring evaluation: %s\n", set)
	fmt.Fprintf(w, "tutor: %s\n", r.Tutor.describe())
	for _, n := range r.Tutor.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)

	graded := r.Grader != nil
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if graded {
		fmt.Fprintln(tw, "SCENARIO\tCATEGORY\tRESULT\tRUBRIC*\tWHY")
	} else {
		fmt.Fprintln(tw, "SCENARIO\tCATEGORY\tRESULT\tWHY")
	}
	for _, s := range r.Scenarios {
		why := grade.Excerpt(s.Why(), 140)
		if graded {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.Category, strings.ToUpper(s.Result), rubricCell(s.ModelGrade), why)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Category, strings.ToUpper(s.Result), why)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "CATEGORY\tPASSED\tSCORE\t"
	if graded {
		head += "RUBRIC*\t"
	}
	fmt.Fprintln(tw, head)
	row := func(name string, s Score) {
		line := fmt.Sprintf("%s\t%d/%d\t%d%%\t", name, s.Passed, s.Scenarios, int(math.Round(s.Score*100)))
		if graded {
			if s.RubricMean != nil {
				line += fmt.Sprintf("%.1f\t", *s.RubricMean)
			} else {
				line += "-\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	for _, c := range r.Categories {
		row(c.Category, c.Score)
	}
	row("total", r.Summary)
	if err := tw.Flush(); err != nil {
		return err
	}
	if graded {
		fmt.Fprintf(w, "\n* RUBRIC: model-graded by %s (1-5, mean); not part of PASS/FAIL.\n", r.Grader.Model)
	}
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "\nnot passed in: %s\n", strings.Join(failed, ", "))
	}
	return nil
}

func (t TutorInfo) describe() string {
	var b strings.Builder
	switch {
	case t.StandIn != "":
		fmt.Fprintf(&b, "scripted stand-in model %q (not a real model)", t.StandIn)
	case t.Mode == "model":
		fmt.Fprintf(&b, "model %s at %s", t.Model, t.BaseURL)
	default:
		b.WriteString("no model configured (course-material mode)")
	}
	fmt.Fprintf(&b, "; retrieval: %s; guardrails: ", t.Retrieval)
	if len(t.Guardrails) == 0 {
		b.WriteString("none")
	} else {
		b.WriteString(strings.Join(t.Guardrails, ", "))
	}
	return b.String()
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// rubricCell is a grader model's score in the table.
func rubricCell(g *grade.ModelGrade) string {
	if g == nil || g.Score == 0 {
		return "-"
	}
	return fmt.Sprint(g.Score)
}
