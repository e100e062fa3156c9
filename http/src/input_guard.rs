//! Control characters never reach a handler: every query parameter and every string of a
//! JSON body is checked against the domain's one text rule (`domain::text`) before the
//! route runs, so a NUL in any field, present or future, is a 400 on both stores instead
//! of whatever each store makes of it (PostgreSQL: a 500).

use crate::error::{ApiError, envelope};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use futures_util::StreamExt;
use metmos_engine::domain::text;
use metmos_engine::error::Error;

/// The largest body read here; the app's `http.max_body_bytes` (set by `startup`).
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

fn refuse(req: ServiceRequest, message: String) -> ServiceResponse<BoxBody> {
    tracing::info!(%message, "input refused: control character");
    req.into_response(ApiError(Error::validation(message)).error_response())
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(message) = text::check_query(req.query_string()) {
        return Ok(refuse(req, message));
    }
    let json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if json {
        let limit = req
            .app_data::<web::Data<BodyLimit>>()
            .map_or(usize::MAX, |l| l.0);
        let mut payload = req.take_payload();
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk: web::Bytes = chunk?;
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                let response = envelope(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    serde_json::json!(format!("Request body exceeds {limit} bytes")),
                );
                return Ok(req.into_response(response));
            }
        }
        // Malformed JSON is left to the route's extractor, which words that refusal.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
            && let Err(message) = text::check_json(&value)
        {
            return Ok(refuse(req, message));
        }
        req.set_payload(body.freeze().into());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
