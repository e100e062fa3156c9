//! `/accounts`: the sign-up trigger's INTERNAL create, the caller's own account, and its
//! permanent deletion.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, Internal, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use metmos_engine::domain::people::{
    Account, AccountStatus, CreateAccount, Person, parse_cognito_user_id,
};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::accounts::RemoveAccountDto;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_account)
        .service(my_account)
        .service(remove_account);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccountDto {
    /// User ID from the Cognito user pool (the token's `sub`).
    pub cognito_user_id: String,
    #[schema(example = "PENDING")]
    pub account_status: Option<String>,
}

impl TryFrom<CreateAccountDto> for CreateAccount {
    type Error = Error;
    fn try_from(dto: CreateAccountDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let cognito_user_id = problems.check(parse_cognito_user_id(&dto.cognito_user_id));
        let account_status = match dto.account_status.as_deref() {
            None => Some(AccountStatus::Pending),
            Some(s) => problems.check(AccountStatus::parse(s)),
        };
        let cmd = cognito_user_id
            .zip(account_status)
            .map(|(cognito_user_id, account_status)| CreateAccount {
                cognito_user_id,
                account_status,
            });
        problems.finish_with(cmd)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub uuid: Uuid,
    pub cognito_user_id: String,
    pub account_status: AccountStatus,
    pub verification_status: Option<String>,
    /// The person of this account, once created.
    pub person_uuid: Option<Uuid>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl AccountView {
    pub fn new(a: &Account, person: Option<&Person>) -> Self {
        Self {
            uuid: a.uuid,
            cognito_user_id: a.cognito_user_id.clone(),
            account_status: a.account_status,
            verification_status: a.verification_status.clone(),
            person_uuid: person.map(|p| p.uuid),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
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
    state: web::Data<AppState>,
    _: Internal,
    body: web::Json<CreateAccountDto>,
) -> ApiResult<HttpResponse> {
    let cmd = CreateAccount::try_from(body.into_inner())?;
    let account = state.engine.people.create_account(cmd).await?;
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<RemoveAccountDto>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid("uuid", &path)?;
    state
        .engine
        .accounts
        .delete(&caller, uuid, body.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
