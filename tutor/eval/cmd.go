package eval

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"

	kitconfig "github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/server"
	"github.com/learnplatform/platform/plugins/host"
	"github.com/learnplatform/platform/tutor/config"
	"github.com/learnplatform/platform/tutor/eval/grade"
	"github.com/learnplatform/platform/tutor/eval/report"
	"github.com/learnplatform/platform/tutor/eval/scenario"
	"github.com/learnplatform/platform/tutor/eval/standin"
)

// Exit codes of `tutor eval`.
const (
	ExitPassed   = 0 // every scenario passed
	ExitNotAll   = 1 // some scenario failed, or the run could not finish
	ExitUsage    = 2 // bad flags or configuration
	standInModel = "stand-in-"
)

// Main is `tutor eval`: it reads the tutor's configuration as `tutor
// serve` does (file and environment), starts the declared plugins,
// builds the same answering pipeline, runs the scenario set against it,
// prints a table and, with -json, writes the report. It returns the exit
// code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tutor eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tutor eval [flags]\n\nRuns the tutoring evaluation against the tutor as configured (model, prompt, plugins) and prints a table.\nExit status: 0 every scenario passed, 1 some did not (or the run failed), 2 bad flags or configuration.\n\nflags:")
		fs.PrintDefaults()
	}
	var (
		configPath = fs.String("config", "", "read the tutor's YAML `file` as tutor serve does (default $TUTOR_CONFIG, else tutor.yml if it exists, else defaults and environment only)")
		jsonPath   = fs.String("json", "", "write the JSON report to `file`")
		runRE      = fs.String("run", "", "only scenarios whose id matches this `regexp`")
		categories = fs.String("category", "", "only these `categories` (comma-separated)")
		parallel   = fs.Int("parallel", 1, "`n` scenarios at once")
		standIn    = fs.String("stand-in", "", "answer with a scripted stand-in model instead of the configured one: "+strings.Join(standin.Names, ", ")+" (to check the evaluation itself)")
		noPlugins  = fs.Bool("no-plugins", false, "do not start the declared plugins (the model and prompt alone, searching an in-memory copy of the courses)")
		scenarios  = fs.String("scenarios", "", "scenario set folder (set.yaml and scenario files; default: the built-in set)")
		courses    = fs.String("courses", "", "courses folder (Markdown lessons; default: the built-in courses)")
		list       = fs.Bool("list", false, "list the scenarios and exit")
		graderURL  = fs.String("grader-base-url", os.Getenv("TUTOR_EVAL_GRADER_BASE_URL"), "OpenAI-compatible API root of a grader model for a rubric score (env TUTOR_EVAL_GRADER_BASE_URL; key in TUTOR_EVAL_GRADER_API_KEY)")
		graderName = fs.String("grader-model", os.Getenv("TUTOR_EVAL_GRADER_MODEL"), "the grader model's name (env TUTOR_EVAL_GRADER_MODEL)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitPassed
		}
		return ExitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "tutor eval: "+format+"\n", a...)
		return ExitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if (*graderURL == "") != (*graderName == "") {
		return usage("a grader needs both -grader-base-url and -grader-model (or TUTOR_EVAL_GRADER_BASE_URL and TUTOR_EVAL_GRADER_MODEL)")
	}

	var scenFS, courseFS = Scenarios(), Courses()
	if *scenarios != "" {
		scenFS = os.DirFS(*scenarios)
	}
	if *courses != "" {
		courseFS = os.DirFS(*courses)
	}
	set, err := scenario.Load(scenFS, courseFS)
	if err != nil {
		return usage("%v", err)
	}
	only, err := filter(set, *runRE, *categories)
	if err != nil {
		return usage("%v", err)
	}
	if *list {
		for _, sc := range set.Scenarios {
			if only == nil || only(sc) {
				fmt.Fprintf(stdout, "%s\tv%d\t%s\tstage %d\t%d turn(s)\t%s\n", sc.ID, sc.Version, sc.Category, sc.Stage, len(sc.Turns), sc.About)
			}
		}
		return ExitPassed
	}

	cfg, file, err := loadConfig(*configPath)
	if err != nil {
		return usage("%v", err)
	}
	logLevel := "warn"
	if cfg.LogLevel == "debug" {
		logLevel = "debug"
	}
	logger := server.NewLogger("tutor", logLevel)
	ctx, stop := server.SignalContext()
	defer stop()

	source := file
	if file == "" {
		source = "no file (tutor.yml not found): defaults and environment"
	}
	info := report.TutorInfo{Notes: []string{"configuration: " + source}}
	if *standIn != "" {
		srv, err := standin.Start(*standIn, set.Lessons)
		if err != nil {
			return usage("-stand-in: %v", err)
		}
		defer srv.Close()
		cfg.Model.BaseURL, cfg.Model.Name, cfg.Model.APIKey = kitconfig.MustURL(srv.BaseURL()), standInModel+*standIn, ""
		info.StandIn = *standIn
	}
	info.Mode = "course-material"
	if cfg.Model.Configured() {
		info.Mode, info.Model = "model", cfg.Model.Name
		if *standIn == "" { // a stand-in's address changes from run to run
			info.BaseURL = publicURL(cfg.Model.BaseURL.String())
		}
	}

	var plugs *host.Host
	specs, err := cfg.PluginSpecs(os.LookupEnv)
	if err != nil {
		return usage("%v", err)
	}
	specs = host.ResolvePaths(specs, file) // as serve: relative to the config file
	if *noPlugins {
		specs = nil
		info.Notes = append(info.Notes, "plugins not started (-no-plugins)")
	}
	if len(specs) > 0 {
		plugs, err = host.Start(ctx, specs, host.Options{Logger: logger})
		if err != nil {
			fmt.Fprintf(stderr, "tutor eval: %v\n", err)
			return ExitNotAll
		}
		defer plugs.Close()
	}
	info.Retrieval = "in-memory word match over the scenario courses (no retriever plugin; `tutor serve` would use PostgreSQL full-text search)"
	if plugs != nil {
		var rs []string
		for _, p := range plugs.Retrievers() {
			rs = append(rs, p.Name())
		}
		if len(rs) > 0 {
			info.Retrieval = "retriever plugins " + strings.Join(rs, ", ")
		}
		for _, p := range plugs.Guardrails() {
			info.Guardrails = append(info.Guardrails, p.Name())
		}
	}

	var mg *grade.ModelGrader
	if *graderURL != "" {
		mg = grade.NewModelGrader(*graderURL, os.Getenv("TUTOR_EVAL_GRADER_API_KEY"), *graderName, nil)
		mg.BaseURL = publicURL(*graderURL)
	}
	total := 0
	for _, sc := range set.Scenarios {
		if only == nil || only(sc) {
			total++
		}
	}
	rep, err := Run(ctx, Options{Config: cfg, Plugins: plugs, Set: set, Only: only, Parallel: *parallel, Grader: mg,
		Tutor: info, Logger: logger,
		Progress: func(done int, r report.ScenarioResult) {
			fmt.Fprintf(stderr, "[%d/%d] %-5s %s\n", done, total, r.Result, r.ID)
		}})
	if err != nil {
		fmt.Fprintf(stderr, "tutor eval: %v\n", err)
		return ExitNotAll
	}
	fmt.Fprintln(stderr)
	if err := rep.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "tutor eval: %v\n", err)
		return ExitNotAll
	}
	if *jsonPath != "" {
		if err := rep.WriteJSON(*jsonPath); err != nil {
			fmt.Fprintf(stderr, "tutor eval: %v\n", err)
			return ExitNotAll
		}
		fmt.Fprintf(stdout, "\nreport: %s\n", *jsonPath)
	}
	if rep.Summary.Passed < rep.Summary.Scenarios {
		return ExitNotAll
	}
	return ExitPassed
}

// loadConfig reads the tutor's configuration as `tutor serve` does and
// returns the file it read ("" for none: defaults and environment). The
// evaluation uses neither the database nor Hydra, so a file (or an
// environment) without them is fine: placeholders stand in for the keys
// serve requires.
func loadConfig(path string) (config.Config, string, error) {
	cfg := config.Default()
	cfg.Database.URL = "postgres://tutor-eval.invalid/unused"
	cfg.Hydra.Issuer = kitconfig.MustURL("http://tutor-eval.invalid/")
	explicit := path != ""
	if path == "" {
		path = os.Getenv("TUTOR_CONFIG")
		explicit = path != ""
	}
	if path == "" {
		path = "tutor.yml"
	}
	if _, err := os.Stat(path); err == nil || explicit {
		return cfg, path, kitconfig.Load(path, &cfg)
	}
	return cfg, "", kitconfig.LoadBytes("(environment)", nil, &cfg, os.LookupEnv)
}

func filter(set *scenario.Set, run, categories string) (func(scenario.Scenario) bool, error) {
	var re *regexp.Regexp
	if run != "" {
		var err error
		if re, err = regexp.Compile(run); err != nil {
			return nil, fmt.Errorf("-run: %v", err)
		}
	}
	cats := map[string]bool{}
	for _, c := range strings.Split(categories, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		if _, ok := set.Category(c); !ok {
			return nil, fmt.Errorf("-category: no category %q (there are %s)", c, strings.Join(set.CategoryNames(), ", "))
		}
		cats[c] = true
	}
	if re == nil && len(cats) == 0 {
		return nil, nil
	}
	return func(sc scenario.Scenario) bool {
		return (re == nil || re.MatchString(sc.ID)) && (len(cats) == 0 || cats[sc.Category])
	}, nil
}

// publicURL drops credentials and the query from a URL for the report.
func publicURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}
