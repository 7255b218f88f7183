package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func call(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpDocumentsEveryCommand(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		code, out, _ := call(t, arg)
		if code != 0 {
			t.Fatalf("%s: exit %d", arg, code)
		}
		for cmd := range commands {
			if !strings.Contains(out, "\n  "+cmd+" ") {
				t.Errorf("%s does not describe %s:\n%s", arg, cmd, out)
			}
		}
	}
	flags := map[string][]string{
		"plan":     {"-legacy-dsn", "-platform-dsn", "-kratos-admin", "-report"},
		"backup":   {"-legacy-dsn", "-platform-dsn", "-kratos-admin", "-backup", "-force", "-report"},
		"run":      {"-legacy-dsn", "-platform-dsn", "-kratos-admin", "-batch-size", "-report", "-no-backup-check"},
		"validate": {"-legacy-dsn", "-platform-dsn", "-kratos-admin", "-public-url", "-passwords", "-report"},
		"rollback": {"-platform-dsn", "-kratos-admin", "-backup", "-yes", "-report"},
		"restore":  {"-legacy-dsn", "-backup", "-report"},
	}
	for cmd, want := range flags {
		code, out, _ := call(t, cmd, "--help")
		if code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		for _, f := range want {
			if !strings.Contains(out, "  "+f+" ") && !strings.Contains(out, "  "+f+"\n") {
				t.Errorf("%s --help lacks %s:\n%s", cmd, f, out)
			}
		}
	}
}

func TestBadUsage(t *testing.T) {
	t.Setenv("LEGACY_DATABASE_URL", "")
	t.Setenv("PLATFORM_DATABASE_URL", "")
	t.Setenv("KRATOS_ADMIN_URL", "")
	dsn := "postgres://nobody@127.0.0.1:1/x"
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage: migrate-legacy <command>"},
		{[]string{"migrate"}, `unknown command "migrate"`},
		{[]string{"run"}, "-legacy-dsn (or LEGACY_DATABASE_URL) is required"},
		{[]string{"run", "-legacy-dsn", dsn, "-platform-dsn", dsn, "-kratos-admin", "http://k/", "-batch-size", "1001"}, "want 1 to 1000"},
		{[]string{"run", "-legacy-dsn", dsn, "-platform-dsn", dsn, "-kratos-admin", "ftp://k/"}, "-kratos-admin"},
		{[]string{"backup", "-legacy-dsn", dsn, "-platform-dsn", dsn, "-kratos-admin", "http://k/"}, "-backup is required"},
		{[]string{"validate", "-legacy-dsn", dsn, "-platform-dsn", dsn, "-kratos-admin", "http://k/", "-passwords", "p"}, "-passwords needs -public-url"},
		{[]string{"plan", "-legacy-dsn", dsn, "-providers", "google"}, "want legacy=kratos"},
		{[]string{"plan", "-legacy-dsn", dsn, "extra"}, "unexpected arguments"},
		{[]string{"plan", "-nope"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		code, _, errOut := call(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestUnreachableDatabaseFailsWithAReport(t *testing.T) {
	report := filepath.Join(t.TempDir(), "plan.json")
	code, _, errOut := call(t, "plan", "-legacy-dsn", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", "-report", report)
	if code != 1 || !strings.Contains(errOut, "legacy database") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	data, err := os.ReadFile(report)
	var r struct{ Outcome, Message string }
	if err != nil || json.Unmarshal(data, &r) != nil || r.Outcome != "failed" || r.Message == "" {
		t.Fatalf("report: %v %s", err, data)
	}
}
