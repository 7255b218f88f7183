package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/learnplatform/platform/kit/tracing"
	"github.com/learnplatform/platform/kit/tracing/tracingtest"
)

// logBuffer collects JSON log lines written from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the log records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// tracedServer is a server named service exporting to col (tracing off when
// col is nil), with its logs.
func tracedServer(t *testing.T, service string, col *tracingtest.Collector) (*Server, *tracing.Tracing, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	var cfg tracing.Config
	if col != nil {
		cfg.OTLPEndpoint = col.URL
	}
	tr, err := tracing.Start(context.Background(), service, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return NewWith(service, logger, Options{Tracer: tr.Provider()}), tr, logs
}

func TestTracingSpanPerRequest(t *testing.T) {
	col := tracingtest.New(t)
	s, tr, logs := tracedServer(t, "tutor", col)
	s.Router.Get("/courses/{course}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	s.Router.Get("/fail", func(w http.ResponseWriter, r *http.Request) { WriteError(w, 503, "down", "down") })
	s.Router.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })

	get(t, s.Router, "/courses/go-101", RequestIDHeader, "req-1")
	get(t, s.Router, "/fail")
	get(t, s.Router, "/boom")
	get(t, s.Router, "/no/such/page")
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		get(t, s.Router, p)
	}
	tr.Close()

	spans := col.Spans()
	if len(spans) != 4 {
		t.Fatalf("want 4 spans (none for health, readiness, metrics), got %d: %v", len(spans), spans)
	}
	ok, found := tracingtest.Find(spans, "tutor", "GET /courses/{course}")
	if !found {
		t.Fatalf("no span named after the route: %v", spans)
	}
	want := map[string]string{
		"http.request.method": "GET", "http.route": "/courses/{course}", "http.response.status_code": "201",
		"url.path": "/courses/go-101", "request_id": "req-1",
	}
	for k, v := range want {
		if ok.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, ok.Attributes[k], v, ok.Attributes)
		}
	}
	if ok.Kind != "server" || ok.ParentID != "" || ok.Error {
		t.Errorf("span: %v", ok)
	}
	if fail, _ := tracingtest.Find(spans, "tutor", "GET /fail"); !fail.Error || fail.Attributes["http.response.status_code"] != "503" {
		t.Errorf("a 503 is an error span: %v", fail)
	}
	if boom, _ := tracingtest.Find(spans, "tutor", "GET /boom"); !boom.Error || boom.Attributes["http.response.status_code"] != "500" {
		t.Errorf("a panic is a 500 error span: %v", boom)
	}
	if nf, found := tracingtest.Find(spans, "tutor", "GET"); !found || nf.Attributes["http.route"] != "" || nf.Attributes["http.response.status_code"] != "404" {
		t.Errorf("an unmatched path is named by its method alone (no route): %v", spans)
	}

	// Each access log line names its span; the panic's log line too.
	byPath := map[string]map[string]any{}
	for _, l := range logs.lines(t, "request") {
		byPath[l["path"].(string)] = l
	}
	if l := byPath["/courses/go-101"]; l["trace_id"] != ok.TraceID || l["span_id"] != ok.SpanID {
		t.Errorf("log line %v does not carry span %v", l, ok)
	}
	if l := byPath["/readyz"]; l == nil || l["trace_id"] != nil {
		t.Errorf("the untraced readiness probe is logged without a trace: %v", l)
	}
	if p := logs.lines(t, "panic"); len(p) != 1 || p[0]["trace_id"] == nil {
		t.Errorf("panic log: %v", p)
	}
}

func TestTracingContinuesCallersTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	col := tracingtest.New(t)
	s, tr, _ := tracedServer(t, "consent", col)
	s.Router.Get("/login", func(http.ResponseWriter, *http.Request) {})
	get(t, s.Router, "/login", "Traceparent", "00-"+traceID+"-"+parent+"-01")
	// A caller that chose not to record its trace is followed, whatever
	// our own ratio says.
	get(t, s.Router, "/login", "Traceparent", "00-"+strings.Repeat("a", 32)+"-"+parent+"-00")
	// A malformed traceparent starts a new trace.
	get(t, s.Router, "/login", "Traceparent", "00-zz-"+parent+"-01")
	tr.Close()

	spans := col.Spans()
	if len(spans) != 2 {
		t.Fatalf("want the continued and the fresh trace, got %v", spans)
	}
	if s := spans[0]; s.TraceID != traceID || s.ParentID != parent || s.Name != "GET /login" {
		t.Fatalf("the caller's trace is not continued: %v", s)
	}
	if s := spans[1]; s.TraceID == traceID || s.ParentID != "" {
		t.Fatalf("a malformed traceparent must start a new trace: %v", s)
	}
}

// TestRequestIDTransportJoinsTraces is identity calling Kratos: the call is
// a client span under identity's server span, and the called service
// continues it.
func TestRequestIDTransportJoinsTraces(t *testing.T) {
	col := tracingtest.New(t)
	down, downTr, _ := tracedServer(t, "kratos", col)
	var seen http.Header
	down.Router.Get("/sessions/whoami", func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":true}`)
	})
	down.Router.Get("/broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	downSrv := httptest.NewServer(down.Router)
	defer downSrv.Close()

	up, upTr, _ := tracedServer(t, "identity", col)
	client := &http.Client{Transport: RequestIDTransport{}}
	call := func(ctx context.Context, url string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"?email=alice@example.com", nil)
		res, err := client.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	up.Router.Get("/login", func(w http.ResponseWriter, r *http.Request) {
		call(r.Context(), downSrv.URL+"/sessions/whoami")
		call(r.Context(), downSrv.URL+"/broken")
		call(r.Context(), "http://127.0.0.1:1/refused")
	})
	get(t, up.Router, "/login", RequestIDHeader, "req-77")
	upTr.Close()
	downTr.Close()

	spans := col.Spans()
	server, ok := tracingtest.Find(spans, "identity", "GET /login")
	if !ok {
		t.Fatalf("no identity span: %v", spans)
	}
	host := strings.TrimPrefix(downSrv.URL, "http://")
	var clients []tracingtest.Span
	for _, s := range spans {
		if s.Service == "identity" && s.Kind == "client" {
			clients = append(clients, s)
		}
	}
	if len(clients) != 3 {
		t.Fatalf("want 3 client spans, got %v", spans)
	}
	c := clients[0]
	if c.Name != "GET "+host || c.ParentID != server.SpanID || c.TraceID != server.TraceID ||
		c.Attributes["http.response.status_code"] != "200" || c.Attributes["url.full"] != downSrv.URL+"/sessions/whoami" || c.Error {
		t.Fatalf("client span %v (server %v)", c, server)
	}
	if strings.Contains(c.String(), "alice") {
		t.Fatalf("the query reached the span: %v", c)
	}
	if !clients[1].Error || clients[1].Attributes["http.response.status_code"] != "502" {
		t.Errorf("a 502 answer is an error client span: %v", clients[1])
	}
	if !clients[2].Error || clients[2].Name != "GET 127.0.0.1:1" {
		t.Errorf("a refused connection is an error client span: %v", clients[2])
	}

	kratos, ok := tracingtest.Find(spans, "kratos", "GET /sessions/whoami")
	if !ok || kratos.TraceID != server.TraceID || kratos.ParentID != c.SpanID || kratos.Attributes["request_id"] != "req-77" {
		t.Fatalf("the called service's span %v does not continue client span %v", kratos, c)
	}
	if got := seen.Get("Traceparent"); got != "00-"+c.TraceID+"-"+c.SpanID+"-01" {
		t.Fatalf("traceparent sent: %q", got)
	}
	if seen.Get(RequestIDHeader) != "req-77" {
		t.Fatalf("request id sent: %q", seen.Get(RequestIDHeader))
	}
}

// TestRequestIDTransportSpanLastsTheBody: a streamed answer (the tutor's
// model) is timed to its end, not to its headers.
func TestRequestIDTransportSpanLastsTheBody(t *testing.T) {
	col := tracingtest.New(t)
	release := make(chan struct{})
	model := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer model.Close()
	s, tr, _ := tracedServer(t, "tutor", col)
	var whileStreaming int
	s.Router.Post("/chatkit", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, model.URL+"/v1/chat/completions", nil)
		res, err := (&http.Client{Transport: RequestIDTransport{}}).Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer res.Body.Close()
		if err := tr.Provider().(interface{ ForceFlush(context.Context) error }).ForceFlush(r.Context()); err != nil {
			t.Error(err)
		}
		whileStreaming = len(col.Spans())
		close(release)
		_, _ = io.Copy(io.Discard, res.Body)
	})
	rec := httptest.NewRecorder()
	s.Router.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/chatkit", nil))
	tr.Close()
	if whileStreaming != 0 {
		t.Fatalf("the client span ended before the body did")
	}
	if _, ok := tracingtest.Find(col.Spans(), "tutor", "POST "+strings.TrimPrefix(model.URL, "http://")); !ok {
		t.Fatalf("no client span once the body was read: %v", col.Spans())
	}
}

func TestTracingOffAddsNothing(t *testing.T) {
	col := tracingtest.New(t) // nothing points at it: nothing may arrive
	var seen http.Header
	downSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
	defer downSrv.Close()

	s, tr, logs := tracedServer(t, "identity", nil)
	if tr != nil {
		t.Fatal("tracing on without an endpoint")
	}
	if got, want := len(s.Router.Middlewares()), len(testServer().Router.Middlewares()); got != want {
		t.Fatalf("tracing off installs %d middlewares, New %d", got, want)
	}
	s.Router.Get("/login", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, downSrv.URL, nil)
		if res, err := (&http.Client{Transport: RequestIDTransport{}}).Do(req); err == nil {
			res.Body.Close()
		}
	})
	get(t, s.Router, "/login", "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", RequestIDHeader, "req-9")
	tr.Close()
	if seen.Get("Traceparent") != "" || seen.Get(RequestIDHeader) != "req-9" {
		t.Fatalf("headers sent on with tracing off: %v", seen)
	}
	for _, l := range logs.lines(t, "request") {
		if _, ok := l["trace_id"]; ok {
			t.Fatalf("log line with a trace id: %v", l)
		}
	}
	if col.Requests() != 0 {
		t.Fatal("spans exported with tracing off")
	}
}
