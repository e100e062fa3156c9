//! Experiences and reactions. Every request is checked against the caller: an
//! experience they may not see is 404 (for its reactions too); one they may see but not
//! change is 403. Which experiences and reactions they see is `domain::experiences`.

use crate::domain::assets::ParentType;
use crate::domain::experiences::{
    Experience, ExperienceFilter, NewExperience, NewReaction, PostExperience, React, Reaction,
    ReactionScope, Relation,
};
use crate::domain::people::Person;
use crate::domain::refusal::Refusal;
use crate::domain::time;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::events::{Event, EventEnvelope, ExperienceChanged, ReactionChanged};
use crate::ports::Store;
use crate::services::assets::AssetService;
use crate::services::outbox::OutboxSignal;
use crate::services::people::Caller;
use std::sync::Arc;
use uuid::Uuid;

// The wire types (bodies, query, views, pages) live in `metmos-http`'s
// `routes/experiences.rs`.

// --- service ----------------------------------------------------------------------------

#[derive(Clone)]
pub struct ExperienceService {
    store: Arc<dyn Store>,
    outbox: OutboxSignal,
    /// Removes a deleted experience's objects from blob storage.
    assets: AssetService,
}

fn experience_event(e: &Experience) -> ExperienceChanged {
    ExperienceChanged {
        experience_uuid: e.uuid,
        person_uuid: e.person_uuid,
        visibility: e.visibility.as_str().into(),
    }
}

fn reaction_event(r: &Reaction) -> ReactionChanged {
    ReactionChanged {
        reaction_uuid: r.uuid,
        experience_uuid: r.experience_uuid,
        person_uuid: r.person_uuid,
        reaction_type: r.reaction_type.as_str().into(),
    }
}

impl ExperienceService {
    pub fn new(store: Arc<dyn Store>, outbox: OutboxSignal, assets: AssetService) -> Self {
        Self {
            store,
            outbox,
            assets,
        }
    }

    /// Who `viewer` is to `person_id`.
    async fn relation(&self, viewer: &Person, person_id: i64) -> Result<Relation> {
        Ok(if viewer.id == person_id {
            Relation::Owner
        } else if self.store.are_contacts(viewer.id, person_id).await? {
            Relation::Contact
        } else {
            Relation::Stranger
        })
    }

    /// The experience, if `viewer` may see it (404 otherwise: they may not know it
    /// exists), with who they are to its owner.
    async fn visible(&self, viewer: &Person, uuid: Uuid) -> Result<(Experience, Relation)> {
        let not_found = || Error::Refused(Refusal::ExperienceNotFound);
        let experience = self
            .store
            .experience_by_uuid(uuid)
            .await?
            .ok_or_else(not_found)?;
        let relation = self.relation(viewer, experience.person_id).await?;
        if experience.visibility.visible_to(relation) {
            Ok((experience, relation))
        } else {
            Err(not_found())
        }
    }

    /// `POST /experiences`.
    #[tracing::instrument(skip_all)]
    pub async fn create(&self, caller: &Caller, cmd: PostExperience) -> Result<Experience> {
        let me = caller.person()?;
        let PostExperience {
            content,
            visibility,
        } = cmd;
        let at = time::now();
        let new = NewExperience {
            uuid: Uuid::new_v4(),
            person_id: me.id,
            content,
            visibility,
            at,
        };
        let event = Event::ExperienceCreated(ExperienceChanged {
            experience_uuid: new.uuid,
            person_uuid: me.uuid,
            visibility: visibility.as_str().into(),
        });
        let experience = self
            .store
            .insert_experience(&new, &[EventEnvelope::new(event, at)])
            .await?;
        self.outbox.nudge();
        tracing::info!(experience = %experience.uuid, by = %me.uuid, visibility = visibility.as_str(), "experience posted");
        Ok(experience)
    }

    /// `GET /experiences`: what the caller may see, filtered, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        caller: &Caller,
        filter: ExperienceFilter,
        page: PageRequest,
    ) -> Result<Page<Experience>> {
        let me = caller.person()?;
        Ok(self.store.list_experiences(me.id, &filter, &page).await?)
    }

    /// `GET /experiences/{uuid}`: 404 unless the caller may see it.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn get(&self, caller: &Caller, uuid: Uuid) -> Result<Experience> {
        let me = caller.person()?;
        Ok(self.visible(me, uuid).await?.0)
    }

    /// `DELETE /experiences/{uuid}`: the owner only; its reactions and assets go too.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn delete(&self, caller: &Caller, uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let (experience, relation) = self.visible(me, uuid).await?;
        if relation != Relation::Owner {
            return Err(Error::forbidden("Only the poster may delete an experience"));
        }
        let at = time::now();
        let event = EventEnvelope::new(Event::ExperienceDeleted(experience_event(&experience)), at);
        // Read before the rows go; the objects are removed only once the deletion
        // committed (a refused deletion keeps every byte).
        let gone = self
            .store
            .assets_of_parent(ParentType::Experience, experience.uuid)
            .await?;
        self.store
            .delete_experience(experience.id, &[event])
            .await?;
        self.outbox.nudge();
        self.assets.remove_objects(&gone).await;
        tracing::info!(experience = %experience.uuid, by = %me.uuid, "experience deleted");
        Ok(())
    }

    /// `POST /experiences/{uuid}/experience_reactions`, on an experience the caller can
    /// see. Answers the reaction and whether it is new: a repeated LIKE answers the
    /// existing like (`false`), so retrying is safe.
    #[tracing::instrument(skip_all, fields(experience_uuid = %experience_uuid))]
    pub async fn react(
        &self,
        caller: &Caller,
        experience_uuid: Uuid,
        cmd: React,
    ) -> Result<(Reaction, bool)> {
        let me = caller.person()?;
        let (experience, _) = self.visible(me, experience_uuid).await?;
        let React {
            reaction_type,
            content,
        } = cmd;
        let at = time::now();
        let new = NewReaction {
            uuid: Uuid::new_v4(),
            person_id: me.id,
            experience_id: experience.id,
            reaction_type,
            content,
            at,
        };
        let event = Event::ReactionCreated(ReactionChanged {
            reaction_uuid: new.uuid,
            experience_uuid: experience.uuid,
            person_uuid: me.uuid,
            reaction_type: reaction_type.as_str().into(),
        });
        let (reaction, created) = self
            .store
            .insert_reaction(&new, &[EventEnvelope::new(event, at)])
            .await?;
        if created {
            self.outbox.nudge();
            tracing::info!(reaction = %reaction.uuid, experience = %experience.uuid, by = %me.uuid, kind = reaction_type.as_str(), "reaction added");
        }
        Ok((reaction, created))
    }

    /// `GET /experiences/{uuid}/experience_reactions`: all of them for the experience's
    /// owner; the caller's own and their contacts' for anyone else who can see it.
    #[tracing::instrument(skip_all, fields(experience_uuid = %experience_uuid))]
    pub async fn reactions(
        &self,
        caller: &Caller,
        experience_uuid: Uuid,
        page: PageRequest,
    ) -> Result<Page<Reaction>> {
        let me = caller.person()?;
        let (experience, relation) = self.visible(me, experience_uuid).await?;
        let scope = ReactionScope::for_viewer(relation == Relation::Owner);
        Ok(self
            .store
            .list_reactions(experience.id, me.id, scope, &page)
            .await?)
    }

    /// `DELETE /experiences/{uuid}/experience_reactions/{reactionUuid}`: the author only.
    /// A reaction the caller cannot see (or one on another experience) is 404; one they
    /// see but did not write is 403.
    #[tracing::instrument(skip_all, fields(experience_uuid = %experience_uuid, reaction_uuid = %reaction_uuid))]
    pub async fn delete_reaction(
        &self,
        caller: &Caller,
        experience_uuid: Uuid,
        reaction_uuid: Uuid,
    ) -> Result<()> {
        let me = caller.person()?;
        let (experience, relation) = self.visible(me, experience_uuid).await?;
        let not_found = || Error::Refused(Refusal::ReactionNotFound);
        let reaction = self
            .store
            .reaction_by_uuid(reaction_uuid)
            .await?
            .filter(|r| r.experience_id == experience.id)
            .ok_or_else(not_found)?;
        if reaction.person_id != me.id {
            let scope = ReactionScope::for_viewer(relation == Relation::Owner);
            let author = self.relation(me, reaction.person_id).await?;
            return Err(if scope.shows(author) {
                Error::forbidden("Only the author may delete a reaction")
            } else {
                not_found()
            });
        }
        let at = time::now();
        let event = EventEnvelope::new(Event::ReactionDeleted(reaction_event(&reaction)), at);
        self.store.delete_reaction(reaction.id, &[event]).await?;
        self.outbox.nudge();
        tracing::info!(reaction = %reaction.uuid, experience = %experience.uuid, by = %me.uuid, "reaction deleted");
        Ok(())
    }
}
