//! `POST /ethereum/alchemy-webhook`: Alchemy's notification of activity on the escrow
//! contract. Verified (HMAC-SHA256 of the raw body), deduplicated by event id, and taken
//! as a hint: the chain watcher is woken and confirms everything against the node, so the
//! payload's logs are never applied as such. Answers at once; Alchemy retries otherwise.

use crate::error::{ApiResult, ErrorBody, envelope};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use futures_util::StreamExt;
use metmos_engine::services::chain_webhook::WebhookOutcome;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Largest notification accepted (a block's worth of our contract's logs is far less).
const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(alchemy_webhook);
}

/// The acknowledgement Alchemy gets.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAck {
    pub received: bool,
    /// This event id was seen before: nothing was done.
    pub duplicate: bool,
}

/// Receives an Alchemy webhook notification about the escrow contract. Authenticated by
/// `x-alchemy-signature` (hex HMAC-SHA256 of the raw body with `chain.alchemy_signing_key`),
/// not by a bearer token.
#[utoipa::path(
    tag = "ethereum",
    security(("alchemy" = [])),
    request_body(content = Object, description = "Alchemy webhook notification (`id`, `webhookId`, `type`, `event`)"),
    responses(
        (status = 200, body = WebhookAck),
        (status = 400, body = ErrorBody, description = "signed, but not a webhook notification"),
        (status = 401, body = ErrorBody, description = "missing or invalid signature"),
        (status = 413, body = ErrorBody, description = "body over 256 KiB")
    )
)]
#[post("/ethereum/alchemy-webhook")]
async fn alchemy_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            metmos_engine::error::Error::Validation(vec![format!("body could not be read: {e}")])
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(envelope(
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!("webhook body is over 256 KiB"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let signature = req
        .headers()
        .get("x-alchemy-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state.engine.chain_webhook.receive(&body, signature).await?;
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        duplicate: outcome == WebhookOutcome::Duplicate,
    }))
}
