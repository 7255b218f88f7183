package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

func yamlRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// leaves flattens a decoded YAML tree into its settings: dotted key to
// value printed with fmt.Sprint (a list is one setting).
func leaves(v any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		tree, ok := v.(map[string]any)
		if !ok {
			out[prefix] = fmt.Sprint(v)
			return
		}
		for k, c := range tree {
			if prefix != "" {
				k = prefix + "." + k
			}
			walk(k, c)
		}
	}
	walk("", v)
	return out
}

// On the default ports, the overlay the launcher writes must say exactly what
// the committed dev overlays say, so `make run` and a hand-started Kratos or
// Hydra (with *.dev.yml) agree.
func TestGeneratedOverlaysMatchDevOverlaysOnDefaultPorts(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{opts: Options{Root: root, Ports: DefaultPorts(), DataDir: t.TempDir()}}
	files, err := s.oryRun().Files(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, product := range []string{"kratos", "hydra"} {
		t.Run(product, func(t *testing.T) {
			generated := files[s.runFile(product+".local.yml")]
			raw, err := os.ReadFile(filepath.Join(root, "ory-config", product, product+".dev.yml"))
			if err != nil {
				t.Fatal(err)
			}
			var dev any
			if err := yaml.Unmarshal(raw, &dev); err != nil {
				t.Fatal(err)
			}
			want, got := leaves(dev), leaves(yamlRoundTrip(t, generated))
			checked := 0
			for k, g := range got {
				if k == "identity.schemas" { // an absolute path only the launcher knows
					continue
				}
				w, ok := want[k]
				if !ok {
					t.Errorf("%s: the launcher sets %s, the dev overlay does not", product, k)
					continue
				}
				if w != g {
					t.Errorf("%s: %s is %v in %s.dev.yml but %v in the launcher's overlay", product, k, w, product, g)
				}
				checked++
			}
			if checked < 5 {
				t.Fatalf("only %d keys compared", checked)
			}
		})
	}
}
