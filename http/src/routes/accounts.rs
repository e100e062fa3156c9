//! `/accounts`: the sign-up trigger's INTERNAL create, the caller's own account, and its
//! permanent deletion.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, Internal, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use metmos_engine::services::accounts::RemoveAccountDto;
use metmos_engine::services::people::{AccountView, CreateAccountDto};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_account)
        .service(my_account)
        .service(remove_account);
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

/// Permanently deletes the caller's account, their person and everything that is theirs
/// (connections, experiences, reactions, notifications, ...). Messages they sent stay in
/// the others' chats. The body must confirm with `Permanently delete my account`. The
/// token stops working at once.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "The caller's account uuid")),
    request_body = RemoveAccountDto,
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad uuid, or the confirmation phrase is not exact", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such account, or not the caller's", body = ErrorBody),
        (status = 409, description = "Refused while an order holds funds in escrow", body = ErrorBody)
    )
)]
#[delete("/accounts/{uuid}")]
async fn remove_account(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<RemoveAccountDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    state
        .engine
        .accounts
        .delete(&caller, uuid, body.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
