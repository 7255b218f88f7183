package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing follows the OpenTelemetry HTTP conventions where they fit: span
// names "GET /courses/{course}" (method and route pattern) on the server,
// "GET host:port" on the client; the keys below; W3C traceparent between
// services. The provider comes from kit/tracing (Options.Tracer).

const tracerName = "github.com/learnplatform/platform/kit/server"

// Span attribute keys.
const (
	attrMethod    = "http.request.method"
	attrRoute     = "http.route"
	attrStatus    = "http.response.status_code"
	attrPath      = "url.path"
	attrURL       = "url.full"
	attrServer    = "server.address"
	attrPort      = "server.port"
	attrClient    = "client.address"
	attrRequestID = "request_id" // the same key as in the access log
)

// traceContext is the W3C traceparent (and tracestate) propagator.
var traceContext = propagation.TraceContext{}

// untraced are the paths probes and scrapers call every few seconds: a
// trace of each would drown the ones that matter.
func untraced(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// traceRequests starts a server span per request, continuing the caller's
// trace when the request carries a traceparent. It sits after requestID (the
// span carries the id) and before accessLog (the log line carries the span).
func traceRequests(tp trace.TracerProvider) func(http.Handler) http.Handler {
	tracer := tp.Tracer(tracerName)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if untraced(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			// The route is known once chi has routed; the name is set then.
			ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
				attribute.String(attrMethod, r.Method),
				attribute.String(attrPath, r.URL.Path),
				attribute.String(attrClient, hostOnly(r.RemoteAddr)),
				attribute.String(attrRequestID, RequestID(r.Context())),
			))
			defer span.End()
			sw := wrap(w)
			next.ServeHTTP(sw, r.WithContext(ctx))
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				span.SetName(r.Method + " " + rc.RoutePattern())
				span.SetAttributes(attribute.String(attrRoute, rc.RoutePattern()))
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			span.SetAttributes(attribute.Int(attrStatus, code))
			if code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(code))
			}
		})
	}
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// traceCall is RequestIDTransport's side when the request being served is
// traced: a client span, a child of the server span, whose traceparent the
// called service continues. The span ends when the response body is read
// to the end or closed, so a streamed answer (the tutor's model) counts in
// full.
func traceCall(ctx context.Context, parent trace.Span, r *http.Request, base http.RoundTripper) (*http.Response, error) {
	attrs := []attribute.KeyValue{
		attribute.String(attrMethod, r.Method),
		attribute.String(attrServer, r.URL.Hostname()),
		// Never the query or user info: Kratos' admin API takes emails
		// in the query, and some URLs carry credentials.
		attribute.String(attrURL, (&url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: r.URL.Path}).String()),
	}
	if p := r.URL.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, attribute.Int(attrPort, n))
		}
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, r.Method+" "+r.URL.Host,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	r = r.Clone(ctx)
	traceContext.Inject(ctx, propagation.HeaderCarrier(r.Header))
	res, err := base.RoundTrip(r)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return res, err
	}
	span.SetAttributes(attribute.Int(attrStatus, res.StatusCode))
	// Unlike the conventions' advice, a 4xx is no error of ours: the edge
	// relays Kratos' 400s and 401s as a matter of course.
	if res.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(res.StatusCode))
	}
	if res.Body == nil || res.Body == http.NoBody || res.StatusCode == http.StatusSwitchingProtocols {
		span.End()
		return res, nil
	}
	res.Body = &spanBody{ReadCloser: res.Body, span: span}
	return res, nil
}

// spanBody ends its span at the end of the body, or when it is closed.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.end(err)
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end(nil)
	return err
}

func (b *spanBody) end(err error) {
	b.once.Do(func() {
		if err != nil && err != io.EOF {
			b.span.RecordError(err)
			b.span.SetStatus(codes.Error, err.Error())
		}
		b.span.End()
	})
}
