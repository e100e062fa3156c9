use super::{MemoryStore, State, page_newest_first};
use crate::domain::notifications::{NewNotification, Notification, NotificationFilter};
use crate::domain::{Page, PageRequest};
use crate::error::StoreResult;
use crate::events::EventEnvelope;
use crate::ports::NotificationStore;
use async_trait::async_trait;

impl State {
    /// Stores notifications as part of whatever change the caller is making.
    pub(crate) fn put_notifications(&mut self, list: &[NewNotification]) -> Vec<Notification> {
        list.iter()
            .map(|n| {
                let id = self.next_id("notification");
                let stored = n.stored(id);
                self.notifications.insert(id, stored.clone());
                stored
            })
            .collect()
    }
}

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn insert_notifications(
        &self,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Vec<Notification>> {
        let mut s = self.state.write();
        let stored = s.put_notifications(notifications);
        s.record(events);
        Ok(stored)
    }

    async fn insert_notifications_once(
        &self,
        consumer: &str,
        key: &str,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Option<Vec<Notification>>> {
        // One write lock: the inbox row and the effect are one change.
        let mut s = self.state.write();
        if !s.processed.insert((consumer.to_string(), key.to_string())) {
            return Ok(None);
        }
        let stored = s.put_notifications(notifications);
        s.record(events);
        Ok(Some(stored))
    }

    async fn list_notifications(
        &self,
        person_id: i64,
        filter: &NotificationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.notifications, page, |n| {
            (n.person_id == person_id && filter.matches(n)).then(|| n.clone())
        }))
    }
}
