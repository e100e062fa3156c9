//! `GET /notifications`: the caller's stored trade and social notifications.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{get, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::notifications::{NotificationView, NotificationsPage};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct NotificationQuery {
    /// TRADE or SOCIAL.
    notification_category: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    updated_at_start: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    updated_at_end: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    tag = "notifications",
    security(("bearer" = []), ("gateway" = [])),
    params(NotificationQuery),
    responses((status = 200, body = NotificationsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/notifications")]
async fn list(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<NotificationQuery>,
) -> ApiResult<web::Json<NotificationsPage>> {
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .notifications
        .list(
            &caller,
            q.notification_category.as_deref(),
            q.updated_at_start.as_deref(),
            q.updated_at_end.as_deref(),
            page,
        )
        .await?;
    Ok(web::Json(NotificationsPage {
        notifications: page.items.iter().map(NotificationView::from).collect(),
        after: page.after,
    }))
}
