package stack

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/learnplatform/platform/e2e/internal/yamltree"
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

// On the default ports, the overlay the launcher writes must say exactly what
// the committed dev overlays say, so `make run` and a hand-started Kratos or
// Hydra (with *.dev.yml) agree.
func TestGeneratedOverlaysMatchDevOverlaysOnDefaultPorts(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{opts: Options{Root: root, Ports: DefaultPorts()}}
	for product, generated := range map[string]m{"kratos": s.kratosLocal(), "hydra": s.hydraLocal()} {
		t.Run(product, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(root, "ory-config", product, product+".dev.yml"))
			if err != nil {
				t.Fatal(err)
			}
			var dev any
			if err := yaml.Unmarshal(raw, &dev); err != nil {
				t.Fatal(err)
			}
			want, got := yamltree.Leaves(dev), yamltree.Leaves(yamlRoundTrip(t, generated))
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
