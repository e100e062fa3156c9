//! `GET /health` (the NestJS terminus body) and `GET /metrics`.

use crate::error::ApiResult;
use crate::extract::state;
use actix_web::{HttpRequest, HttpResponse, get};
use serde_json::json;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health).service(metrics);
}

/// Health check used by the load balancer. The store down is 503; the broker down is
/// 200 with `bus` degraded under `info`, because the API keeps working and events wait
/// in the outbox.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "The Health Check is successful", body = Object,
         example = json!({"status": "ok", "info": {"database": {"status": "up"}, "bus": {"status": "up"}}, "error": {}, "details": {"database": {"status": "up"}, "bus": {"status": "up"}}})),
        (status = 503, description = "The Health Check is not successful", body = Object)
    )
)]
#[get("/health")]
async fn health(req: HttpRequest) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let engine = &state.engine;
    let database = match engine.store.ping().await {
        Ok(()) => json!({"status": "up"}),
        Err(e) => json!({"status": "down", "message": e.to_string()}),
    };
    // The broker down degrades the node, it does not fail it: reported under `info`
    // with the backlog waiting in the outbox.
    let bus = if engine.bus.healthy().await {
        json!({"status": "up"})
    } else {
        let backlog = engine.store.outbox_backlog().await.ok();
        json!({"status": "degraded", "message": "broker unreachable; events wait in the outbox", "outboxBacklog": backlog})
    };
    let db_up = database["status"] == "up";
    let mut info = serde_json::Map::new();
    let mut error = serde_json::Map::new();
    for (name, value) in [("database", &database), ("bus", &bus)] {
        if value["status"] != "down" {
            info.insert(name.into(), value.clone());
        } else {
            error.insert(name.into(), value.clone());
        }
    }
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

/// Prometheus metrics of this node (text exposition format).
#[utoipa::path(tag = "health", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
#[get("/metrics")]
async fn metrics(req: HttpRequest) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    state.metrics.sample_realtime(&state.realtime.stats);
    let body = state.metrics.render(&state.engine).await;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body))
}
