package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func testServer(checks ...Check) *Server {
	return New("test", slog.New(slog.NewTextHandler(io.Discard, nil)), checks...)
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestReadyNamesFailingDependency(t *testing.T) {
	ok := Check{Name: "postgres", Probe: func(context.Context) error { return nil }}
	bad := Check{Name: "hydra", Probe: func(context.Context) error { return errors.New("connection refused") }}

	s := testServer(ok)
	if rec := get(t, s.Router, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("all ok: got %d %s", rec.Code, rec.Body)
	}

	s = testServer(ok, bad)
	rec := get(t, s.Router, "/readyz")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("want 503, got %d", rec.Code)
	}
	var body readiness
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Failing) != 1 || body.Failing[0] != "hydra" || body.Checks["postgres"] != "ok" ||
		!strings.Contains(body.Checks["hydra"], "refused") || !strings.Contains(body.Status, "hydra") {
		t.Fatalf("body: %+v", body)
	}
}

func TestHealthMetricsAndErrors(t *testing.T) {
	s := testServer()
	s.Router.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	if rec := get(t, s.Router, "/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("healthz %d", rec.Code)
	}
	rec := get(t, s.Router, "/nope")
	var eb ErrorBody
	if rec.Code != http.StatusNotFound || json.Unmarshal(rec.Body.Bytes(), &eb) != nil || eb.Error.Code != "not_found" {
		t.Fatalf("404 shape: %d %s", rec.Code, rec.Body)
	}
	rec = get(t, s.Router, "/boom")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"internal"`) {
		t.Fatalf("panic: %d %s", rec.Code, rec.Body)
	}
	rec = get(t, s.Router, "/metrics")
	if !strings.Contains(rec.Body.String(), `http_requests_total{code="404",method="GET",route="unmatched"} 1`) {
		t.Fatalf("metrics missing request count:\n%s", rec.Body)
	}
}

func TestRequestID(t *testing.T) {
	s := testServer()
	rec := get(t, s.Router, "/healthz", RequestIDHeader, "abc-123")
	if got := rec.Header().Get(RequestIDHeader); got != "abc-123" {
		t.Fatalf("kept id: %q", got)
	}
	rec = get(t, s.Router, "/healthz", RequestIDHeader, "bad id\r\nx")
	if got := rec.Header().Get(RequestIDHeader); len(got) != 24 {
		t.Fatalf("fresh id expected, got %q", got)
	}
}

func TestHTTPCheck(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer up.Close()
	if err := HTTPCheck("x", up.URL+"/ok").Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := HTTPCheck("x", up.URL+"/down").Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("want 503 error, got %v", err)
	}
	if err := HTTPCheck("x", "http://127.0.0.1:1/").Probe(context.Background()); err == nil {
		t.Fatal("closed port must fail")
	}
}

func TestRequestIDTravelsToCalledServices(t *testing.T) {
	var got string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Get(RequestIDHeader) }))
	defer up.Close()
	s := testServer()
	client := &http.Client{Transport: RequestIDTransport{}}
	s.Router.Get("/call", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", up.URL, nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
	})
	get(t, s.Router, "/call", RequestIDHeader, "trace-me-42")
	if got != "trace-me-42" {
		t.Fatalf("the called service saw request id %q", got)
	}
}

// With an ops listener the public port keeps metrics and the checks' errors
// (internal hostnames) to itself; the ops handler has both.
func TestOpsListenerKeepsDetailsOffThePublicPort(t *testing.T) {
	bad := Check{Name: "postgres", Probe: func(context.Context) error {
		return errors.New("dial tcp db.internal.example:5432: connection refused")
	}}
	s := NewWith("test", slog.New(slog.NewTextHandler(io.Discard, nil)), Options{OpsListen: "127.0.0.1:0"}, bad)
	if rec := get(t, s.Router, "/metrics"); rec.Code != http.StatusNotFound {
		t.Fatalf("public /metrics: %d", rec.Code)
	}
	rec := get(t, s.Router, "/readyz")
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "internal.example") ||
		!strings.Contains(rec.Body.String(), `"postgres"`) {
		t.Fatalf("public /readyz: %d %s", rec.Code, rec.Body)
	}
	rec = get(t, s.Ops, "/readyz")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "internal.example") {
		t.Fatalf("ops /readyz: %d %s", rec.Code, rec.Body)
	}
	if rec := get(t, s.Ops, "/metrics"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Fatalf("ops /metrics: %d", rec.Code)
	}
}

func TestServeStartsTheOpsListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := l.Addr().String()
	l.Close()
	s := NewWith("test", slog.New(slog.NewTextHandler(io.Discard, nil)), Options{OpsListen: opsAddr})
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pub) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := http.Get("http://" + opsAddr + "/metrics")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("ops /metrics: %s", res.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ops listener not serving: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.Get("http://" + pub.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("public /metrics: %s", res.Status)
	}
}
