// Package tracing is the platform's optional OpenTelemetry tracing: the
// `tracing:` block every service's YAML may carry and the OTLP/HTTP
// exporter it turns on. cmd/*/main.go calls Start and hands Provider to
// kit/server, which then traces each request and each call made through
// server.RequestIDTransport. Without an endpoint Start returns nil: nothing
// is traced, exported or wrapped.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/learnplatform/platform/kit/config"
)

// EndpointEnv overrides Config.OTLPEndpoint; it is the variable every
// OpenTelemetry SDK reads, so a deployment that sets it for its other
// software needs nothing more for ours.
const EndpointEnv = "OTEL_EXPORTER_OTLP_ENDPOINT"

// Config is the `tracing:` block of a service's configuration file.
type Config struct {
	// OTLPEndpoint is the collector's OTLP/HTTP base URL, such as
	// http://collector:4318; spans are posted to <endpoint>/v1/traces (an
	// endpoint already ending in /v1/traces is used as it is). Empty means
	// tracing is off. OTEL_EXPORTER_OTLP_ENDPOINT overrides it (set but
	// empty turns tracing off).
	OTLPEndpoint string `yaml:"otlp_endpoint" env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	// SampleRatio is the share of new traces recorded, 0 to 1 (default 1).
	// A request that arrives with a traceparent follows its caller's
	// decision instead, so a trace is recorded whole or not at all.
	SampleRatio *float64 `yaml:"sample_ratio"`
}

// Enabled reports whether spans are to be exported.
func (c Config) Enabled() bool { return c.OTLPEndpoint != "" }

// Ratio is SampleRatio with its default.
func (c Config) Ratio() float64 {
	if c.SampleRatio == nil {
		return 1
	}
	return *c.SampleRatio
}

// ValidateSection implements config.SectionValidator, so a bad endpoint or
// ratio stops start-up (exit 2) naming the key, in every service.
func (c *Config) ValidateSection(key string) error {
	if c.OTLPEndpoint != "" {
		if _, err := TracesURL(c.OTLPEndpoint); err != nil {
			return config.Problem(join(key, "otlp_endpoint"), "%v (%s, when set, overrides this key)", err, EndpointEnv)
		}
	}
	if r := c.Ratio(); math.IsNaN(r) || r < 0 || r > 1 {
		return config.Problem(join(key, "sample_ratio"), "must be between 0 and 1, got %g", r)
	}
	return nil
}

func join(key, sub string) string {
	if key == "" {
		return sub
	}
	return key + "." + sub
}

// TracesURL is where spans are posted for an OTLP/HTTP base endpoint.
func TracesURL(endpoint string) (string, error) {
	u, err := config.ParseHTTPURL(endpoint)
	if err != nil {
		return "", err
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("URL %q carries credentials, which are not sent; put them in OTEL_EXPORTER_OTLP_HEADERS", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("URL %q has a query or fragment; expected a base URL like http://collector:4318", endpoint)
	}
	if strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/v1/traces") {
		return u.String(), nil
	}
	return u.JoinPath("v1", "traces").String(), nil
}

// Tracing is a running exporter. A nil *Tracing is tracing switched off;
// its methods are safe to call.
type Tracing struct {
	provider *sdktrace.TracerProvider
	logger   *slog.Logger
}

// Start builds the exporter and tracer provider for service (its
// service.name) when cfg enables tracing, and returns nil otherwise. It
// does not contact the collector: one that is down loses spans (logged),
// never requests.
func Start(ctx context.Context, service string, cfg Config, logger *slog.Logger) (*Tracing, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if err := cfg.ValidateSection("tracing"); err != nil {
		return nil, err
	}
	endpoint, _ := TracesURL(cfg.OTLPEndpoint)
	// The exporter still reads the other OTEL_EXPORTER_OTLP_* variables
	// (headers, timeout, compression, certificates).
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	// OTEL_RESOURCE_ATTRIBUTES may add attributes (deployment.environment,
	// say); service.name is always the service's own.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service)))
	if errors.Is(err, resource.ErrPartialResource) {
		logger.Warn("tracing: some resource attributes are ignored", "error", err)
	} else if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Ratio()))),
	)
	// The SDK reports export failures through a process-wide handler that
	// would otherwise print plain text among the JSON log lines.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: spans not exported", "error", err)
	}))
	logger.Info("tracing on", "otlp_endpoint", endpoint, "sample_ratio", cfg.Ratio())
	return &Tracing{provider: tp, logger: logger}, nil
}

// Provider is what kit/server traces with (server.Options.Tracer); nil
// when tracing is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.provider
}

// CloseTimeout bounds Close: a collector that does not answer must not hold
// up a service's shutdown.
const CloseTimeout = 5 * time.Second

// Close sends the spans not yet exported and stops the exporter, waiting
// at most CloseTimeout. Services defer it after Start.
func (t *Tracing) Close() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := t.provider.Shutdown(ctx); err != nil {
		t.logger.Warn("tracing: spans lost at shutdown", "error", err)
	}
}
