//! DEV ONLY `GET /dev/pushes`: what the recording pusher sent. Registered only when
//! `auth.mode = "dev"` (404 otherwise), like the other dev endpoints.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{get, web};
use metmos_engine::domain::notifications::NotificationType;
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_pushes);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PushQuery {
    /// Only the pushes to this person.
    person_uuid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushView {
    pub notification_type: NotificationType,
    pub person_uuid: Uuid,
    pub device_uuid: Uuid,
    pub title: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PushesPage {
    pub pushes: Vec<PushView>,
}

/// DEV ONLY: the pushes the recording pusher sent, oldest first.
#[utoipa::path(
    tag = "dev",
    security(("bearer" = []), ("gateway" = [])),
    params(PushQuery),
    responses(
        (status = 200, body = PushesPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not in dev mode, or pushes are not recorded", body = ErrorBody)
    )
)]
#[get("/dev/pushes")]
async fn list_pushes(
    state: web::Data<AppState>,
    _: AuthCaller,
    query: web::Query<PushQuery>,
) -> ApiResult<web::Json<PushesPage>> {
    let person = query
        .person_uuid
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|raw| parse_uuid("personUuid", raw))
        .transpose()?;
    let log = state
        .engine
        .push_log
        .as_ref()
        .ok_or_else(|| ApiError(Error::not_found("Pushes are not recorded by this pusher")))?;
    let pushes = log
        .recorded(person)
        .into_iter()
        .map(|p| PushView {
            notification_type: p.notification_type,
            person_uuid: p.person_uuid,
            device_uuid: p.device_uuid,
            title: p.title,
            body: p.body,
            data: p.data,
            sent_at: p.sent_at,
        })
        .collect();
    Ok(web::Json(PushesPage { pushes }))
}
