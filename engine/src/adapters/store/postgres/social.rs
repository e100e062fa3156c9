use super::people::{PERSON_COLS, PersonMatch, person_from};
use super::{PgStore, map_err, notifications, record};
use crate::adapters::store::msg;
use crate::domain::connections::{Connection, ConnectionEntry, ConnectionStatus, NewConnection};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::people::{PeopleQuery, Person};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::SocialStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// A connection with both persons' uuids; `FROM connection c JOIN person rp ON rp.id =
/// c.person_id JOIN person tp ON tp.id = c.connection_id`.
const CONNECTION_COLS: &str = "c.id, c.uuid, c.person_id, rp.uuid, c.connection_id, tp.uuid, \
     c.requested_at, c.status, c.created_at, c.updated_at";
const CONNECTION_JOINS: &str =
    "connection c JOIN person rp ON rp.id = c.person_id JOIN person tp ON tp.id = c.connection_id";
/// How many columns `CONNECTION_COLS` has (the other person's columns follow).
const CONNECTION_WIDTH: usize = 10;

fn connection_from(r: &Row) -> StoreResult<Connection> {
    let status: String = r.get(7);
    Ok(Connection {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        connection_id: r.get(4),
        connection_person_uuid: r.get(5),
        requested_at: r.get(6),
        status: ConnectionStatus::parse(&status).map_err(StoreError::Internal)?,
        created_at: r.get(8),
        updated_at: r.get(9),
    })
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

async fn connection_by_id_tx(tx: &Tx<'_>, id: i64) -> StoreResult<Option<Connection>> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} WHERE c.id = $1"
        ))
        .await
        .map_err(map_err)?;
    tx.query_opt(&stmt, &[&id])
        .await
        .map_err(map_err)?
        .map(|r| connection_from(&r))
        .transpose()
}

#[async_trait]
impl SocialStore for PgStore {
    async fn insert_connection(
        &self,
        new: &NewConnection,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Both persons must still exist (an account deletion may have won the race);
        // FOR SHARE holds them until commit. Checked here so the answer is "Person not
        // found", as in memory, rather than a foreign-key refusal.
        let stmt = tx
            .prepare_cached("SELECT id FROM person WHERE id = ANY($1) FOR SHARE")
            .await
            .map_err(map_err)?;
        let ids = [new.person_id, new.connection_id];
        let found = tx.query(&stmt, &[&&ids[..]]).await.map_err(map_err)?;
        if found.len() != 2 {
            return Err(StoreError::NotFound(msg::PERSON_NOT_FOUND.into()));
        }
        // connection_live_pair_key refuses a second live connection (CONNECTION_EXISTS).
        let stmt = tx
            .prepare_cached(
                "INSERT INTO connection (uuid, person_id, connection_id, requested_at, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'PENDING', $4, $4) RETURNING id",
            )
            .await
            .map_err(map_err)?;
        let id: i64 = tx
            .query_one(
                &stmt,
                &[&new.uuid, &new.person_id, &new.connection_id, &new.at],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let connection = connection_by_id_tx(&tx, id)
            .await?
            .ok_or_else(|| StoreError::Internal("inserted connection not readable".into()))?;
        let stored = notifications::insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((connection, stored))
    }

    async fn connection_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Connection>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} WHERE c.uuid = $1"
            ))
            .await
            .map_err(map_err)?;
        client
            .query_opt(&stmt, &[&uuid])
            .await
            .map_err(map_err)?
            .map(|r| connection_from(&r))
            .transpose()
    }

    async fn update_connection_status(
        &self,
        id: i64,
        from: ConnectionStatus,
        to: ConnectionStatus,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Compare-and-set: only a row still in `from` moves, so of two concurrent
        // answers exactly one wins and the other gets 409.
        let stmt = tx
            .prepare_cached(
                "UPDATE connection SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
            )
            .await
            .map_err(map_err)?;
        let changed = tx
            .execute(&stmt, &[&id, &from.as_str(), &to.as_str(), &at])
            .await
            .map_err(map_err)?;
        let connection = connection_by_id_tx(&tx, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(msg::CONNECTION_NOT_FOUND.into()))?;
        if changed == 0 {
            return Err(StoreError::Conflict(msg::CONNECTION_NOT_PENDING.into()));
        }
        let stored = notifications::insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((connection, stored))
    }

    async fn list_connections(
        &self,
        person_id: i64,
        status: Option<ConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ConnectionEntry>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {CONNECTION_COLS}, {PERSON_COLS} FROM {CONNECTION_JOINS} \
                 JOIN person p ON p.id = CASE WHEN c.person_id = $1 THEN c.connection_id ELSE c.person_id END \
                 JOIN account a ON a.id = p.account_id \
                 WHERE (c.person_id = $1 OR c.connection_id = $1) \
                   AND ($2::text IS NULL OR c.status = $2) \
                   AND ($3::bigint IS NULL OR c.id < $3) \
                 ORDER BY c.id DESC LIMIT $4"
            ))
            .await
            .map_err(map_err)?;
        let status = status.map(|s| s.as_str());
        let rows = client
            .query(
                &stmt,
                &[&person_id, &status, &page.after, &(page.fetch() as i64)],
            )
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(ConnectionEntry {
                    connection: connection_from(r)?,
                    other: person_from(r, CONNECTION_WIDTH),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |e| e.connection.id))
    }

    async fn list_contacts(
        &self,
        person_id: i64,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let client = self.client().await?;
        let matching = PersonMatch::new(query);
        let stmt = client
            .prepare_cached(&format!(
                "SELECT c.id, {PERSON_COLS} FROM connection c \
                 JOIN person p ON p.id = CASE WHEN c.person_id = $1 THEN c.connection_id ELSE c.person_id END \
                 JOIN account a ON a.id = p.account_id \
                 WHERE c.status = 'ACCEPTED' AND (c.person_id = $1 OR c.connection_id = $1) \
                   AND ($2::bigint IS NULL OR c.id < $2) \
                   AND {} \
                 ORDER BY c.id DESC LIMIT $6",
                PersonMatch::clause(3)
            ))
            .await
            .map_err(map_err)?;
        let limit = page.fetch() as i64;
        let params: [&(dyn ToSql + Sync); 6] = [
            &person_id,
            &page.after,
            &matching.needle,
            &matching.pattern,
            &matching.phone,
            &limit,
        ];
        let rows = client.query(&stmt, &params).await.map_err(map_err)?;
        let items: Vec<(i64, Person)> =
            rows.iter().map(|r| (r.get(0), person_from(r, 1))).collect();
        Ok(Page::from_rows(items, page, |(id, _)| *id).map(|(_, p)| p))
    }

    async fn delete_contact(
        &self,
        person_id: i64,
        other_id: i64,
        events: &[EventEnvelope],
    ) -> StoreResult<Connection> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {CONNECTION_COLS} FROM {CONNECTION_JOINS} \
                 WHERE c.status = 'ACCEPTED' AND ((c.person_id = $1 AND c.connection_id = $2) \
                    OR (c.person_id = $2 AND c.connection_id = $1)) \
                 FOR UPDATE OF c"
            ))
            .await
            .map_err(map_err)?;
        let connection = match tx
            .query_opt(&stmt, &[&person_id, &other_id])
            .await
            .map_err(map_err)?
        {
            Some(r) => connection_from(&r)?,
            None => return Err(StoreError::NotFound(msg::CONTACT_NOT_FOUND.into())),
        };
        let stmt = tx
            .prepare_cached("DELETE FROM connection WHERE id = $1")
            .await
            .map_err(map_err)?;
        tx.execute(&stmt, &[&connection.id])
            .await
            .map_err(map_err)?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(connection)
    }
}
