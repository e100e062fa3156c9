//! Connections and contacts: asking to connect, answering (only the target may), the
//! caller's requests in both directions, and their contacts (ACCEPTED connections).
//! Every object is checked against the caller: a connection that does not involve them
//! is 404, one they may see but not answer is 403.

use crate::domain::connections::{
    Connection, ConnectionAction, ConnectionEntry, ConnectionStatus, NewConnection,
    RequestConnection, TransitionRefused,
};
use crate::domain::notifications::{NewNotification, NotificationType};
use crate::domain::people::{PeopleQuery, Person};
use crate::domain::refusal::Refusal;
use crate::domain::time;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::events::{ConnectionChanged, ContactRemoved, Event, EventEnvelope};
use crate::ports::Store;
use crate::services::notifications::Deliverer;
use crate::services::outbox::OutboxSignal;
use crate::services::people::{Caller, parse_search_text};
use std::sync::Arc;
use uuid::Uuid;

// The wire types (request body, views, pages) live in `metmos-http`'s
// `routes/connections.rs`.

// --- service ----------------------------------------------------------------------------

#[derive(Clone)]
pub struct ConnectionService {
    store: Arc<dyn Store>,
    outbox: OutboxSignal,
    deliverer: Deliverer,
    /// `social.rerequest_cooldown_days`.
    rerequest_cooldown_days: u32,
}

fn connection_event(c: &Connection) -> ConnectionChanged {
    ConnectionChanged {
        connection_uuid: c.uuid,
        person_uuid: c.person_uuid,
        connection_person_uuid: c.connection_person_uuid,
        status: c.status.as_str().into(),
    }
}

impl ConnectionService {
    pub fn new(
        store: Arc<dyn Store>,
        outbox: OutboxSignal,
        deliverer: Deliverer,
        rerequest_cooldown_days: u32,
    ) -> Self {
        Self {
            store,
            outbox,
            deliverer,
            rerequest_cooldown_days,
        }
    }

    /// `POST /connections`: a PENDING request from the caller to `personUuid`, and a
    /// CONNECTION_REQUEST notification for the target.
    #[tracing::instrument(skip_all, fields(target = %cmd.person_uuid))]
    pub async fn request(
        &self,
        caller: &Caller,
        cmd: RequestConnection,
    ) -> Result<ConnectionEntry> {
        let me = caller.person()?;
        let target_uuid = cmd.person_uuid;
        if target_uuid == me.uuid {
            return Err(Error::validation("You cannot connect with yourself"));
        }
        let target = self
            .store
            .person_by_uuid(target_uuid)
            .await?
            .ok_or(Error::Refused(Refusal::PersonNotFound))?;
        let at = time::now();
        let new = NewConnection {
            uuid: Uuid::new_v4(),
            person_id: me.id,
            connection_id: target.id,
            at,
            cooldown_days: self.rerequest_cooldown_days,
        };
        let notification = NewNotification::new(
            target.id,
            target.uuid,
            NotificationType::ConnectionRequest,
            "New connection request",
            format!("{} wants to connect", me.display_name()),
            &[("connectionUuid", new.uuid), ("personUuid", me.uuid)],
            at,
        );
        let event = Event::ConnectionRequested(ConnectionChanged {
            connection_uuid: new.uuid,
            person_uuid: me.uuid,
            connection_person_uuid: target.uuid,
            status: ConnectionStatus::Pending.as_str().into(),
        });
        let (connection, stored) = self
            .store
            .insert_connection(&new, &[notification], &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        self.deliverer.deliver(&stored);
        tracing::info!(connection = %connection.uuid, requester = %me.uuid, target = %target.uuid, "connection requested");
        Ok(ConnectionEntry {
            connection,
            other: target,
        })
    }

    /// `GET /connections`: requests the caller sent or received, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<ConnectionStatus>,
        page: PageRequest,
    ) -> Result<Page<ConnectionEntry>> {
        let me = caller.person()?;
        Ok(self.store.list_connections(me.id, status, &page).await?)
    }

    /// `PATCH /connections/{uuid}/accept`: the target accepts; the requester is told
    /// (CONNECTION_ACCEPTED) and the two are contacts from now on.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn accept(&self, caller: &Caller, uuid: Uuid) -> Result<ConnectionEntry> {
        self.answer(caller, uuid, ConnectionAction::Accept).await
    }

    /// `PATCH /connections/{uuid}/reject`: the target declines. The requester is not
    /// notified (a refusal is not news anyone asked to be pushed).
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn reject(&self, caller: &Caller, uuid: Uuid) -> Result<ConnectionEntry> {
        self.answer(caller, uuid, ConnectionAction::Reject).await
    }

    async fn answer(
        &self,
        caller: &Caller,
        uuid: Uuid,
        action: ConnectionAction,
    ) -> Result<ConnectionEntry> {
        let me = caller.person()?;
        let not_found = || Error::Refused(Refusal::ConnectionNotFound);
        let current = self
            .store
            .connection_by_uuid(uuid)
            .await?
            .ok_or_else(not_found)?;
        let role = current.role_of(me.id).ok_or_else(not_found)?;
        let next = current
            .status
            .transition(action, role)
            .map_err(|refused| match refused {
                TransitionRefused::NotTarget => Error::forbidden(
                    "Only the person who received a connection request can answer it",
                ),
                TransitionRefused::NotPending(_) => Error::Refused(Refusal::ConnectionNotPending),
            })?;
        let at = time::now();
        let mut after = current.clone();
        after.status = next;
        let (event, notifications) = match action {
            ConnectionAction::Accept => (
                Event::ConnectionAccepted(connection_event(&after)),
                vec![NewNotification::new(
                    current.person_id,
                    current.person_uuid,
                    NotificationType::ConnectionAccepted,
                    "Connection accepted",
                    format!("{} accepted your connection request", me.display_name()),
                    &[("connectionUuid", current.uuid), ("personUuid", me.uuid)],
                    at,
                )],
            ),
            ConnectionAction::Reject => {
                (Event::ConnectionRejected(connection_event(&after)), vec![])
            }
        };
        let (connection, stored) = self
            .store
            .update_connection_status(
                current.id,
                current.status,
                next,
                at,
                &notifications,
                &[EventEnvelope::new(event, at)],
            )
            .await?;
        self.outbox.nudge();
        self.deliverer.deliver(&stored);
        tracing::info!(connection = %connection.uuid, status = next.as_str(), by = %me.uuid, "connection answered");
        // Only the target answers, so the other side is the requester.
        let other = self
            .store
            .person_by_uuid(connection.person_uuid)
            .await?
            .ok_or_else(not_found)?;
        Ok(ConnectionEntry { connection, other })
    }

    /// `GET /connections/contacts`: the caller's contacts, most recent first, optionally
    /// searched (as `GET /people?q=`, within contacts only).
    #[tracing::instrument(skip_all)]
    pub async fn contacts(
        &self,
        caller: &Caller,
        q: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Person>> {
        let me = caller.person()?;
        let q = parse_search_text(q)?;
        Ok(self
            .store
            .list_contacts(me.id, &PeopleQuery { q }, &page)
            .await?)
    }

    /// `DELETE /connections/contacts/{personUuid}`: either side ends the contact. The
    /// ACCEPTED row goes, so a new request between them works again.
    #[tracing::instrument(skip_all, fields(person_uuid = %person_uuid))]
    pub async fn remove_contact(&self, caller: &Caller, person_uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let not_found = || Error::Refused(Refusal::ContactNotFound);
        let other = self
            .store
            .person_by_uuid(person_uuid)
            .await?
            .ok_or_else(not_found)?;
        if other.id == me.id {
            return Err(not_found());
        }
        let at = time::now();
        let event = Event::ContactRemoved(ContactRemoved {
            removed_by_person_uuid: me.uuid,
            contact_person_uuid: other.uuid,
        });
        let removed = self
            .store
            .delete_contact(me.id, other.id, &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        tracing::info!(connection = %removed.uuid, by = %me.uuid, contact = %other.uuid, "contact removed");
        Ok(())
    }
}
