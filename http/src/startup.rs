//! Builds and runs the HTTP server; the same code serves `metmos` and every test.

use crate::error::{extractors, route_not_found};
use crate::input_guard::{self, BodyLimit};
use crate::metrics::Metrics;
use crate::rate_limit::{self, RateLimits};
use crate::state::AppState;
use crate::telemetry::MetmosRootSpan;
use crate::{openapi, routes};
use actix_web::dev::{Server, Service};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpMessage, HttpServer, web};
use futures_util::FutureExt;
use metmos_engine::Engine;
use metmos_engine::config::AuthMode;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` alone on `metrics.bind`, when set.
    metrics_server: Option<(u16, Server)>,
    engine: Arc<Engine>,
    orders: metmos_actors::order_supervisor::Orders,
}

impl Application {
    /// Binds `http.host:http.port` (port 0 picks a free one), starts the realtime actors
    /// and, once this node's bus queue is consumed (at most `node.queue_wait_secs`),
    /// the server. Connections made meanwhile wait in the listen backlog.
    pub async fn build(engine: Arc<Engine>) -> std::io::Result<Self> {
        let http = &engine.settings.http;
        let listener =
            crate::conn::bind(&http.host, http.port, engine.settings.ws.send_buffer_bytes)?;
        let port = listener.local_addr()?.port();
        // Local blob URLs point at this server: with port 0 only now is the port known.
        if let (Some(local), None) = (&engine.local_blobs, &http.public_url) {
            local.set_base_url(&format!("http://{}:{port}", http.host));
        }
        let state = web::Data::new(AppState {
            engine: engine.clone(),
            metrics: Arc::new(Metrics::new()),
            realtime: metmos_actors::Realtime::start(engine.clone()),
            orders: metmos_actors::order_supervisor::Orders::start(engine.clone()),
        });
        let orders = state.orders.clone();
        let queue_wait = Duration::from_secs(engine.settings.node.queue_wait_secs);
        if !state.realtime.node_queue_consumed(queue_wait).await {
            tracing::warn!(
                waited_secs = queue_wait.as_secs(),
                "serving before this node's bus queue is consumed: frames other nodes send to persons connected here are pushed until it is"
            );
        }
        let max_body = http.max_body_bytes;
        let dev_mode = engine.auth.mode() == AuthMode::Dev;
        let limits = web::Data::new(RateLimits::new(&engine.settings.rate_limits));
        let limits_on = engine.settings.rate_limits.enabled;
        let body_limit = web::Data::new(BodyLimit(max_body));
        let socket_counts = web::Data::new(crate::ws::SocketCounts::default());
        let metrics_server = match &engine.settings.metrics.bind {
            Some(bind) => {
                let listener = TcpListener::bind(bind.as_str())?;
                let port = listener.local_addr()?.port();
                let state = state.clone();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .app_data(routes::health::MetricsListener)
                        .route("/metrics", web::get().to(routes::health::render_metrics))
                        .default_service(web::to(route_not_found))
                })
                .workers(1)
                .shutdown_timeout(1)
                .listen(listener)?
                .run();
                tracing::info!(%bind, "metrics served on their own address");
                Some((port, server))
            }
            None => None,
        };
        let mut server = HttpServer::new(move || {
            // Runs on each worker's thread, once, before it serves.
            state.engine.store.attach_worker_thread();
            let (app, document) = App::new()
                .into_utoipa_app()
                .openapi(openapi::ApiDoc::openapi())
                .configure(|cfg| routes::configure(cfg, dev_mode))
                .split_for_parts();
            let metrics = state.metrics.clone();
            app.app_data(state.clone())
                .app_data(limits.clone())
                .app_data(body_limit.clone())
                .app_data(socket_counts.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(max_body)
                        .error_handler(extractors::json),
                )
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::PathConfig::default().error_handler(extractors::path))
                .app_data(web::QueryConfig::default().error_handler(extractors::query))
                .configure(|cfg| openapi::routes(cfg, document))
                .configure(routes::blobs::routes)
                .default_service(web::to(route_not_found))
                // Inner to outer: the text guard, the rate limits (cheapest refusal
                // first), then metrics and the request span, which see every answer.
                .wrap(from_fn(input_guard::guard))
                .wrap(Condition::new(limits_on, from_fn(rate_limit::limit)))
                .wrap_fn(move |req, srv| {
                    // Per request: the request id as a response header, and the metrics
                    // sample by route pattern (not raw path, which would explode labels).
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
                    let metrics = metrics.clone();
                    srv.call(req).map(move |res| {
                        if let Ok(res) = &res {
                            // Asked after routing, when it is a lookup rather than a match.
                            let route = res
                                .request()
                                .match_pattern()
                                .unwrap_or_else(|| "unmatched".into());
                            metrics.observe(
                                &method,
                                &route,
                                res.status().as_u16(),
                                started.elapsed().as_secs_f64(),
                            );
                        }
                        res.map(|mut res| {
                            if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
                                res.headers_mut().insert(
                                    actix_web::http::header::HeaderName::from_static(
                                        "x-request-id",
                                    ),
                                    id,
                                );
                            }
                            res
                        })
                    })
                })
                .wrap(TracingLogger::<MetmosRootSpan>::new())
                // Outermost: the whole middleware chain's future goes on the heap. Each
                // connection's dispatcher keeps room for this future inline for as long as
                // it lives (≈4 KB for this stack), so every open WebSocket paid for it;
                // boxed, it costs one allocation per request, freed once answered.
                .wrap_fn(|req, srv| srv.call(req).boxed_local())
        })
        .shutdown_timeout(http.shutdown_timeout_secs)
        // Without it (actix leaves the OS default, Nagle on), a second small frame to a
        // socket waits for the client's delayed ACK: under load every WebSocket frame
        // paid up to one client send interval of latency.
        .tcp_nodelay(true)
        .on_connect(crate::conn::on_connect)
        .listen(listener)?;
        if http.workers > 0 {
            server = server.workers(http.workers);
        }
        let server = server.run();
        Ok(Self {
            port,
            server,
            metrics_server,
            engine,
            orders,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The order supervisor this app runs (tests drive and inspect it).
    pub fn orders(&self) -> &metmos_actors::order_supervisor::Orders {
        &self.orders
    }

    /// The port of the separate `/metrics` listener (`metrics.bind`), if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// A handle that stops the server gracefully (tests use it; `metmos` relies on the
    /// SIGINT/SIGTERM handling actix installs).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until a signal (or the handle) stops the server: in-flight requests finish
    /// within `http.shutdown_timeout_secs`, then background tasks stop and the relay
    /// publishes what is left.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let result = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        tracing::info!("HTTP server stopped; stopping background tasks");
        self.engine.shutdown();
        // The relay's last drain, the lease's release and pushes in flight end before
        // the pools go away with the process.
        let within = Duration::from_secs(self.engine.settings.http.shutdown_timeout_secs.max(1));
        if self.engine.stopped(within).await {
            tracing::info!("background tasks stopped");
        }
        result
    }
}
