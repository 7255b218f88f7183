// Package tracingtest is an OTLP/HTTP trace collector in the test's own
// process: services (or a kit/tracing provider) export to its URL, and the
// test reads back the spans, decoded from the protobuf
// ExportTraceServiceRequest they posted. kit's tests and e2e/tracing use it.
package tracingtest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one exported span, flattened for assertions.
type Span struct {
	// Service is the resource's service.name.
	Service string
	Name    string
	// Kind is "server", "client", "internal", "producer" or "consumer".
	Kind string
	// TraceID, SpanID and ParentID are lower-case hex; ParentID is "" for
	// a root span.
	TraceID, SpanID, ParentID string
	// Attributes hold every value as text (ints in decimal, bools as
	// true/false).
	Attributes map[string]string
	// Error is the span's status being Error.
	Error bool
}

func (s Span) String() string {
	return fmt.Sprintf("%s %s %q trace=%s span=%s parent=%s %v", s.Service, s.Kind, s.Name, s.TraceID, s.SpanID, s.ParentID, s.Attributes)
}

// Collector is an OTLP/HTTP endpoint on a loopback port.
type Collector struct {
	// URL is the base endpoint to configure (tracing.otlp_endpoint);
	// spans arrive at URL/v1/traces.
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	spans    []Span
	requests int
	changed  chan struct{} // closed and replaced on every export
}

// New starts a collector that stops when the test ends.
func New(t testing.TB) *Collector {
	c := Start()
	t.Cleanup(c.Close)
	return c
}

// Start starts a collector for a whole test binary (from TestMain, where
// there is no test to end it); Close stops it.
func Start() *Collector {
	c := &Collector{changed: make(chan struct{})}
	c.srv = httptest.NewServer(http.HandlerFunc(c.export))
	c.URL = c.srv.URL
	return c
}

// Close stops the collector.
func (c *Collector) Close() { c.srv.Close() }

func (c *Collector) export(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "only POST /v1/traces", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(io.LimitReader(body, 32<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, "not an ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		service := attrs(rs.GetResource().GetAttributes())["service.name"]
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Service:    service,
					Name:       s.GetName(),
					Kind:       strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_")),
					TraceID:    hex.EncodeToString(s.GetTraceId()),
					SpanID:     hex.EncodeToString(s.GetSpanId()),
					ParentID:   hex.EncodeToString(s.GetParentSpanId()),
					Attributes: attrs(s.GetAttributes()),
					Error:      s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
				})
			}
		}
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.requests++
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(x.IntValue, 10)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = strconv.FormatBool(x.BoolValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// Spans are the spans received so far, in arrival order.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Requests is how many exports arrived (an exporter that sends nothing
// leaves it 0).
func (c *Collector) Requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// WaitFor waits until done holds for the spans received so far and returns
// them; after timeout it fails the test, listing what did arrive.
func (c *Collector) WaitFor(t testing.TB, timeout time.Duration, done func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		spans, changed := append([]Span(nil), c.spans...), c.changed
		c.mu.Unlock()
		if done(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			var b strings.Builder
			for _, s := range spans {
				b.WriteString("\n  " + s.String())
			}
			t.Fatalf("spans not as expected after %s; got %d:%s", timeout, len(spans), b.String())
			return nil
		}
	}
}

// Find returns the first span of service named name, if any.
func Find(spans []Span, service, name string) (Span, bool) {
	for _, s := range spans {
		if s.Service == service && s.Name == name {
			return s, true
		}
	}
	return Span{}, false
}
