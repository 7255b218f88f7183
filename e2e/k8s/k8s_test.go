// Package k8s checks the Kubernetes manifests without a cluster: the
// kustomization builds (with kustomize's own library), every object decodes
// strictly into its Kubernetes API type, and the properties operators rely
// on hold (probes, non-root, limits, secrets only by reference, HPA and PDB
// aimed at real Deployments, configs that load with the services' types).
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	consentconfig "github.com/learnplatform/platform/consent/config"
	"github.com/learnplatform/platform/e2e/internal/yamltree"
	"github.com/learnplatform/platform/identity"
	identityconfig "github.com/learnplatform/platform/identity/config"
	"github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/stack"
	tutorconfig "github.com/learnplatform/platform/tutor/config"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := stack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// build runs kustomize on a kustomization directory.
func build(t *testing.T, dir string) [][]byte {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone
	res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out [][]byte
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// strict decodes JSON into v, refusing unknown fields.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
	configMaps  map[string]*corev1.ConfigMap
	jobs        map[string]*batchv1.Job
	policies    map[string]*networkingv1.NetworkPolicy
}

func decodeAll(t *testing.T, docs [][]byte) *objects {
	t.Helper()
	o := &objects{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		map[string]*policyv1.PodDisruptionBudget{}, map[string]*corev1.ConfigMap{}, map[string]*batchv1.Job{}, map[string]*networkingv1.NetworkPolicy{}}
	for _, doc := range docs {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		var err error
		key := meta.Metadata.Name
		switch meta.APIVersion + "/" + meta.Kind {
		case "apps/v1/Deployment":
			v := &appsv1.Deployment{}
			err, o.deployments[key] = strict(doc, v), v
		case "v1/Service":
			v := &corev1.Service{}
			err, o.services[key] = strict(doc, v), v
		case "autoscaling/v2/HorizontalPodAutoscaler":
			v := &autoscalingv2.HorizontalPodAutoscaler{}
			err, o.hpas[key] = strict(doc, v), v
		case "policy/v1/PodDisruptionBudget":
			v := &policyv1.PodDisruptionBudget{}
			err, o.pdbs[key] = strict(doc, v), v
		case "v1/ConfigMap":
			v := &corev1.ConfigMap{}
			err, o.configMaps[key] = strict(doc, v), v
		case "batch/v1/Job":
			v := &batchv1.Job{}
			err, o.jobs[key] = strict(doc, v), v
		case "networking.k8s.io/v1/NetworkPolicy":
			v := &networkingv1.NetworkPolicy{}
			err, o.policies[key] = strict(doc, v), v
		case "v1/Namespace":
			err = strict(doc, &corev1.Namespace{})
		default:
			t.Fatalf("unexpected object %s %s %s", meta.APIVersion, meta.Kind, key)
		}
		if err != nil {
			t.Fatalf("%s %s does not decode strictly: %v", meta.Kind, key, err)
		}
	}
	return o
}

// check returns the problems of a built set of objects.
func check(o *objects) []string {
	var problems []string
	report := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	for _, name := range []string{"identity", "consent", "tutor"} {
		d := o.deployments[name]
		if d == nil {
			report("deployment %s is missing", name)
			continue
		}
		spec := d.Spec.Template.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			report("%s: pods must run as non-root", name)
		}
		for _, c := range spec.Containers {
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				report("%s: readiness probe must GET /readyz", name)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				report("%s: liveness probe must GET /healthz", name)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
				report("%s: needs a CPU request and a memory limit", name)
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				report("%s: root filesystem must be read-only", name)
			}
			if !strings.Contains(c.Image, ":") || strings.HasSuffix(c.Image, ":latest") {
				report("%s: image %q must be pinned", name, c.Image)
			}
			for _, e := range c.Env {
				lower := strings.ToLower(e.Name)
				if (strings.Contains(lower, "secret") || strings.Contains(lower, "database_url") || strings.Contains(lower, "api_key") || strings.Contains(lower, "smtp")) &&
					(e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					report("%s: %s must come from a Secret", name, e.Name)
				}
			}
		}
		if s := o.services[name]; s == nil || s.Spec.Selector["app.kubernetes.io/name"] != name {
			report("%s: no Service selecting it", name)
		}
		if h := o.hpas[name]; h == nil || h.Spec.ScaleTargetRef.Name != name || h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 {
			report("%s: needs an HPA on its Deployment with at least 2 replicas", name)
		}
		if p := o.pdbs[name]; p == nil || p.Spec.Selector == nil || p.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
			report("%s: needs a PodDisruptionBudget selecting its pods", name)
		}
		found := false
		for _, v := range spec.Volumes {
			if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, name+"-config") {
				found = true
			}
		}
		if !found {
			report("%s: does not mount its config", name)
		}
	}
	if o.jobs["platform-migrate"] == nil {
		report("the platform-migrate Job is missing")
	}
	if o.policies["kratos-private"] == nil {
		report("Kratos' ports must be private (NetworkPolicy kratos-private)")
	}
	return problems
}

func TestKustomizationBuildsAndDecodesStrictly(t *testing.T) {
	o := decodeAll(t, build(t, filepath.Join(root(t), "deploy", "k8s", "overlays", "example")))
	if p := check(o); len(p) > 0 {
		t.Fatalf("manifest problems:\n%s", strings.Join(p, "\n"))
	}
	if max := o.hpas["tutor"].Spec.MaxReplicas; max != 30 {
		t.Fatalf("the overlay's patch did not apply: tutor maxReplicas %d", max)
	}

	// The checker would catch a lost probe or a literal secret.
	d := o.deployments["identity"]
	d.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
	d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "IDENTITY_HOOK_SECRET", Value: "literal"})
	p := strings.Join(check(o), "\n")
	if !strings.Contains(p, "identity: readiness probe") || !strings.Contains(p, "IDENTITY_HOOK_SECRET must come from a Secret") {
		t.Fatalf("the checker missed broken manifests: %s", p)
	}
}

// Each service's config in its ConfigMap loads with the service's own type.
func TestConfigMapsLoadWithTheServicesTypes(t *testing.T) {
	o := decodeAll(t, build(t, filepath.Join(root(t), "deploy", "k8s", "base")))
	env := func(k string) (string, bool) {
		switch k {
		case "IDENTITY_DATABASE_URL", "TUTOR_DATABASE_URL":
			return "postgres://u:p@postgres:5432/platform", true
		case "IDENTITY_HOOK_SECRET", "CONSENT_TOKEN_HOOK_SECRET":
			return "0123456789abcdef0123", true
		case "IDENTITY_SMTP_URL":
			return "smtp://relay:25/", true
		}
		return "", false
	}
	get := func(prefix, key string) string {
		for name, cm := range o.configMaps {
			if strings.HasPrefix(name, prefix) {
				return cm.Data[key]
			}
		}
		t.Fatalf("no config map %s", prefix)
		return ""
	}
	ic := identityconfig.Default()
	if err := config.LoadBytes("identity.yml", []byte(get("identity-config", "identity.yml")), &ic, env); err != nil {
		t.Fatal(err)
	}
	var pol identity.Policy = identity.DefaultPolicy()
	if err := config.LoadBytes("identity-policy.yml", []byte(get("identity-config", "identity-policy.yml")), &pol, env); err != nil {
		t.Fatal(err)
	}
	cc := consentconfig.Default()
	if err := config.LoadBytes("consent.yml", []byte(get("consent-config", "consent.yml")), &cc, env); err != nil {
		t.Fatal(err)
	}
	tc := tutorconfig.Default()
	if err := config.LoadBytes("tutor.yml", []byte(get("tutor-config", "tutor.yml")), &tc, env); err != nil {
		t.Fatal(err)
	}
	if cc.Hydra.AdminURL.Host != "hydra-admin:4445" || ic.Kratos.AdminURL.Host != "kratos-admin" {
		t.Fatalf("service URLs: hydra %s kratos %s", cc.Hydra.AdminURL.Host, ic.Kratos.AdminURL.Host)
	}
	// Inside the cluster the services reach Hydra's keys and the edge by
	// Service name; browsers use the public names.
	if tc.Hydra.InternalURL.Host != "hydra-public:4444" || ic.TokenJWKSURL.Host != "hydra-public:4444" ||
		tc.Web.IdentityInternalURL.Host != "identity:4455" {
		t.Fatalf("internal URLs: tutor %s, edge %s, identity %s",
			tc.Hydra.InternalURL.Host, ic.TokenJWKSURL.Host, tc.Web.IdentityInternalURL.Host)
	}
}

// The Helm values for Ory's charts agree with ory-config/ on what the
// platform relies on.
func TestHelmValuesMatchOryConfig(t *testing.T) {
	r := root(t)
	read := func(path string) map[string]any {
		b, err := os.ReadFile(filepath.Join(r, path))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.UnmarshalStrict(b, &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return m
	}
	dig := func(m map[string]any, path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			mm, _ := v.(map[string]any)
			v = mm[k]
		}
		return v
	}
	// Each chart's values carry all of ory-config's file: every setting
	// (lifetimes, strategies, hook lists, methods, return URLs, ...) the
	// same, except where the chart puts things elsewhere.
	same := func(name string, values, file map[string]any, chartOwn ...string) {
		want, got := yamltree.Leaves(file), yamltree.Leaves(dig(values, name+".config"))
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if !slices.Contains(chartOwn, k) && got[k] != want[k] {
				t.Errorf("%s %s: values %q, ory-config %q", name, k, got[k], want[k])
			}
		}
	}
	hydraValues, hydraYML := read("deploy/helm/hydra-values.yaml"), read("ory-config/hydra/hydra.yml")
	same("hydra", hydraValues, hydraYML,
		"serve.public.port", "serve.admin.port", // the chart's Services
		"oauth2.token_hook.url") // the consent app's Service, inside the cluster
	kratosValues, kratosYML := read("deploy/helm/kratos-values.yaml"), read("ory-config/kratos/kratos.yml")
	same("kratos", kratosValues, kratosYML,
		"identity.schemas",     // the chart mounts the schema at /etc/config/
		"serve.admin.base_url") // the chart's Service name
	if fmt.Sprint(dig(kratosValues, "kratos.config.feature_flags.use_continue_with_transitions")) != "true" {
		t.Error("kratos: the values must keep feature_flags.use_continue_with_transitions")
	}
	if dig(kratosValues, "image.tag") != "v1.3.1" || dig(hydraValues, "image.tag") != "v2.3.0" {
		t.Error("chart images must match the pinned Ory versions")
	}
}
