//! `/metrics` in the Prometheus text format: requests by route and status with latency
//! histograms, open WebSocket connections, pool usage, the outbox backlog and its age,
//! inbound messages consumed and dead-lettered, and frames to and from other nodes.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_latency: HistogramVec,
    pub ws_connections: IntGauge,
    realtime_sessions: IntGauge,
    chat_rooms: IntGauge,
    db_pool_size: IntGauge,
    db_pool_available: IntGauge,
    db_pool_max: IntGauge,
    outbox_backlog: IntGauge,
    outbox_published: IntGauge,
    outbox_failures: IntGauge,
    outbox_relay_holder: IntGauge,
    outbox_oldest_age: IntGauge,
    inbound_consumed: IntGauge,
    inbound_dead_lettered: IntGauge,
    inbound_retried: IntGauge,
    cluster_frames_sent: IntGauge,
    cluster_frames_received: IntGauge,
    cluster_sends_failed: IntGauge,
}

impl Metrics {
    /// All metric names are constants and valid, so registration cannot fail.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("metmos".into()), None).expect("static prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("static metric");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("static metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("static metric");
        let m = Self {
            ws_connections: gauge(
                "ws_connections_open",
                "Open WebSocket connections on this node",
            ),
            realtime_sessions: gauge(
                "realtime_sessions_online",
                "Persons online on this node (UserSession actors)",
            ),
            chat_rooms: gauge("chat_rooms_active", "Running ChatRoom actors on this node"),
            db_pool_size: gauge("db_pool_connections", "Database connections in the pool"),
            db_pool_available: gauge("db_pool_available", "Idle database connections in the pool"),
            db_pool_max: gauge("db_pool_max", "Maximum database connections"),
            outbox_backlog: gauge("outbox_backlog", "Events committed but not yet published"),
            outbox_published: gauge("outbox_published_total", "Events published by this node"),
            outbox_failures: gauge(
                "outbox_publish_failures_total",
                "Failed publish rounds on this node",
            ),
            outbox_relay_holder: gauge(
                "outbox_relay_holder",
                "1 while this node's relay holds the outbox lease (one node publishes at a time)",
            ),
            outbox_oldest_age: gauge(
                "outbox_oldest_unpublished_age_seconds",
                "Age of the oldest event not yet published (0 when none waits)",
            ),
            inbound_consumed: gauge(
                "inbound_consumed_total",
                "Inbound messages applied and acked by this node",
            ),
            inbound_dead_lettered: gauge(
                "inbound_dead_lettered_total",
                "Inbound messages this node dead-lettered (malformed or refused)",
            ),
            inbound_retried: gauge(
                "inbound_retried_total",
                "Inbound messages requeued after a passing failure",
            ),
            cluster_frames_sent: gauge(
                "cluster_frames_sent_total",
                "Frames sent to other nodes through metmos.nodes",
            ),
            cluster_frames_received: gauge(
                "cluster_frames_received_total",
                "Frames received from other nodes",
            ),
            cluster_sends_failed: gauge(
                "cluster_sends_failed_total",
                "Node messages not delivered (node gone or broker down; pushed instead)",
            ),
            http_requests,
            http_latency,
            registry,
        };
        for c in [
            Box::new(m.http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.http_latency.clone()),
            Box::new(m.ws_connections.clone()),
            Box::new(m.realtime_sessions.clone()),
            Box::new(m.chat_rooms.clone()),
            Box::new(m.db_pool_size.clone()),
            Box::new(m.db_pool_available.clone()),
            Box::new(m.db_pool_max.clone()),
            Box::new(m.outbox_backlog.clone()),
            Box::new(m.outbox_published.clone()),
            Box::new(m.outbox_failures.clone()),
            Box::new(m.outbox_relay_holder.clone()),
            Box::new(m.outbox_oldest_age.clone()),
            Box::new(m.inbound_consumed.clone()),
            Box::new(m.inbound_dead_lettered.clone()),
            Box::new(m.inbound_retried.clone()),
            Box::new(m.cluster_frames_sent.clone()),
            Box::new(m.cluster_frames_received.clone()),
            Box::new(m.cluster_sends_failed.clone()),
        ] {
            m.registry.register(c).expect("unique metric names");
        }
        m
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.http_latency
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// Samples the realtime actors' figures (call before `render`).
    pub fn sample_realtime(&self, stats: &metmos_actors::RealtimeStats) {
        self.realtime_sessions.set(stats.sessions() as i64);
        self.chat_rooms.set(stats.rooms() as i64);
        let c = &stats.cluster;
        use std::sync::atomic::Ordering::Relaxed;
        self.cluster_frames_sent
            .set(c.frames_sent.load(Relaxed) as i64);
        self.cluster_frames_received
            .set(c.frames_received.load(Relaxed) as i64);
        self.cluster_sends_failed
            .set(c.sends_failed.load(Relaxed) as i64);
    }

    /// Samples the gauges read from elsewhere, then renders the text format.
    pub async fn render(&self, engine: &metmos_engine::Engine) -> String {
        use std::sync::atomic::Ordering;
        let pool = engine.store.pool_status();
        self.db_pool_size.set(pool.size as i64);
        self.db_pool_available.set(pool.available as i64);
        self.db_pool_max.set(pool.max_size as i64);
        if let Ok(n) = engine.store.outbox_backlog().await {
            self.outbox_backlog.set(n);
        }
        self.outbox_published
            .set(engine.relay_stats.published.load(Ordering::Relaxed) as i64);
        self.outbox_failures
            .set(engine.relay_stats.failures.load(Ordering::Relaxed) as i64);
        self.outbox_relay_holder
            .set(engine.relay_stats.holds_lease.load(Ordering::Relaxed) as i64);
        if let Ok(oldest) = engine.store.outbox_oldest_pending().await {
            let age = oldest.map_or(0, |at| {
                (metmos_engine::domain::time::now() - at)
                    .num_seconds()
                    .max(0)
            });
            self.outbox_oldest_age.set(age);
        }
        let inbound = &engine.inbound.stats;
        self.inbound_consumed
            .set(inbound.consumed.load(Ordering::Relaxed) as i64);
        self.inbound_dead_lettered
            .set(inbound.dead_lettered.load(Ordering::Relaxed) as i64);
        self.inbound_retried
            .set(inbound.retried.load(Ordering::Relaxed) as i64);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
