//! The one place where errors become HTTP responses, in the NestJS envelope the app
//! already parses: `{"statusCode": 404, "message": "Listing not found", "error": "Not Found"}`;
//! validation errors carry `message` as an array of strings.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use metmos_engine::error::Error;
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// The error body of every failed request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[schema(example = 404)]
    pub status_code: u16,
    /// A string, or for validation errors an array of strings (one per problem).
    #[schema(value_type = Object, example = "Listing not found")]
    pub message: serde_json::Value,
    #[schema(example = "Not Found")]
    pub error: String,
}

/// An engine error on its way out as HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<metmos_engine::error::StoreError> for ApiError {
    fn from(e: metmos_engine::error::StoreError) -> Self {
        ApiError(e.into())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = public_message(&self.0);
        let mut response = envelope(status, message);
        if let Error::RateLimited { retry_after_secs } = &self.0
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The status of an engine error: the one table, used by HTTP responses and by the
/// WebSocket's error frames alike.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Validation(_) => StatusCode::BAD_REQUEST,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What a client is told about an engine error (internals are logged, not shown).
pub fn public_message(e: &Error) -> serde_json::Value {
    match e {
        Error::Validation(messages) => serde_json::json!(messages),
        Error::Unauthorized(m) | Error::Forbidden(m) | Error::NotFound(m) | Error::Conflict(m) => {
            serde_json::json!(m)
        }
        Error::RateLimited { retry_after_secs } => serde_json::json!(format!(
            "Too many requests; retry after {retry_after_secs} seconds"
        )),
        Error::Unavailable(m) => {
            tracing::warn!(error = %m, "dependency unavailable");
            serde_json::json!("Service unavailable, try again shortly")
        }
        Error::Internal(m) => {
            tracing::error!(error = %m, "internal error");
            serde_json::json!("Internal server error")
        }
    }
}

/// Builds the envelope response for any status.
pub fn envelope(status: StatusCode, message: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        status_code: status.as_u16(),
        message,
        error: status.canonical_reason().unwrap_or("Error").to_string(),
    })
}

/// What NestJS answers for a route it does not have: `Cannot GET /nowhere` (wrong method
/// on a known path included, as Express does).
pub async fn route_not_found(req: HttpRequest) -> HttpResponse {
    envelope(
        StatusCode::NOT_FOUND,
        serde_json::json!(format!("Cannot {} {}", req.method(), req.path())),
    )
}

/// Error handlers for actix's extractors, so malformed input gets the envelope too.
pub mod extractors {
    use super::envelope;
    use actix_web::error::{InternalError, JsonPayloadError, PathError, QueryPayloadError};
    use actix_web::http::StatusCode;
    use actix_web::{HttpRequest, error};

    pub fn json(err: JsonPayloadError, _req: &HttpRequest) -> error::Error {
        let (status, message) = match &err {
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!(format!("Request body exceeds {limit} bytes")),
            ),
            JsonPayloadError::ContentType => (
                StatusCode::BAD_REQUEST,
                serde_json::json!(["Content-Type must be application/json"]),
            ),
            JsonPayloadError::Deserialize(e) if e.is_data() => (
                StatusCode::BAD_REQUEST,
                serde_json::json!([describe_serde(e)]),
            ),
            JsonPayloadError::Deserialize(e) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!(format!("Malformed JSON: {e}")),
            ),
            other => (
                StatusCode::BAD_REQUEST,
                serde_json::json!(format!("Invalid request body: {other}")),
            ),
        };
        InternalError::from_response(err, envelope(status, message)).into()
    }

    pub fn path(err: PathError, _req: &HttpRequest) -> error::Error {
        InternalError::from_response(
            err,
            envelope(
                StatusCode::BAD_REQUEST,
                serde_json::json!(["Validation failed (uuid is expected)"]),
            ),
        )
        .into()
    }

    pub fn query(err: QueryPayloadError, _req: &HttpRequest) -> error::Error {
        let message = format!("Invalid query: {err}");
        InternalError::from_response(
            err,
            envelope(StatusCode::BAD_REQUEST, serde_json::json!([message])),
        )
        .into()
    }

    /// serde's message, minus the position suffix that means nothing to a client
    /// ("... at line 1 column 15").
    fn describe_serde(e: &serde_json::Error) -> String {
        let full = e.to_string();
        match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        }
    }
}
