package config

import (
	"strings"
	"testing"

	kitconfig "github.com/learnplatform/platform/kit/config"
)

func load(yaml string, env map[string]string) (Config, error) {
	cfg := Default()
	err := kitconfig.LoadBytes("tutor.yml", []byte(yaml), &cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return cfg, err
}

const minimal = "hydra:\n  issuer: http://127.0.0.1:4444/\ndatabase:\n  url: postgres://u@h/db\n"

func TestConfigDefaultsAndEnv(t *testing.T) {
	cfg, err := load(minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.Configured() || cfg.Limits.DailyMessages != 20 || cfg.Limits.MaxMessageBytes != 8192 || cfg.Limits.MaxPageSize != 200 ||
		cfg.Limits.ConcurrentAnswersPerUser != 2 || cfg.Limits.ConcurrentAnswers != 64 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg, err = load(minimal+"limits:\n  concurrent_answers_per_user: 1\n  concurrent_answers: 8\n", nil)
	if err != nil || cfg.Limits.ConcurrentAnswersPerUser != 1 || cfg.Limits.ConcurrentAnswers != 8 || cfg.Limits.DailyMessages != 20 {
		t.Fatalf("set: %v %+v", err, cfg.Limits)
	}
	cfg, err = load(minimal, map[string]string{
		"TUTOR_MODEL_BASE_URL": "http://127.0.0.1:9/v1", "TUTOR_MODEL_NAME": "m", "TUTOR_MODEL_API_KEY": "sk", "TUTOR_DAILY_MESSAGES": "5",
	})
	if err != nil || !cfg.Model.Configured() || cfg.Model.APIKey != "sk" || cfg.Limits.DailyMessages != 5 {
		t.Fatalf("%v %+v", err, cfg)
	}
}

func TestConfigHydraInternalURL(t *testing.T) {
	cfg, err := load(minimal, nil)
	if err != nil || cfg.Hydra.Internal() != "http://127.0.0.1:4444/" {
		t.Fatalf("default: %v %q", err, cfg.Hydra.Internal())
	}
	cfg, err = load(strings.Replace(minimal, "hydra:\n", "hydra:\n  internal_url: http://hydra:4444/\n", 1), nil)
	if err != nil || cfg.Hydra.Internal() != "http://hydra:4444/" || cfg.Hydra.Issuer.String() != "http://127.0.0.1:4444/" {
		t.Fatalf("set: %v %q", err, cfg.Hydra.Internal())
	}
	if _, err := load(strings.Replace(minimal, "hydra:\n", "hydra:\n  internal_url: hydra:4444\n", 1), nil); err == nil || !strings.Contains(err.Error(), "hydra.internal_url") {
		t.Fatalf("a bad internal_url: %v", err)
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown key":       {minimal + "modle:\n  name: x\n", "key modle: unknown key"},
		"zero limit":        {minimal + "limits:\n  daily_messages: 0\n", "key limits.daily_messages: must be greater than zero"},
		"no answers":        {minimal + "limits:\n  concurrent_answers: 0\n", "key limits.concurrent_answers: must be greater than zero"},
		"negative per user": {minimal + "limits:\n  concurrent_answers_per_user: -1\n", "key limits.concurrent_answers_per_user: must be greater than zero"},
		"per user over all": {minimal + "limits:\n  concurrent_answers_per_user: 10\n  concurrent_answers: 4\n",
			"key limits.concurrent_answers_per_user: 10 is more than limits.concurrent_answers (4)"},
		"not a number":     {minimal + "limits:\n  concurrent_answers: many\n", "key limits.concurrent_answers"},
		"bad duration":     {minimal + "model:\n  timeout: soon\n", "key model.timeout: expected a duration"},
		"name without url": {minimal + "model:\n  name: gpt\n", "key model.base_url: required when model.name is set"},
		"url without name": {minimal + "model:\n  base_url: http://x/v1\n", "key model.name: required when model.base_url is set"},
		"bad url":          {minimal + "model:\n  base_url: ftp://x\n  name: m\n", "key model.base_url: expected an http:// or https:// URL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := load(tc.yaml, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}

const pluginDecl = `
plugins:
  - name: retriever-postgres
    kind: retriever
    path: /opt/tutor/plugins/retriever-postgres
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    env:
      RETRIEVER_POSTGRES_DSN: ${TUTOR_DATABASE_URL}
      PLAIN: "a $dollar and ${X}-${Y}"
    config:
      table: retriever_chunks
      max_conns: 4
    timeout: 3s
    required: true
  - name: guardrail-safety
    kind: guardrail
    path: /opt/tutor/plugins/guardrail-safety
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    fail_open: true
`

func TestConfigPlugins(t *testing.T) {
	cfg, err := load(minimal+pluginDecl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 2 {
		t.Fatalf("plugins %+v", cfg.Plugins)
	}
	r, g := cfg.Plugins[0], cfg.Plugins[1]
	if r.Name != "retriever-postgres" || r.Kind != "retriever" || !r.Required || r.Timeout.String() != "3s" ||
		r.Config.(map[string]any)["max_conns"] != 4 || g.Kind != "guardrail" || !g.FailOpen || g.Required {
		t.Fatalf("decoded %+v %+v", r, g)
	}
	env := map[string]string{"TUTOR_DATABASE_URL": "postgres://tutor:secret@db/platform", "X": "1", "Y": "2"}
	specs, err := cfg.PluginSpecs(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if got := specs[0].Env["RETRIEVER_POSTGRES_DSN"]; got != env["TUTOR_DATABASE_URL"] {
		t.Fatalf("DSN %q", got)
	}
	if got := specs[0].Env["PLAIN"]; got != "a $dollar and 1-2" {
		t.Fatalf("PLAIN %q", got)
	}
	if cfg.Plugins[0].Env["RETRIEVER_POSTGRES_DSN"] != "${TUTOR_DATABASE_URL}" {
		t.Fatal("PluginSpecs changed the loaded config")
	}
	delete(env, "TUTOR_DATABASE_URL")
	_, err = cfg.PluginSpecs(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "key plugins[0].env.RETRIEVER_POSTGRES_DSN: refers to ${TUTOR_DATABASE_URL}, which is not set") {
		t.Fatalf("unset variable: %v", err)
	}
}

func TestConfigRefusesBadPlugins(t *testing.T) {
	sum := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	decl := func(extra string) string {
		return minimal + "plugins:\n  - name: r\n    kind: retriever\n    path: /bin/r\n    sha256: " + sum + "\n" + extra
	}
	cases := map[string]struct{ yaml, want string }{
		"unknown key":    {decl("    colour: red\n"), "key plugins[0].colour: unknown key"},
		"bad kind":       {minimal + "plugins:\n  - name: r\n    kind: filter\n    path: /bin/r\n    sha256: " + sum + "\n", "key plugins[0].kind: \"filter\" is neither"},
		"no checksum":    {minimal + "plugins:\n  - name: r\n    kind: retriever\n    path: /bin/r\n", "key plugins[0].sha256: missing: pin the binary's checksum"},
		"bad checksum":   {minimal + "plugins:\n  - name: r\n    kind: retriever\n    path: /bin/r\n    sha256: abc\n", "key plugins[0].sha256: \"abc\" is not a hex SHA-256"},
		"no path":        {minimal + "plugins:\n  - name: r\n    kind: retriever\n    sha256: " + sum + "\n", "key plugins[0].path: missing"},
		"bad name":       {minimal + "plugins:\n  - name: My Plugin\n    kind: retriever\n    path: /bin/r\n    sha256: " + sum + "\n", "key plugins[0].name: \"My Plugin\" is not a plugin name"},
		"bad timeout":    {decl("    timeout: soon\n"), "key plugins[0].timeout: expected a duration"},
		"fail_open":      {decl("    fail_open: true\n"), "key plugins[0].fail_open: only for guardrails"},
		"env not a map":  {decl("    env: [a, b]\n"), "key plugins[0].env: expected a mapping"},
		"bad env ref":    {decl("    env:\n      DSN: ${not valid}\n"), "key plugins[0].env.DSN: \"${not valid}\": write a reference"},
		"open env ref":   {decl("    env:\n      DSN: ${DSN\n"), "key plugins[0].env.DSN: \"${DSN\": write a reference"},
		"twice":          {decl("  - name: r\n    kind: guardrail\n    path: /bin/g\n    sha256: " + sum + "\n"), "key plugins[1].name: \"r\" is already the name of plugins[0]"},
		"not a list":     {minimal + "plugins:\n  name: r\n", "key plugins: expected a list"},
		"negative bytes": {decl("    max_response_bytes: -1\n"), "key plugins[0].max_response_bytes: negative"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := load(tc.yaml, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
