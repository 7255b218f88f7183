// Command new-plugin writes a new retriever or guardrail plugin into a
// directory of its own, outside this repository: main.go (a working
// plugin to change), main_test.go (the plugintest conformance suite
// against the built binary), and a go.mod that requires this SDK at
// plugins.SDKVersion with a replace directive to its checkout (the module
// is not published), with go.sum seeded from the SDK's.
//
//	go run ./plugins/cmd/new-plugin [-kind retriever|guardrail] [-module PATH] [-sdk DIR] DIR
//
// Run it from a checkout of the platform. It then resolves the new
// module's requirements (`go list -mod=mod`, offline from the module
// cache when it can), so `go test ./...` and `go build` work in DIR at
// once. docs/plugins.md is the walk-through.
package main

import (
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/learnplatform/platform/plugins"
)

//go:embed templates
var templates embed.FS

// SDKModule is the SDK's module path.
const SDKModule = "github.com/learnplatform/platform/plugins"

type params struct {
	Module, Name, SDKModule, SDKVersion, SDKDir, GoVersion string
}

func main() {
	kind := flag.String("kind", "retriever", "retriever or guardrail")
	module := flag.String("module", "", "module path of the new plugin (default example.com/<directory name>)")
	sdk := flag.String("sdk", "", "directory of the SDK module (default: the checkout this runs from, by `go list -m`)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: go run ./plugins/cmd/new-plugin [-kind retriever|guardrail] [-module PATH] [-sdk DIR] DIR")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*kind, *module, *sdk, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "new-plugin:", err)
		os.Exit(1)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

func run(kind, module, sdk, dir string) error {
	if kind != plugins.KindRetriever && kind != plugins.KindGuardrail {
		return fmt.Errorf("-kind %q: retriever or guardrail", kind)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	name := filepath.Base(dir)
	if !nameRE.MatchString(name) {
		return fmt.Errorf("directory name %q is not a plugin name (lower-case letters, digits, '.', '_', '-'): it names the binary", name)
	}
	if module == "" {
		module = "example.com/" + name
	}
	if sdk == "" {
		if sdk, err = sdkDir(); err != nil {
			return err
		}
	}
	if sdk, err = filepath.Abs(sdk); err != nil {
		return err
	}
	sum, err := os.ReadFile(filepath.Join(sdk, "go.sum"))
	if err != nil {
		return fmt.Errorf("-sdk %s: %w (the directory of %s, i.e. plugins/ of a platform checkout)", sdk, err, SDKModule)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty: choose a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := params{Module: module, Name: name, SDKModule: SDKModule, SDKVersion: plugins.SDKVersion, SDKDir: sdk, GoVersion: goVersion(sdk)}
	files := map[string][]byte{"go.sum": sum}
	for _, f := range []string{"main.go", "main_test.go"} {
		b, err := render("templates/"+kind+"_"+f+".tmpl", p)
		if err != nil {
			return err
		}
		files[f] = b
	}
	if files["go.mod"], err = render("templates/go.mod.tmpl", p); err != nil {
		return err
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote a %s plugin into %s (module %s, SDK %s from %s)\n", kind, dir, module, plugins.SDKVersion, sdk)
	// Fill in go.mod's requirements, so plain `go test` and `go build`
	// work; with a warm module cache this needs no network.
	cmd := exec.Command("go", "list", "-mod=mod", "-test", "-deps", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("resolving the requirements (go list -mod=mod ./... in %s): %v\n%s\nrun `go mod tidy` there once the module proxy is reachable", dir, err, out)
	}
	fmt.Printf("next:\n  cd %s\n  go test ./...\n  go build -o %s .\n", dir, name)
	return nil
}

func render(name string, p params) ([]byte, error) {
	t, err := template.ParseFS(templates, name)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// sdkDir finds the SDK's directory from the working directory's module
// graph (a platform checkout).
func sdkDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", SDKModule).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("cannot find the SDK (%v): run this from a platform checkout, or give -sdk PATH/TO/plugins", err)
	}
	return dir, nil
}

var goLineRE = regexp.MustCompile(`(?m)^go (\S+)$`)

// goVersion is the SDK's go directive, which the new module needs at least.
func goVersion(sdk string) string {
	b, err := os.ReadFile(filepath.Join(sdk, "go.mod"))
	if m := goLineRE.FindSubmatch(b); err == nil && m != nil {
		return string(m[1])
	}
	return "1.26.0"
}
