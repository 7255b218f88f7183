package tracing_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/learnplatform/platform/kit/config"
	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/tracingtest"
)

// serviceConfig is how a service embeds the block.
type serviceConfig struct {
	Listen  string         `yaml:"listen"`
	Tracing tracing.Config `yaml:"tracing"`
}

func load(src string, env map[string]string) (serviceConfig, error) {
	var c serviceConfig
	err := config.LoadBytes("svc.yml", []byte(src), &c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestConfigLoads(t *testing.T) {
	cases := []struct {
		name, src string
		env       map[string]string
		endpoint  string
		ratio     float64
	}{
		{"absent: off", "listen: x\n", nil, "", 1},
		{"empty block: off", "tracing: {}\n", nil, "", 1},
		{"endpoint, default ratio", "tracing: {otlp_endpoint: http://collector:4318}\n", nil, "http://collector:4318", 1},
		{"ratio", "tracing: {otlp_endpoint: 'https://c.example/otlp/', sample_ratio: 0.25}\n", nil, "https://c.example/otlp/", 0.25},
		{"ratio 0", "tracing: {otlp_endpoint: http://c:4318, sample_ratio: 0}\n", nil, "http://c:4318", 0},
		{"env turns it on", "listen: x\n", map[string]string{tracing.EndpointEnv: "http://env:4318"}, "http://env:4318", 1},
		{"env overrides the file", "tracing: {otlp_endpoint: http://file:4318}\n", map[string]string{tracing.EndpointEnv: "http://env:4318"}, "http://env:4318", 1},
		{"env set empty turns it off", "tracing: {otlp_endpoint: http://file:4318}\n", map[string]string{tracing.EndpointEnv: ""}, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.src, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Tracing.OTLPEndpoint != tc.endpoint || c.Tracing.Ratio() != tc.ratio || c.Tracing.Enabled() != (tc.endpoint != "") {
				t.Fatalf("got %+v ratio %g", c.Tracing, c.Tracing.Ratio())
			}
		})
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	cases := []struct {
		name, src string
		env       map[string]string
		key, want string
	}{
		{"not http", "tracing: {otlp_endpoint: 'grpc://c:4317'}\n", nil, "tracing.otlp_endpoint", "expected an http:// or https:// URL"},
		{"no host", "tracing: {otlp_endpoint: 'http://'}\n", nil, "tracing.otlp_endpoint", "has no host"},
		{"bare host", "tracing: {otlp_endpoint: 'collector:4318'}\n", nil, "tracing.otlp_endpoint", "expected an http:// or https:// URL"},
		{"query", "tracing: {otlp_endpoint: 'http://c:4318/?x=1'}\n", nil, "tracing.otlp_endpoint", "query"},
		{"credentials", "tracing: {otlp_endpoint: 'http://u:secret@c:4318'}\n", nil, "tracing.otlp_endpoint", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"bad env", "listen: x\n", map[string]string{tracing.EndpointEnv: "c:4318"}, "tracing.otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"ratio above 1", "tracing: {otlp_endpoint: http://c:4318, sample_ratio: 1.5}\n", nil, "tracing.sample_ratio", "between 0 and 1, got 1.5"},
		{"ratio below 0", "tracing: {sample_ratio: -0.1}\n", nil, "tracing.sample_ratio", "between 0 and 1"},
		{"ratio NaN", "tracing: {sample_ratio: NaN}\n", nil, "tracing.sample_ratio", "between 0 and 1"},
		{"ratio not a number", "tracing: {sample_ratio: all}\n", nil, "tracing.sample_ratio", "expected a number"},
		{"unknown key", "tracing: {endpoint: http://c:4318}\n", nil, "tracing.endpoint", "unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.src, tc.env)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Key != tc.key || !strings.Contains(ce.Problem, tc.want) {
				t.Fatalf("got %v; want key %s and %q", err, tc.key, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the error echoes a password: %v", err)
			}
		})
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://c:4318":                "http://c:4318/v1/traces",
		"http://c:4318/":               "http://c:4318/v1/traces",
		"https://c.example/otlp":       "https://c.example/otlp/v1/traces",
		"http://c:4318/v1/traces":      "http://c:4318/v1/traces",
		"http://c:4318/otlp/v1/traces": "http://c:4318/otlp/v1/traces",
	} {
		if got, err := tracing.TracesURL(in); err != nil || got != want {
			t.Errorf("TracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestOffIsNil(t *testing.T) {
	tr, err := tracing.Start(context.Background(), "svc", tracing.Config{}, discard())
	if err != nil || tr != nil {
		t.Fatalf("got %v, %v; want nil, nil", tr, err)
	}
	if tr.Provider() != nil {
		t.Fatal("a provider with tracing off")
	}
	tr.Close() // safe on nil
}

func TestStartRefusesBadConfig(t *testing.T) {
	bad := 2.0
	_, err := tracing.Start(context.Background(), "svc", tracing.Config{OTLPEndpoint: "http://c:4318", SampleRatio: &bad}, discard())
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Key != "tracing.sample_ratio" {
		t.Fatalf("got %v", err)
	}
}

func TestExportsWithServiceName(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "not-this")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	col := tracingtest.New(t)
	tr, err := tracing.Start(context.Background(), "svc", tracing.Config{OTLPEndpoint: col.URL}, discard())
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider().Tracer("test").Start(context.Background(), "work")
	span.End()
	tr.Close() // flushes
	spans := col.Spans()
	if len(spans) != 1 || spans[0].Name != "work" || spans[0].Service != "svc" || spans[0].ParentID != "" {
		t.Fatalf("spans: %v", spans)
	}
}

func TestSampleRatioZeroFollowsSampledCallers(t *testing.T) {
	zero := 0.0
	col := tracingtest.New(t)
	tr, err := tracing.Start(context.Background(), "svc", tracing.Config{OTLPEndpoint: col.URL, SampleRatio: &zero}, discard())
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.Provider().Tracer("test")
	_, root := tracer.Start(context.Background(), "new trace")
	root.End()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	caller := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	_, child := tracer.Start(caller, "continued")
	child.End()
	tr.Close()
	spans := col.Spans()
	if len(spans) != 1 || spans[0].Name != "continued" || spans[0].TraceID != tid.String() || spans[0].ParentID != sid.String() {
		t.Fatalf("want only the continued span, got %v", spans)
	}
}
