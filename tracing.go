package main

// tracing.go: OpenTelemetry traces across HTTP, GraphQL operations and
// their root resolvers, and SQL, exported over OTLP/HTTP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; without it nothing is recorded.

import (
	"context"
	"net/http"
	"strings"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/extra/bunotel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/usergraph/usergraph/internal/config"
)

// newTracing returns the tracer provider for cfg, nil when tracing is off.
// Its spans carry SQL with placeholders, never the values.
func newTracing(ctx context.Context, cfg config.Config) (*sdktrace.TracerProvider, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(cfg.OTLPEndpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, err
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cfg.OTELServiceName))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

// sqlTracing records a span per SQL statement run for a traced request
// (bunotel, placeholders only), named by its statement: INSERT, UPDATE,
// DELETE, SELECT (bun calls every raw statement SELECT). Statements outside
// a traced request (the mail poller's, every few seconds) start no trace.
func sqlTracing(tp trace.TracerProvider) bun.QueryHook {
	return tracedOnly{bunotel.NewQueryHook(bunotel.WithTracerProvider(tp), bunotel.WithFormattedQueries(false),
		bunotel.WithSpanNameQueryGen(func(e *bun.QueryEvent) string { return statementName(e.Query) }))}
}

// tracedOnly is a query hook that records only within a trace.
type tracedOnly struct{ *bunotel.QueryHook }

// BeforeQuery starts a span only inside a trace: a statement of a
// transaction runs under the (ended) span of its BEGIN, so the test is
// whether ctx is in a trace, not whether its span still records.
func (h tracedOnly) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx // AfterQuery then finds no recording span and records nothing
	}
	return h.QueryHook.BeforeQuery(ctx, e)
}

// statementName is the first word of query, upper-cased.
func statementName(query string) string {
	word, _, _ := strings.Cut(strings.TrimSpace(query), " ")
	return strings.ToUpper(word)
}

// traceHTTP starts a span per request, continuing a caller's W3C trace context.
func traceHTTP(tp trace.TracerProvider, h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "usergraph",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
}
