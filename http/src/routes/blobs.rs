//! `PUT`/`GET /blobs/{key}`: the embedded stand-in for S3's presigned URLs, served only
//! when the local blobs adapter runs (404 otherwise). The request carries no token: the
//! URL's HMAC signature is the authorization, good for one method on one key until it
//! expires; a PUT also only with the signed Content-Type and at most
//! `MAX_UPLOAD_BYTES`. Not in the OpenAPI document: it is not the app's API but the
//! object store's (the app gets these URLs from `/assets`).

use crate::error::{ApiError, ApiResult};
use crate::extract::state;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use metmos_engine::adapters::blobs::local::{LocalBlobs, MAX_UPLOAD_BYTES, SignedQuery};
use metmos_engine::domain::time;
use metmos_engine::error::Error;
use serde::Deserialize;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/blobs/{key:.*}")
            .route(web::put().to(upload))
            .route(web::get().to(download)),
    );
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedQueryDto {
    expires: Option<String>,
    content_type: Option<String>,
    signature: Option<String>,
}

fn local(req: &HttpRequest) -> ApiResult<Arc<LocalBlobs>> {
    state(req)?.engine.local_blobs.clone().ok_or_else(|| {
        ApiError(Error::not_found(
            "Blob storage is not served by this engine",
        ))
    })
}

/// The signature check; every refusal is the same 403 to the holder of the URL.
fn verify(req: &HttpRequest, blobs: &LocalBlobs, method: &str) -> ApiResult<String> {
    let key = req.match_info().query("key").to_string();
    let q = web::Query::<SignedQueryDto>::from_query(req.query_string())
        .map_err(|_| ApiError(Error::forbidden("Signed URL is malformed")))?
        .into_inner();
    let query = SignedQuery {
        expires: q.expires.as_deref().and_then(|e| e.parse().ok()),
        content_type: q.content_type,
        signature: q.signature,
    };
    let sent_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    blobs
        .verify(method, &key, &query, sent_type, time::now())
        .map_err(|refusal| ApiError(Error::forbidden(refusal.to_string())))?;
    Ok(key)
}

async fn upload(req: HttpRequest, mut body: web::Payload) -> ApiResult<HttpResponse> {
    let blobs = local(&req)?;
    let key = verify(&req, &blobs, "PUT")?;
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_UPLOAD_BYTES
    {
        return Ok(payload_too_large());
    }
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError(Error::validation(format!("upload: {e}"))))?;
        if bytes.len() + chunk.len() > MAX_UPLOAD_BYTES {
            return Ok(payload_too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    blobs
        .write(&key, &content_type, &bytes)
        .await
        .map_err(|e| ApiError(e.into()))?;
    Ok(HttpResponse::Ok().finish())
}

fn payload_too_large() -> HttpResponse {
    HttpResponse::PayloadTooLarge().json(serde_json::json!({
        "statusCode": 413,
        "message": format!("upload must be at most {MAX_UPLOAD_BYTES} bytes"),
        "error": "Payload Too Large",
    }))
}

async fn download(req: HttpRequest) -> ApiResult<HttpResponse> {
    let blobs = local(&req)?;
    let key = verify(&req, &blobs, "GET")?;
    match blobs.read(&key).await.map_err(|e| ApiError(e.into()))? {
        Some((bytes, content_type)) => {
            let mut res = HttpResponse::Ok().body(bytes);
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                res.headers_mut().insert(CONTENT_TYPE, v);
            }
            Ok(res)
        }
        None => Err(ApiError(Error::not_found("Object not found"))),
    }
}
