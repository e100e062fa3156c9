//! Dev-mode endpoints: make a user and get a token. Registered only when
//! `auth.mode = "dev"`; in other modes they do not exist (404, and absent from the docs).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::state;
use actix_web::{HttpRequest, HttpResponse, post, web};
use metmos_engine::services::people::PersonDetails;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_dev_user);
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevUser {
    pub account_uuid: Uuid,
    pub person_uuid: Uuid,
    pub cognito_user_id: String,
    /// An HS256 access token for `Authorization`.
    pub access_token: String,
}

/// DEV ONLY: creates an ACTIVE account and its person, and answers with an access token.
#[utoipa::path(
    tag = "dev",
    request_body = PersonDetails,
    responses(
        (status = 201, body = DevUser),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in dev mode", body = ErrorBody),
        (status = 409, body = ErrorBody)
    )
)]
#[post("/dev/users")]
async fn create_dev_user(
    req: HttpRequest,
    body: web::Json<PersonDetails>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let (account, person) = state
        .engine
        .people
        .create_dev_user(body.into_inner())
        .await?;
    let access_token = state.engine.auth.mint_dev_token(&account.cognito_user_id)?;
    Ok(HttpResponse::Created().json(DevUser {
        account_uuid: account.uuid,
        person_uuid: person.uuid,
        cognito_user_id: account.cognito_user_id,
        access_token,
    }))
}
