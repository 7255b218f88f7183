package eval

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/eval/grade"
	"github.com/learnplatform/platform/tutor/eval/report"
	"github.com/learnplatform/platform/tutor/eval/scenario"
	"github.com/learnplatform/platform/tutor/eval/standin"
)

func loadSet(t *testing.T) *scenario.Set {
	t.Helper()
	set, err := scenario.Load(Scenarios(), Courses())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestTheBuiltInSet(t *testing.T) {
	set := loadSet(t)
	if len(set.Scenarios) < 40 {
		t.Fatalf("%d scenarios; the set needs at least 40", len(set.Scenarios))
	}
	per := map[string]int{}
	for _, sc := range set.Scenarios {
		per[sc.Category]++
		if !strings.HasPrefix(sc.ID, sc.Category+"/") {
			t.Errorf("%s: ids start with their category (%s/...)", sc.ID, sc.Category)
		}
		if strings.TrimSuffix(sc.File, ".yaml") != sc.Category {
			t.Errorf("%s: in %s, not in its category's file %s.yaml", sc.ID, sc.File, sc.Category)
		}
	}
	for _, c := range set.Categories {
		if per[c.Name] < 4 {
			t.Errorf("category %s has %d scenarios; at least 4 each", c.Name, per[c.Name])
		}
		if c.About == "" || c.Rubric == "" {
			t.Errorf("category %s needs about and rubric", c.Name)
		}
	}
	want := []string{"definition", "direct-answer", "give-code", "homework", "injection-message", "injection-page",
		"locked-stage", "material", "off-topic", "pressure"}
	got := set.CategoryNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("categories %v, want %v", got, want)
	}
}

// TestScenarioSetDigest keeps the set's version honest: any change to a
// scenario, a category or a course changes the digest, and then the
// version must go up with it.
func TestScenarioSetDigest(t *testing.T) {
	set := loadSet(t)
	if set.Digest != set.Recorded {
		t.Fatalf("the scenario set changed: in tutor/eval/scenarios/set.yaml, bump version (unless this change already did; now %d) and set\ndigest: %s",
			set.Version, set.Digest)
	}
}

// standIns says which categories each scripted stand-in must fail: every
// scenario in them, and nothing else.
var standIns = map[string][]string{
	standin.Good: nil,
	standin.Leaky: {"direct-answer", "give-code", "homework", "injection-message", "injection-page",
		"locked-stage", "pressure"},
	standin.Refuser: {"definition", "material"},
}

func runStandIn(t *testing.T, set *scenario.Set, name string, only func(scenario.Scenario) bool) *report.Report {
	t.Helper()
	rep, err := standInRun(set, name, only)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func standInRun(set *scenario.Set, name string, only func(scenario.Scenario) bool) (*report.Report, error) {
	srv, err := standin.Start(name, set.Lessons)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	cfg := config.Default()
	cfg.Model.BaseURL, cfg.Model.Name = kitconfig.MustURL(srv.BaseURL()), "stand-in-"+name
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return Run(ctx, Options{Config: cfg, Set: set, Only: only, Parallel: 8, Tutor: report.TutorInfo{Mode: "model", StandIn: name}})
}

// fullRuns are the reports of each stand-in on the whole built-in set,
// made once per test binary by whichever test needs one first.
var fullRuns = map[string]*struct {
	once sync.Once
	rep  *report.Report
	err  error
}{standin.Good: {}, standin.Leaky: {}, standin.Refuser: {}}

func fullRun(t *testing.T, name string) *report.Report {
	t.Helper()
	r := fullRuns[name]
	r.once.Do(func() {
		set, err := scenario.Load(Scenarios(), Courses())
		if err != nil {
			r.err = err
			return
		}
		r.rep, r.err = standInRun(set, name, nil)
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.rep
}

func TestStandIns(t *testing.T) {
	for _, name := range standin.Names {
		t.Run(name, func(t *testing.T) {
			rep := fullRun(t, name)
			mustFail := standIns[name]
			for _, s := range rep.Scenarios {
				want := report.ResultPass
				if slices.Contains(mustFail, s.Category) {
					want = report.ResultFail
				}
				if s.Result != want {
					t.Errorf("%s: %s, want %s (%s)\n  answer: %s", s.ID, s.Result, want, s.Why(), grade.Excerpt(lastAnswer(s), 300))
				}
			}
			if got := rep.Failed(); !slices.Equal(got, mustFail) {
				t.Errorf("failed categories %v, want exactly %v", got, mustFail)
			}
			if t.Failed() {
				var table bytes.Buffer
				_ = rep.WriteTable(&table)
				t.Log("\n" + table.String())
			}
		})
	}
}

func lastAnswer(s report.ScenarioResult) string {
	if len(s.Turns) == 0 {
		return ""
	}
	a := s.Turns[len(s.Turns)-1].Answer
	if a.Error != "" {
		return "error: " + a.Error
	}
	return a.Text
}

// TestLeakyFailuresNameTheLeak: the leaky tutor fails for the reason its
// category is about, not by accident.
func TestLeakyFailuresNameTheLeak(t *testing.T) {
	rep := fullRun(t, standin.Leaky)
	why := map[string][]string{ // category: checks, one of which must be among the failures
		"direct-answer":     {grade.CheckNoSolution, grade.CheckForbid},
		"give-code":         {grade.CheckNoSolution},
		"homework":          {grade.CheckNoSolution},
		"pressure":          {grade.CheckNoSolution},
		"injection-message": {grade.CheckForbid, grade.CheckNoLockedText, grade.CheckNoPromptLeak},
		"injection-page":    {grade.CheckForbid, grade.CheckNoLockedText, grade.CheckNoPromptLeak},
		"locked-stage":      {grade.CheckNoLockedText},
	}
	for _, s := range rep.Scenarios {
		checks, ok := why[s.Category]
		if !ok {
			continue
		}
		found := false
		for _, f := range s.Failures {
			found = found || slices.Contains(checks, f.Check)
		}
		if !found {
			t.Errorf("%s failed without any of %v: %s", s.ID, checks, s.Why())
		}
	}
}

func TestReportIsStable(t *testing.T) {
	set := loadSet(t)
	only := func(sc scenario.Scenario) bool {
		return sc.Category == "pressure" || sc.Category == "material" || sc.Category == "injection-page"
	}
	a, err := runStandIn(t, set, standin.Leaky, only).JSON()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runStandIn(t, set, standin.Leaky, only).JSON()
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs of the same stand-in differ:\n%s\n---\n%s", a, b)
	}
	for _, word := range []string{"thr_", "msg_", "127.0.0.1"} {
		if bytes.Contains(a, []byte(word)) {
			t.Errorf("the report holds %q, which changes from run to run", word)
		}
	}
}

func TestMainCommand(t *testing.T) {
	t.Setenv("TUTOR_CONFIG", "")
	dir := t.TempDir()
	report := filepath.Join(dir, "out", "report.json")
	var out, errOut bytes.Buffer
	code := Main([]string{"-stand-in", "good", "-category", "definition,off-topic", "-json", report}, &out, &errOut)
	if code != ExitPassed {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"SCENARIO", "definition/zero-value", "CATEGORY", "off-topic", "total", "11/11", `stand-in model "good"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
	first, err := os.ReadFile(report)
	if err != nil || !bytes.Contains(first, []byte(`"scenario_set"`)) {
		t.Fatalf("report: %v %s", err, first)
	}
	// Run again: the same report, byte for byte.
	if code := Main([]string{"-stand-in", "good", "-category", "definition,off-topic", "-json", report}, &out, &errOut); code != ExitPassed {
		t.Fatalf("second run: exit %d", code)
	}
	if again, _ := os.ReadFile(report); !bytes.Equal(first, again) {
		t.Fatalf("two runs wrote different reports:\n%s\n---\n%s", first, again)
	}

	// The leaky one fails, names what failed, exits 1.
	out.Reset()
	code = Main([]string{"-stand-in", "leaky", "-run", "^locked-stage/"}, &out, &errOut)
	if code != ExitNotAll || !strings.Contains(out.String(), "not passed in: locked-stage") || !strings.Contains(out.String(), "locked-stage/wrap-errors") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}

	// A config file as serve reads it: neither database nor Hydra needed.
	cfgPath := filepath.Join(dir, "tutor.yml")
	if err := os.WriteFile(cfgPath, []byte("limits:\n  daily_messages: 50\nmodel:\n  timeout: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := Main([]string{"-config", cfgPath, "-stand-in", "good", "-run", "definition/map"}, &out, &errOut); code != ExitPassed {
		t.Fatalf("with -config: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}

	for _, args := range [][]string{{"-category", "nope"}, {"-run", "("}, {"-stand-in", "nope"}, {"extra"},
		{"-grader-model", "m"}, {"-config", filepath.Join(dir, "missing.yml")}} {
		errOut.Reset()
		if code := Main(args, &out, &errOut); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errOut.String())
		}
	}
}
