package pgxtracing

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestOperation(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                             "SELECT",
		"  insert into t values ($1)":          "INSERT",
		"WITH x AS (SELECT 1) SELECT * FROM x": "WITH",
		"(SELECT 1) UNION (SELECT 2)":          "SELECT",
		"-- who\n-- why\nUPDATE t SET a=$1":    "UPDATE",
		"":                                     "QUERY",
		"-- only a comment":                    "QUERY",
		"$1":                                   "QUERY",
	} {
		if got := Operation(sql); got != want {
			t.Errorf("Operation(%q) = %q, want %q", sql, got, want)
		}
	}
}

// A query inside a traced request is a child span; outside one, nothing.
func TestSpansOnlyUnderATrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var q Query

	ctx := q.TraceQueryStart(context.Background(), nil, pgx.TraceQueryStartData{SQL: "SELECT 1"})
	q.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{})
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("untraced query recorded %d spans", n)
	}

	reqCtx, req := tp.Tracer("test").Start(context.Background(), "GET /x")
	ctx = q.TraceQueryStart(reqCtx, nil, pgx.TraceQueryStartData{SQL: "UPDATE t SET a = $1"})
	q.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("UPDATE 3")})
	ctx = q.TraceQueryStart(reqCtx, nil, pgx.TraceQueryStartData{SQL: "SELECT nope"})
	q.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{Err: errors.New("column does not exist")})
	req.End()

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	update, failed := spans[0], spans[1]
	if update.Name() != "UPDATE" || update.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Errorf("update span %q under %v", update.Name(), update.Parent().SpanID())
	}
	attrs := map[string]string{}
	for _, a := range update.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs[attrSystem] != "postgresql" || attrs[attrQuery] != "UPDATE t SET a = $1" || attrs[attrRows] != "3" {
		t.Errorf("update attributes %v", attrs)
	}
	if failed.Status().Code != codes.Error || len(failed.Events()) == 0 {
		t.Errorf("failed query: status %v, events %d", failed.Status(), len(failed.Events()))
	}
}
