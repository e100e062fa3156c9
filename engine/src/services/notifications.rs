//! Notifications: listing a person's stored notifications, and handing new ones to the
//! realtime front for delivery.

use crate::domain::notifications::{
    Notification, NotificationCategory, NotificationFilter, NotificationType,
};
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::Result;
use crate::ports::{NotificationSink, Store, StoreOnly};
use crate::services::people::Caller;
use parking_lot::RwLock;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// The delivery target, swappable because the realtime front (actors) starts after the
/// engine. Cloned into every service that notifies.
#[derive(Clone)]
pub struct Deliverer(Arc<RwLock<Arc<dyn NotificationSink>>>);

impl Default for Deliverer {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(Arc::new(StoreOnly))))
    }
}

impl Deliverer {
    pub fn attach(&self, sink: Arc<dyn NotificationSink>) {
        *self.0.write() = sink;
    }

    /// Delivers notifications that were just committed.
    pub fn deliver(&self, notifications: &[Notification]) {
        let sink = self.0.read().clone();
        for n in notifications {
            sink.deliver(n);
        }
    }
}

/// A notification on the wire (`GET /notifications`; the WebSocket frame adds
/// `"type": "notification"`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub notification_type: NotificationType,
    pub notification_category: NotificationCategory,
    pub title: String,
    pub body: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        Self {
            uuid: n.uuid,
            person_uuid: n.person_uuid,
            notification_type: n.notification_type,
            notification_category: n.category(),
            title: n.title.clone(),
            body: n.body.clone(),
            data: n.data.clone(),
            created_at: n.created_at,
            updated_at: n.updated_at,
        }
    }
}

#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn Store>,
}

impl NotificationService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// `GET /notifications`: the caller's own, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        caller: &Caller,
        filter: NotificationFilter,
        page: PageRequest,
    ) -> Result<Page<Notification>> {
        let me = caller.person()?;
        Ok(self.store.list_notifications(me.id, &filter, &page).await?)
    }
}
