package tutor

import (
	"strings"
	"testing"

	"github.com/learnplatform/platform/kit/config"
)

func load(yaml string, env map[string]string) (Config, error) {
	cfg := DefaultConfig()
	err := config.LoadBytes("tutor.yml", []byte(yaml), &cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return cfg, err
}

const minimal = "hydra:\n  issuer: http://127.0.0.1:4444/\ndatabase:\n  url: postgres://u@h/db\n"

func TestConfigDefaultsAndEnv(t *testing.T) {
	cfg, err := load(minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model.Configured() || cfg.Limits.DailyMessages != 20 || cfg.Limits.MaxMessageBytes != 8192 || cfg.Limits.MaxPageSize != 200 {
		t.Fatalf("defaults %+v", cfg)
	}
	cfg, err = load(minimal, map[string]string{
		"TUTOR_MODEL_BASE_URL": "http://127.0.0.1:9/v1", "TUTOR_MODEL_NAME": "m", "TUTOR_MODEL_API_KEY": "sk", "TUTOR_DAILY_MESSAGES": "5",
	})
	if err != nil || !cfg.Model.Configured() || cfg.Model.APIKey != "sk" || cfg.Limits.DailyMessages != 5 {
		t.Fatalf("%v %+v", err, cfg)
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown key":      {minimal + "modle:\n  name: x\n", "key modle: unknown key"},
		"zero limit":       {minimal + "limits:\n  daily_messages: 0\n", "key limits.daily_messages: must be greater than zero"},
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
