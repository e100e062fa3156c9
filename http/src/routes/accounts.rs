//! `/accounts`: the sign-up trigger's INTERNAL create, and the caller's own account.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, Internal, state};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use metmos_engine::services::people::{AccountView, CreateAccountDto};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_account).service(my_account);
}

/// INTERNAL: creates an account for a Cognito user (called by the post sign-up trigger).
#[utoipa::path(
    tag = "accounts",
    security(("internal" = [])),
    request_body = CreateAccountDto,
    responses(
        (status = 201, body = AccountView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "An account for this Cognito user exists", body = ErrorBody)
    )
)]
#[post("/accounts")]
async fn create_account(
    req: HttpRequest,
    _: Internal,
    body: web::Json<CreateAccountDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let account = state
        .engine
        .people
        .create_account(body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(AccountView::new(&account, None)))
}

/// The caller's account.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = []), ("gateway" = [])),
    responses((status = 200, body = AccountView), (status = 401, body = ErrorBody))
)]
#[get("/accounts/me")]
async fn my_account(AuthCaller(caller): AuthCaller) -> ApiResult<web::Json<AccountView>> {
    Ok(web::Json(AccountView::new(
        &caller.account,
        caller.person.as_ref(),
    )))
}
