use super::{PgStore, Sql, map_err, record};
use crate::domain::notifications::{
    NewNotification, Notification, NotificationFilter, NotificationType,
};
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::NotificationStore;
use async_trait::async_trait;
use tokio_postgres::Row;

/// Stores notifications inside the caller's transaction (the change that caused them).
pub(crate) async fn insert_tx(
    tx: &deadpool_postgres::Transaction<'_>,
    list: &[NewNotification],
) -> StoreResult<Vec<Notification>> {
    let mut stored = Vec::with_capacity(list.len());
    if list.is_empty() {
        return Ok(stored);
    }
    let stmt = tx
        .statement(
            "INSERT INTO notification (uuid, person_id, notification_type, notification_category, title, body, data, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .await?;
    for n in list {
        let data = serde_json::Value::Object(n.data.clone());
        let row = tx
            .query_one(
                &stmt,
                &[
                    &n.uuid,
                    &n.person_id,
                    &n.notification_type.as_str(),
                    &n.notification_type.category().as_str(),
                    &n.title,
                    &n.body,
                    &data,
                    &n.at,
                ],
            )
            .await
            .map_err(map_err)?;
        stored.push(n.stored(row.get(0)));
    }
    Ok(stored)
}

const COLS: &str = "n.id, n.uuid, n.person_id, p.uuid, n.notification_type, n.title, n.body, n.data, n.created_at, n.updated_at";

fn from_row(r: &Row) -> StoreResult<Notification> {
    let kind: String = r.get(4);
    let data: serde_json::Value = r.get(7);
    Ok(Notification {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        notification_type: NotificationType::parse(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown notification type {kind}")))?,
        title: r.get(5),
        body: r.get(6),
        data: match data {
            serde_json::Value::Object(m) => m,
            _ => Default::default(),
        },
        created_at: r.get(8),
        updated_at: r.get(9),
    })
}

#[async_trait]
impl NotificationStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_notifications")]
    async fn insert_notifications(
        &self,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Vec<Notification>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let stored = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_notifications_once")]
    async fn insert_notifications_once(
        &self,
        consumer: &str,
        key: &str,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Option<Vec<Notification>>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The inbox row first: a concurrent redelivery waits on it and then finds it
        // taken, so only one of them writes the effect.
        let fresh = tx
            .exec(
                "INSERT INTO processed_event (consumer, event_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&consumer, &key],
            )
            .await?
            == 1;
        if !fresh {
            return Ok(None);
        }
        let stored = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some(stored))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_notifications")]
    async fn list_notifications(
        &self,
        person_id: i64,
        filter: &NotificationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>> {
        let category = filter.category.map(|c| c.as_str());
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {COLS} FROM notification n JOIN person p ON p.id = n.person_id \
                     WHERE n.person_id = $1 AND ($2::bigint IS NULL OR n.id < $2) \
                       AND ($3::text IS NULL OR n.notification_category = $3) \
                       AND ($4::timestamptz IS NULL OR n.updated_at >= $4) \
                       AND ($5::timestamptz IS NULL OR n.updated_at <= $5) \
                     ORDER BY n.id DESC LIMIT $6"
                ),
                &[
                    &person_id,
                    &page.after,
                    &category,
                    &filter.updated_at_start,
                    &filter.updated_at_end,
                    &(page.fetch() as i64),
                ],
                from_row,
            )
            .await?;
        Ok(Page::from_rows(items, page, |n| n.id))
    }
}
