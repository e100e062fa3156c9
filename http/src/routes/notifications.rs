//! `GET /notifications`: the caller's stored trade and social notifications.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{get, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::notifications::{NotificationCategory, NotificationFilter};
use metmos_engine::domain::time;
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::notifications::NotificationView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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

/// The filters, parsed; every problem at once.
impl TryFrom<&NotificationQuery> for NotificationFilter {
    type Error = Error;
    fn try_from(q: &NotificationQuery) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let filter = NotificationFilter {
            category: q
                .notification_category
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|c| problems.check(NotificationCategory::parse(c))),
            updated_at_start: q
                .updated_at_start
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|t| problems.check(time::parse("updatedAtStart", t))),
            updated_at_end: q
                .updated_at_end
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|t| problems.check(time::parse("updatedAtEnd", t))),
        };
        problems.finish_with(Some(filter))
    }
}

// `NotificationView` stays in the engine: the WebSocket frame (actors) uses it too.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationsPage {
    pub notifications: Vec<NotificationView>,
    pub after: Option<i64>,
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
        .list(&caller, NotificationFilter::try_from(&q)?, page)
        .await?;
    Ok(web::Json(NotificationsPage {
        notifications: page.items.iter().map(NotificationView::from).collect(),
        after: page.after,
    }))
}
