// Package metrics defines the Prometheus figures the gateway exports at /metrics. One
// Metrics value is created in main on its own registry (no global default registry) and
// handed to the components that count things.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors. A nil *Metrics is valid and counts nothing, so tests and
// tools can leave it out.
type Metrics struct {
	Registry      *prometheus.Registry
	Connections   *prometheus.GaugeVec   // open client connections by kind (widget, panel)
	MessagesIn    *prometheus.CounterVec // inbound messages stored, by channel
	MessagesOut   *prometheus.CounterVec // outbound messages stored, by channel and sender
	Deliveries    *prometheus.CounterVec // delivery attempts by channel and result
	CommitSeconds prometheus.Histogram   // group-commit latency
	CommitBatch   prometheus.Histogram   // writes per group commit
	TurnSeconds   prometheus.Histogram   // user message stored → bot reply stored
	Decisions     *prometheus.CounterVec // triage decisions by action
	HTTPRequests  *prometheus.CounterVec // by route pattern and status class
	Dropped       *prometheus.CounterVec // slow clients dropped, by kind
	QueueWaiting  *prometheus.GaugeVec   // conversations waiting for a person, by team
}

// New registers the gateway's collectors plus Go runtime and process (memory, CPU) figures.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "concierge_connections",
			Help: "Open client connections by kind."}, []string{"kind"}),
		MessagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_messages_in_total",
			Help: "Inbound messages stored, by channel."}, []string{"channel"}),
		MessagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_messages_out_total",
			Help: "Outbound messages stored, by channel and sender."}, []string{"channel", "sender"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_deliveries_total",
			Help: "Outbound delivery attempts by channel and result (sent, retry, failed)."}, []string{"channel", "result"}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "concierge_store_commit_seconds",
			Help: "Store group-commit latency.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "concierge_store_commit_writes",
			Help: "Writes grouped into one store commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		TurnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "concierge_bot_turn_seconds",
			Help: "Time from a stored user message to the stored bot reply.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_bot_decisions_total",
			Help: "Triage decisions by action."}, []string{"action"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_http_requests_total",
			Help: "HTTP requests by status class."}, []string{"code"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "concierge_slow_clients_dropped_total",
			Help: "Connections dropped because they did not keep up, by kind."}, []string{"kind"}),
		QueueWaiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "concierge_queue_waiting",
			Help: "Conversations waiting for a person, by team."}, []string{"team"}),
	}
	r.MustRegister(m.Connections, m.MessagesIn, m.MessagesOut, m.Deliveries, m.CommitSeconds, m.CommitBatch,
		m.TurnSeconds, m.Decisions, m.HTTPRequests, m.Dropped, m.QueueWaiting,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveCommit records one group commit (store.Options.Observe).
func (m *Metrics) ObserveCommit(d time.Duration, writes int) {
	if m == nil {
		return
	}
	m.CommitSeconds.Observe(d.Seconds())
	m.CommitBatch.Observe(float64(writes))
}

// In counts an inbound message.
func (m *Metrics) In(channel string) {
	if m != nil {
		m.MessagesIn.WithLabelValues(channel).Inc()
	}
}

// Out counts an outbound message.
func (m *Metrics) Out(channel, sender string) {
	if m != nil {
		m.MessagesOut.WithLabelValues(channel, sender).Inc()
	}
}

// Delivery counts a delivery attempt.
func (m *Metrics) Delivery(channel, result string) {
	if m != nil {
		m.Deliveries.WithLabelValues(channel, result).Inc()
	}
}

// Turn records a bot turn's latency and decision.
func (m *Metrics) Turn(d time.Duration, action string) {
	if m != nil {
		m.TurnSeconds.Observe(d.Seconds())
		m.Decisions.WithLabelValues(action).Inc()
	}
}

// Conn adds delta to the open connections of a kind.
func (m *Metrics) Conn(kind string, delta float64) {
	if m != nil {
		m.Connections.WithLabelValues(kind).Add(delta)
	}
}

// Drop counts a slow client dropped.
func (m *Metrics) Drop(kind string) {
	if m != nil {
		m.Dropped.WithLabelValues(kind).Inc()
	}
}
