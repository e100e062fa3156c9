use super::{MemoryStore, State, page_newest_first};
use crate::domain::assets::ParentType;
use crate::domain::connections::decide_request;
use crate::domain::connections::{Connection, ConnectionEntry, ConnectionStatus, NewConnection};
use crate::domain::experiences::{
    Experience, ExperienceFilter, NewExperience, NewReaction, Reaction, ReactionScope,
    ReactionType, Relation, Visibility,
};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::people::{PeopleQuery, Person, person_matches};
use crate::domain::refusal::Refusal;
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

    /// Who `viewer` is to `person`.
    fn relation(&self, viewer: i64, person: i64) -> Relation {
        if viewer == person {
            Relation::Owner
        } else if self.are_contacts(viewer, person) {
            Relation::Contact
        } else {
            Relation::Stranger
        }
    }

    /// Removes an experience and what hangs on it (its reactions and asset rows).
    pub(crate) fn remove_experience(&mut self, id: i64) -> Option<Experience> {
        let removed = self.experiences.remove(&id)?;
        self.reactions.retain(|_, r| r.experience_id != id);
        self.remove_parent_assets(ParentType::Experience, removed.uuid);
        Some(removed)
    }

    fn person_uuid_of(&self, id: i64) -> StoreResult<Uuid> {
        self.persons
            .get(&id)
            .map(|p| p.uuid)
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))
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
        let live_pair = s
            .connections
            .values()
            .any(|c| c.status.is_live() && c.joins(new.person_id, new.connection_id));
        let last_rejected_at = s
            .connections
            .values()
            .filter(|c| {
                c.status == ConnectionStatus::Rejected
                    && c.person_id == new.person_id
                    && c.connection_id == new.connection_id
            })
            .map(|c| c.updated_at)
            .max();
        decide_request(live_pair, last_rejected_at, new.at, new.cooldown_days)?;
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
                .ok_or(StoreError::Refused(Refusal::ConnectionNotFound))?;
            if c.status != from {
                return Err(StoreError::Refused(Refusal::ConnectionNotPending));
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
        Ok(page_newest_first(&s.connections, page, |c| {
            if !c.involves(person_id) || status.is_some_and(|st| c.status != st) {
                return None;
            }
            s.persons
                .get(&c.other_id(person_id))
                .map(|other| ConnectionEntry {
                    connection: c.clone(),
                    other: other.clone(),
                })
        }))
    }

    async fn list_contacts(
        &self,
        person_id: i64,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>> {
        let s = self.state.read();
        let needle = query.needle();
        Ok(page_newest_first(&s.connections, page, |c| {
            if c.status != ConnectionStatus::Accepted || !c.involves(person_id) {
                return None;
            }
            s.persons
                .get(&c.other_id(person_id))
                .filter(|p| needle.as_deref().is_none_or(|n| person_matches(p, n)))
                .cloned()
        }))
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
            .ok_or(StoreError::Refused(Refusal::ContactNotFound))?;
        let removed = s
            .connections
            .remove(&id)
            .ok_or(StoreError::Refused(Refusal::ContactNotFound))?;
        s.record(events);
        Ok(removed)
    }

    async fn insert_experience(
        &self,
        new: &NewExperience,
        events: &[EventEnvelope],
    ) -> StoreResult<Experience> {
        let mut s = self.state.write();
        let person_uuid = s.person_uuid_of(new.person_id)?;
        let id = s.next_id("experience");
        let experience = Experience {
            id,
            uuid: new.uuid,
            person_id: new.person_id,
            person_uuid,
            content: new.content.clone(),
            visibility: new.visibility,
            created_at: new.at,
            updated_at: new.at,
        };
        s.experiences.insert(id, experience.clone());
        s.record(events);
        Ok(experience)
    }

    async fn experience_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Experience>> {
        Ok(self
            .state
            .read()
            .experiences
            .values()
            .find(|e| e.uuid == uuid)
            .cloned())
    }

    async fn list_experiences(
        &self,
        viewer_id: i64,
        filter: &ExperienceFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experience>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.experiences, page, |e| {
            // Cheap test first: a PUBLIC one needs no contact lookup.
            let visible = e.visibility == Visibility::Public
                || e.visibility.visible_to(s.relation(viewer_id, e.person_id));
            (filter.matches(e) && visible).then(|| e.clone())
        }))
    }

    async fn delete_experience(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        s.remove_experience(id)
            .ok_or(StoreError::Refused(Refusal::ExperienceNotFound))?;
        s.record(events);
        Ok(())
    }

    async fn insert_reaction(
        &self,
        new: &NewReaction,
        events: &[EventEnvelope],
    ) -> StoreResult<(Reaction, bool)> {
        let mut s = self.state.write();
        let experience_uuid = s
            .experiences
            .get(&new.experience_id)
            .map(|e| e.uuid)
            .ok_or(StoreError::Refused(Refusal::ExperienceNotFound))?;
        let person_uuid = s.person_uuid_of(new.person_id)?;
        // experience_reaction_one_like_key: a second like answers the first.
        if new.reaction_type == ReactionType::Like
            && let Some(existing) = s.reactions.values().find(|r| {
                r.reaction_type == ReactionType::Like
                    && r.person_id == new.person_id
                    && r.experience_id == new.experience_id
            })
        {
            return Ok((existing.clone(), false));
        }
        let id = s.next_id("experience_reaction");
        let reaction = Reaction {
            id,
            uuid: new.uuid,
            person_id: new.person_id,
            person_uuid,
            experience_id: new.experience_id,
            experience_uuid,
            reaction_type: new.reaction_type,
            content: new.content.clone(),
            created_at: new.at,
            updated_at: new.at,
        };
        s.reactions.insert(id, reaction.clone());
        s.record(events);
        Ok((reaction, true))
    }

    async fn reaction_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Reaction>> {
        Ok(self
            .state
            .read()
            .reactions
            .values()
            .find(|r| r.uuid == uuid)
            .cloned())
    }

    async fn list_reactions(
        &self,
        experience_id: i64,
        viewer_id: i64,
        scope: ReactionScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Reaction>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.reactions, page, |r| {
            (r.experience_id == experience_id && scope.shows(s.relation(viewer_id, r.person_id)))
                .then(|| r.clone())
        }))
    }

    async fn delete_reaction(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        s.reactions
            .remove(&id)
            .ok_or(StoreError::Refused(Refusal::ReactionNotFound))?;
        s.record(events);
        Ok(())
    }
}
