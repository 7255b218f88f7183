// Package pgxtracing traces the platform's PostgreSQL queries: Query is a
// pgx.QueryTracer that gives each query made while serving a traced
// request a client span under the request's (kit/server), named after the
// statement's first keyword ("SELECT", "INSERT", "WITH", ...), with the SQL
// text (our queries take their values as $n parameters, which are never
// recorded) and the rows affected. Queries outside a traced request (pool
// health checks, background jobs) cost one context lookup and record
// nothing. Batches and COPY are not traced.
package pgxtracing

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const tracerName = "github.com/learnplatform/platform/kit/tracing/pgxtracing"

// Span attribute keys (OpenTelemetry database conventions).
const (
	attrSystem  = "db.system.name"
	attrQuery   = "db.query.text"
	attrRows    = "db.response.rows_affected"
	systemValue = "postgresql"
)

// Query is a pgx.QueryTracer; set it as pgx.ConnConfig.Tracer.
type Query struct{}

var _ pgx.QueryTracer = Query{}

type spanKey struct{}

// TraceQueryStart starts the query's span when ctx belongs to a trace.
func (Query) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, Operation(data.SQL),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String(attrSystem, systemValue), attribute.String(attrQuery, data.SQL)))
	return context.WithValue(ctx, spanKey{}, span)
}

// TraceQueryEnd ends the span TraceQueryStart started, if any.
func (Query) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, data.Err.Error())
	} else {
		span.SetAttributes(attribute.Int64(attrRows, data.CommandTag.RowsAffected()))
	}
	span.End()
}

// Operation is a statement's first keyword, upper case: the span's name.
func Operation(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	for strings.HasPrefix(sql, "--") { // leading comment lines
		_, rest, ok := strings.Cut(sql, "\n")
		if !ok {
			return "QUERY"
		}
		sql = strings.TrimLeft(rest, " \t\r\n(")
	}
	end := strings.IndexFunc(sql, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if end < 0 {
		end = len(sql)
	}
	if end == 0 {
		return "QUERY"
	}
	return strings.ToUpper(sql[:end])
}
