// Package metrics exposes usergraph's Prometheus metrics (names prefixed
// usergraph_): GraphQL operations by root field and outcome with their
// latency, HTTP answers by status, the database pool, the password-hash
// admission, the mail outbox, and rate-limit refusals.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are the process state read at each scrape.
type Sources struct {
	DB            *sql.DB
	HashesRunning func() int
	HashesWaiting func() int64
	HashesTotal   func() int64
	HashesRefused func() int64
	LimitRefusals func() int64
	// Outbox counts the mail outbox's rows by status (PENDING, SENT, FAILED).
	Outbox func(ctx context.Context) (map[string]int, error)
	// Webhooks counts webhook deliveries by status (PENDING, DELIVERED, DEAD).
	Webhooks func(ctx context.Context) (map[string]int, error)
}

// Metrics holds the registry and the instruments requests update.
type Metrics struct {
	registry   *prometheus.Registry
	operations *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	http       *prometheus.CounterVec
	webhooks   *prometheus.CounterVec
}

// New registers every metric.
func New(src Sources) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usergraph_graphql_operations_total",
			Help: "GraphQL root fields answered, by kind and field (operation: query:me, mutation:login) and outcome: the code of the field's first error, top-level or in its payload's errors (a failed sign-in is INVALID_CREDENTIALS), OK without one. A request that did not run counts once as operation=\"invalid\".",
		}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "usergraph_graphql_operation_duration_seconds",
			Help:    "Time to answer a GraphQL operation, by kind and first root field.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		http: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usergraph_http_responses_total",
			Help: "HTTP responses by status code.",
		}, []string{"code"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "usergraph_webhook_attempts_total",
			Help: "Webhook delivery attempts by endpoint and outcome: delivered, failed (retried later), dead (the last attempt failed).",
		}, []string{"endpoint", "outcome"}),
	}
	r.MustRegister(m.operations, m.latency, m.http, m.webhooks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("usergraph_db_connections_open", "Database connections open.", func() float64 { return float64(src.DB.Stats().OpenConnections) }),
		gauge("usergraph_db_connections_in_use", "Database connections in use.", func() float64 { return float64(src.DB.Stats().InUse) }),
		counter("usergraph_db_connection_waits_total", "Times a query waited for a free database connection.", func() float64 { return float64(src.DB.Stats().WaitCount) }),
		counter("usergraph_db_connection_wait_seconds_total", "Time queries waited for a free database connection.", func() float64 { return src.DB.Stats().WaitDuration.Seconds() }),
		gauge("usergraph_password_hashes_running", "argon2id hashes being computed.", func() float64 { return float64(src.HashesRunning()) }),
		gauge("usergraph_password_hash_queue", "Requests waiting for a hashing slot.", func() float64 { return float64(src.HashesWaiting()) }),
		counter("usergraph_password_hashes_total", "argon2id hashes computed.", func() float64 { return float64(src.HashesTotal()) }),
		counter("usergraph_password_hash_refusals_total", "Password checks refused because every slot and the queue were taken.", func() float64 { return float64(src.HashesRefused()) }),
		counter("usergraph_rate_limit_refusals_total", "Attempts refused by a rate limit or lockout.", func() float64 { return float64(src.LimitRefusals()) }),
		statusCollector{count: src.Outbox, statuses: []string{"PENDING", "SENT", "FAILED"}, desc: prometheus.NewDesc("usergraph_mail_outbox_emails",
			"Emails in the outbox by status: PENDING is the backlog, FAILED gave up after every retry.", []string{"status"}, nil)},
		statusCollector{count: src.Webhooks, statuses: []string{"PENDING", "DELIVERED", "DEAD"}, desc: prometheus.NewDesc("usergraph_webhook_deliveries",
			"Webhook deliveries by status: PENDING is the backlog, DEAD gave up after every retry (webhookDeliveries lists them).", []string{"status"}, nil)},
	)
	return m
}

func gauge(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

func counter(name, help string, f func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
}

// Outcome counts how one root field of an operation ended.
func (m *Metrics) Outcome(field, outcome string) {
	m.operations.WithLabelValues(field, outcome).Inc()
}

// Latency records how long an operation took to answer.
func (m *Metrics) Latency(operation string, took time.Duration) {
	m.latency.WithLabelValues(operation).Observe(took.Seconds())
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// CountResponse records one HTTP answer with status.
func (m *Metrics) CountResponse(status int) {
	m.http.WithLabelValues(strconv.Itoa(status)).Inc()
}

// statusCollector reads rows counted by status (outbox, webhooks) at each scrape (one indexed
// query, bounded by a short deadline).
type statusCollector struct {
	count    func(ctx context.Context) (map[string]int, error)
	statuses []string
	desc     *prometheus.Desc
}

func (c statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, status := range c.statuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[status]), status)
	}
}

// WebhookOutcome counts one webhook delivery attempt.
func (m *Metrics) WebhookOutcome(endpoint, outcome string) {
	m.webhooks.WithLabelValues(endpoint, outcome).Inc()
}
