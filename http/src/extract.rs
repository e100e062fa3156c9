//! Extractors: who is calling, INTERNAL calls, and uuids in paths.

use crate::error::ApiError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use metmos_engine::auth::Credentials;
use metmos_engine::error::Error;
use metmos_engine::services::people::Caller;
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

pub const GATEWAY_USER_HEADER: &str = "x-cognito-user-id";
pub const INTERNAL_KEY_HEADER: &str = "x-internal-api-key";

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError(Error::Internal("app state missing".into())))
}

/// Verifies the request's credentials and resolves the subject to its account and person.
pub async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    authenticate_with(req, header(req, "authorization")).await
}

/// As [`authenticate`], with the token given by the caller (the WebSocket upgrade also
/// takes it from `?token=`, as browsers cannot set headers on one).
pub async fn authenticate_with(
    req: &HttpRequest,
    authorization: Option<&str>,
) -> Result<Caller, ApiError> {
    let state = state(req)?;
    let credentials = Credentials {
        authorization,
        gateway_user_id: header(req, GATEWAY_USER_HEADER),
    };
    let sub = state.engine.auth.verify(credentials).await?;
    let caller = state.engine.people.caller(&sub).await?;
    let span = tracing::Span::current();
    // Routed by now, so the pattern is a lookup (before routing it is a second match).
    if let Some(route) = req.match_pattern() {
        span.record("http.route", tracing::field::display(route));
    }
    span.record("account_id", tracing::field::display(caller.account.uuid));
    if let Some(p) = &caller.person {
        span.record("person_id", tracing::field::display(p.uuid));
    }
    Ok(caller)
}

/// The authenticated caller. Any handler that takes this answers 401 without a valid
/// token, before its body runs.
pub struct AuthCaller(pub Caller);

impl FromRequest for AuthCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(AuthCaller) })
    }
}

/// An INTERNAL call (the sign-up trigger): `x-internal-api-key` must match.
pub struct Internal;

impl FromRequest for Internal {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = state(req).and_then(|s| {
            s.engine
                .auth
                .check_internal_key(header(req, INTERNAL_KEY_HEADER))
                .map_err(ApiError::from)
                .map(|_| Internal)
        });
        std::future::ready(result)
    }
}

/// Parses a uuid path segment, naming the parameter in the 400 message.
pub fn parse_uuid(name: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError(Error::validation(format!("{name} must be a UUID"))))
}

/// An INTERNAL call made on behalf of a user (API Gateway's WebSocket routes):
/// `x-internal-api-key` must match, and `x-cognito-user-id` names the user.
pub struct InternalCaller(pub Caller);

impl FromRequest for InternalCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = state(&req)?;
            state
                .engine
                .auth
                .check_internal_key(header(&req, INTERNAL_KEY_HEADER))?;
            let sub = header(&req, GATEWAY_USER_HEADER)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ApiError(Error::unauthorized("Missing x-cognito-user-id")))?;
            Ok(InternalCaller(state.engine.people.caller(sub).await?))
        })
    }
}
