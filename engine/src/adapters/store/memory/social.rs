use super::{MemoryStore, State};
use crate::adapters::store::msg;
use crate::domain::connections::{Connection, ConnectionEntry, ConnectionStatus, NewConnection};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::people::{PeopleQuery, Person, person_matches};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::SocialStore;
use async_trait::async_trait;
use uuid::Uuid;

impl State {
    /// Whether an ACCEPTED connection joins `a` and `b` (either direction).
    pub(crate) fn are_contacts(&self, a: i64, b: i64) -> bool {
        self.connections
            .values()
            .any(|c| c.status == ConnectionStatus::Accepted && c.joins(a, b))
    }

    fn person_uuid_of(&self, id: i64) -> StoreResult<Uuid> {
        self.persons
            .get(&id)
            .map(|p| p.uuid)
            .ok_or_else(|| StoreError::NotFound(msg::PERSON_NOT_FOUND.into()))
    }
}

#[async_trait]
impl SocialStore for MemoryStore {
    async fn insert_connection(
        &self,
        new: &NewConnection,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)> {
        let mut s = self.state.write();
        let person_uuid = s.person_uuid_of(new.person_id)?;
        let connection_person_uuid = s.person_uuid_of(new.connection_id)?;
        // The partial unique index of PostgreSQL (connection_live_pair_key), said here.
        if s.connections
            .values()
            .any(|c| c.status.is_live() && c.joins(new.person_id, new.connection_id))
        {
            return Err(StoreError::Conflict(msg::CONNECTION_EXISTS.into()));
        }
        let id = s.next_id("connection");
        let connection = Connection {
            id,
            uuid: new.uuid,
            person_id: new.person_id,
            person_uuid,
            connection_id: new.connection_id,
            connection_person_uuid,
            requested_at: new.at,
            status: ConnectionStatus::Pending,
            created_at: new.at,
            updated_at: new.at,
        };
        s.connections.insert(id, connection.clone());
        let stored = s.put_notifications(notifications);
        s.record(events);
        Ok((connection, stored))
    }

    async fn connection_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Connection>> {
        Ok(self
            .state
            .read()
            .connections
            .values()
            .find(|c| c.uuid == uuid)
            .cloned())
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
        let mut s = self.state.write();
        let updated = {
            let c = s
                .connections
                .get_mut(&id)
                .ok_or_else(|| StoreError::NotFound(msg::CONNECTION_NOT_FOUND.into()))?;
            if c.status != from {
                return Err(StoreError::Conflict(msg::CONNECTION_NOT_PENDING.into()));
            }
            c.status = to;
            c.updated_at = at;
            c.clone()
        };
        let stored = s.put_notifications(notifications);
        s.record(events);
        Ok((updated, stored))
    }

    async fn list_connections(
        &self,
        person_id: i64,
        status: Option<ConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ConnectionEntry>> {
        let s = self.state.read();
        let rows = s
            .connections
            .values()
            .rev()
            .filter(|c| c.involves(person_id))
            .filter(|c| page.after.is_none_or(|a| c.id < a))
            .filter(|c| status.is_none_or(|st| c.status == st))
            .filter_map(|c| {
                s.persons
                    .get(&c.other_id(person_id))
                    .map(|other| ConnectionEntry {
                        connection: c.clone(),
                        other: other.clone(),
                    })
            })
            .take(page.fetch())
            .collect();
        Ok(Page::from_rows(rows, page, |e| e.connection.id))
    }

    async fn list_contacts(
        &self,
        person_id: i64,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let s = self.state.read();
        let needle = query.needle();
        let rows: Vec<(i64, Person)> = s
            .connections
            .values()
            .rev()
            .filter(|c| c.status == ConnectionStatus::Accepted && c.involves(person_id))
            .filter(|c| page.after.is_none_or(|a| c.id < a))
            .filter_map(|c| s.persons.get(&c.other_id(person_id)).map(|p| (c.id, p)))
            .filter(|(_, p)| needle.as_deref().is_none_or(|n| person_matches(p, n)))
            .take(page.fetch())
            .map(|(id, p)| (id, p.clone()))
            .collect();
        Ok(Page::from_rows(rows, page, |(id, _)| *id).map(|(_, p)| p))
    }

    async fn delete_contact(
        &self,
        person_id: i64,
        other_id: i64,
        events: &[EventEnvelope],
    ) -> StoreResult<Connection> {
        let mut s = self.state.write();
        let id = s
            .connections
            .values()
            .find(|c| c.status == ConnectionStatus::Accepted && c.joins(person_id, other_id))
            .map(|c| c.id)
            .ok_or_else(|| StoreError::NotFound(msg::CONTACT_NOT_FOUND.into()))?;
        let removed = s
            .connections
            .remove(&id)
            .ok_or_else(|| StoreError::NotFound(msg::CONTACT_NOT_FOUND.into()))?;
        s.record(events);
        Ok(removed)
    }
}
