// Package server is the HTTP plumbing every platform service shares: a chi
// router with request ids, JSON access logs, Prometheus metrics, optional
// OpenTelemetry tracing (Options.Tracer, from kit/tracing), /healthz,
// /readyz backed by real dependency checks, the platform's JSON error shape,
// and graceful shutdown. Services mount their own routes on Router.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
)

// Check is one dependency probed by /readyz.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Server is a service's HTTP server.
type Server struct {
	Name     string
	Router   chi.Router
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ops is the operators' handler (/metrics, /readyz with details,
	// /healthz) when Options.OpsListen is set; Run serves it there.
	Ops http.Handler

	opsListen string
	checks    []Check
}

// Options are a server's optional parts.
type Options struct {
	// Tracer, when set, traces every request but the health and metrics
	// endpoints (a span per request, continuing an incoming traceparent)
	// and the calls made through RequestIDTransport while serving them.
	// kit/tracing's Provider gives it; nil (tracing off) adds nothing.
	Tracer trace.TracerProvider
	// OpsListen, when set, is a second address (e.g. 127.0.0.1:9090 or
	// :9090 inside a pod) serving /metrics and /readyz with each check's
	// error, for Prometheus and probes only. The public port then serves no
	// /metrics and a /readyz that names failing checks without their errors
	// (which carry internal hostnames and addresses). Empty keeps both on
	// the public port, as local runs want.
	OpsListen string
}

// New builds a server with the shared middleware and the health and metrics
// endpoints already mounted.
func New(name string, logger *slog.Logger, checks ...Check) *Server {
	return NewWith(name, logger, Options{}, checks...)
}

// NewWith is New with options.
func NewWith(name string, logger *slog.Logger, opts Options, checks ...Check) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Name: name, Router: chi.NewRouter(), Logger: logger, Registry: reg, checks: checks, opsListen: opts.OpsListen}
	m := newHTTPMetrics(reg)
	s.Router.Use(requestID)
	if opts.Tracer != nil {
		s.Router.Use(traceRequests(opts.Tracer))
	}
	s.Router.Use(accessLog(logger), m.middleware, recoverJSON(logger))
	s.Router.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if opts.OpsListen == "" {
		s.Router.Get("/readyz", s.ready(true))
		s.Router.Method(http.MethodGet, "/metrics", metrics)
	} else {
		s.Router.Get("/readyz", s.ready(false))
		ops := http.NewServeMux()
		ops.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		ops.HandleFunc("GET /readyz", s.ready(true))
		ops.Handle("GET /metrics", metrics)
		s.Ops = ops
	}
	s.Router.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "not_found", "no such path: "+r.URL.Path)
	})
	s.Router.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
	})
	return s
}

// AddCheck adds a dependency probe to /readyz (for dependencies made after
// the server, such as ones that report metrics to its registry).
func (s *Server) AddCheck(c Check) { s.checks = append(s.checks, c) }

// ReadyTimeout bounds each dependency probe of /readyz.
const ReadyTimeout = 2 * time.Second

type readiness struct {
	Status  string            `json:"status"`
	Failing []string          `json:"failing,omitempty"`
	Checks  map[string]string `json:"checks"`
}

// ready answers /readyz; without details each failing check is named but
// its error (hostnames, addresses) is left out.
func (s *Server) ready(details bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res := readiness{Status: "ready", Checks: map[string]string{}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range s.checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
				defer cancel()
				err := c.Probe(ctx)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					res.Checks[c.Name] = "ok"
				case details:
					res.Checks[c.Name] = err.Error()
					res.Failing = append(res.Failing, c.Name)
				default:
					res.Checks[c.Name] = "failing"
					res.Failing = append(res.Failing, c.Name)
				}
			}()
		}
		wg.Wait()
		if len(res.Failing) > 0 {
			sort.Strings(res.Failing)
			res.Status = "unavailable: " + strings.Join(res.Failing, ", ")
			WriteJSON(w, http.StatusServiceUnavailable, res)
			return
		}
		WriteJSON(w, http.StatusOK, res)
	}
}

// Run serves on addr until ctx ends, then drains in-flight requests.
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened. With Options.OpsListen set
// it also serves Ops there, for as long as the public listener serves.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opsListen != "" {
		opsLn, err := net.Listen("tcp", s.opsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("ops listener: %w", err)
		}
		ops := &http.Server{Handler: s.Ops, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ops.Serve(opsLn) }()
		s.Logger.Info("serving metrics and readiness details", "addr", opsLn.Addr().String())
		defer ops.Close()
	}
	srv := &http.Server{
		Handler:           s.Router,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.Logger.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Logger.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NewLogger returns the JSON logger every service writes to stderr.
func NewLogger(service, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("service", service)
}

// ErrorBody is the platform's JSON error shape.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries a stable code and a human message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers {"error":{"code":...,"message":...}} with status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: message}})
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
