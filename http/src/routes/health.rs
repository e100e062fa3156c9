//! `GET /health` (the NestJS terminus body) and `GET /metrics`.

use crate::error::{ApiError, ApiResult, ErrorBody, route_not_found};
use crate::extract::state;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use metmos_engine::error::Error;
use secrecy::ExposeSecret;
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health).service(metrics);
}

/// Health check used by the load balancer. The store down is 503; the broker down is
/// 200 with `bus` down under `info` (the node is degraded, not failed), because the
/// API keeps working and events wait in the outbox.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "The Health Check is successful", body = Object,
         example = json!({"status": "ok", "info": {"database": {"status": "up"}, "bus": {"status": "up"}}, "error": {}, "details": {"database": {"status": "up"}, "bus": {"status": "up"}}})),
        (status = 503, description = "The Health Check is not successful", body = Object)
    )
)]
#[get("/health")]
async fn health(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let engine = &state.engine;
    // The cause goes to the log, never to the body: raw driver and broker errors name
    // hosts, users and versions that an unauthenticated caller has no business seeing.
    let database = match engine.store.ping().await {
        Ok(()) => json!({"status": "up"}),
        Err(e) => {
            tracing::warn!(error = %e, "health: database down");
            json!({"status": "down"})
        }
    };
    let bus = if engine.bus.healthy().await {
        json!({"status": "up"})
    } else {
        tracing::warn!("health: message broker down");
        json!({"status": "down"})
    };
    let db_up = database["status"] == "up";
    let mut info = serde_json::Map::new();
    let mut error = serde_json::Map::new();
    if db_up {
        info.insert("database".into(), database.clone());
    } else {
        error.insert("database".into(), database.clone());
    }
    // The broker down does not make the node unhealthy (events wait in the outbox), so
    // it stays under `info` with its status, as API.md says.
    info.insert("bus".into(), bus.clone());
    let body = json!({
        "status": if db_up { "ok" } else { "error" },
        "info": info,
        "error": error,
        "details": {"database": database, "bus": bus},
    });
    Ok(if db_up {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    })
}

/// Prometheus metrics of this node (text exposition format). With `metrics.token` set,
/// only with `Authorization: Bearer <token>`; with `metrics.bind` set, only there.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    (status = 401, description = "metrics.token is set and the bearer token is not it", body = ErrorBody)
))]
#[get("/metrics")]
async fn metrics(req: HttpRequest) -> ApiResult<HttpResponse> {
    render_metrics(req).await
}

/// Marks the app of the separate `metrics.bind` listener.
#[derive(Clone, Copy)]
pub struct MetricsListener;

/// `/metrics` on either listener.
pub async fn render_metrics(req: HttpRequest) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let settings = &state.engine.settings.metrics;
    if settings.bind.is_some() && req.app_data::<MetricsListener>().is_none() {
        // Served on its own address only: here it does not exist.
        return Ok(route_not_found(req).await);
    }
    if let Some(token) = &settings.token {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_bytes(given.as_bytes(), token.expose_secret().as_bytes()) {
            return Err(ApiError(Error::unauthorized("Invalid metrics token")));
        }
    }
    state.metrics.sample_realtime(&state.realtime.stats);
    let body = state.metrics.render(&state.engine).await;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body))
}

/// Equality in time independent of where the inputs differ (a token compared with `==`
/// leaks its prefix through timing).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
