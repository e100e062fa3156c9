//! Categories and listings: create (as a DRAFT), edit, the lifecycle (publish,
//! unpublish, cancel), delete, one listing, and search.

use super::{MarketService, non_blank};
use crate::domain::assets::ParentType;
use crate::domain::listing::{
    CreateListing, Listing, ListingAction, ListingEdit, ListingPatch, ListingQuery, Location,
    NewListing, edit_problems,
};
use crate::domain::market::{Category, CategoryType};
use crate::domain::offer::Offer;
use crate::domain::people::Person;
use crate::domain::time;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Problems, Result};
use crate::events::{Event, EventEnvelope, ListingChanged, OfferChanged};
use crate::services::people::Caller;
use uuid::Uuid;

fn listing_event(l: &Listing) -> ListingChanged {
    ListingChanged {
        listing_uuid: l.uuid,
        person_uuid: l.person_uuid,
        listing_type: l.listing_type.as_str().into(),
        status: l.status.as_str().into(),
        title: l.title.clone(),
    }
}

pub(super) fn offer_event(o: &Offer) -> OfferChanged {
    OfferChanged::from(o)
}

impl MarketService {
    /// `GET /categories?categoryType=`.
    #[tracing::instrument(skip_all)]
    pub async fn categories(
        &self,
        caller: &Caller,
        category_type: Option<&str>,
    ) -> Result<Vec<Category>> {
        caller.person()?;
        let kind = non_blank(category_type)
            .map(CategoryType::parse)
            .transpose()
            .map_err(Error::validation)?;
        Ok(self.store.list_categories(kind).await?)
    }

    /// `POST /listings`: a DRAFT. The edge checked the body; the category must exist
    /// and be of the listing's kind: a 400 naming the field, since it is the body that
    /// is wrong.
    #[tracing::instrument(skip_all)]
    pub async fn create_listing(&self, caller: &Caller, cmd: CreateListing) -> Result<Listing> {
        let me = caller.person()?;
        let at = time::now();
        let t = cmd.listing_type;
        match self.store.category_by_uuid(cmd.category_uuid).await? {
            None => {
                return Err(Error::validation(
                    "categoryUuid must name an existing category",
                ));
            }
            Some(c) if c.category_type != t.category_type() => {
                return Err(Error::validation(format!(
                    "categoryUuid must name a category of type {} for listingType {}",
                    t.category_type(),
                    t
                )));
            }
            Some(_) => {}
        }
        let new = NewListing {
            uuid: Uuid::new_v4(),
            person_uuid: me.uuid,
            listing_type: cmd.listing_type,
            title: cmd.title,
            description: cmd.description,
            price: cmd.price,
            currency_type: cmd.currency_type,
            currency: cmd.currency,
            category_uuid: cmd.category_uuid,
            additional_fields: cmd.additional_fields,
            location: cmd.location.map(|l| Location {
                created_at: at,
                updated_at: at,
                ..l
            }),
            service_delivery: cmd.service_delivery,
            at,
        };
        let event = EventEnvelope::new(Event::ListingCreated(listing_event(&new.stored(0))), at);
        let listing = self.store.insert_listing(&new, &[event]).await?;
        self.outbox.nudge();
        tracing::info!(listing = %listing.uuid, person = %me.uuid, "listing created");
        Ok(listing)
    }

    /// `GET /listings/{uuid}`.
    #[tracing::instrument(skip_all)]
    pub async fn listing(&self, caller: &Caller, uuid: Uuid) -> Result<Listing> {
        self.visible_listing(caller.person()?, uuid).await
    }

    /// `PATCH /listings/{uuid}`: the owner's editable fields, in DRAFT, PUBLISHED or
    /// PAUSED, and never while an order is open (the store checks both as it writes).
    #[tracing::instrument(skip_all)]
    pub async fn update_listing(
        &self,
        caller: &Caller,
        uuid: Uuid,
        edit: ListingEdit,
    ) -> Result<Listing> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, "edit").await?;
        let at = time::now();
        // The body's problems first, then those that depend on the stored type.
        let mut problems = Problems::new();
        for p in edit
            .problems
            .iter()
            .cloned()
            .chain(edit_problems(current.listing_type, &edit))
        {
            problems.push(p);
        }
        problems.finish()?;
        let patch = edit.patch;
        let location_at = |l: Location| Location {
            created_at: at,
            updated_at: at,
            ..l
        };
        let patch = ListingPatch {
            location: patch.location.map(|l| l.map(location_at)),
            ..patch
        };
        let mut after = current.clone();
        patch.apply(&mut after, at);
        let event = EventEnvelope::new(Event::ListingUpdated(listing_event(&after)), at);
        let listing = self
            .store
            .update_listing(uuid, &patch, at, &[event])
            .await?;
        self.outbox.nudge();
        Ok(listing)
    }

    /// `PATCH /listings/{uuid}/publish|unpublish|cancel`.
    #[tracing::instrument(skip_all)]
    pub async fn transition_listing(
        &self,
        caller: &Caller,
        uuid: Uuid,
        action: ListingAction,
    ) -> Result<Listing> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, action.verb()).await?;
        // The target status does not depend on the source, so the event can be built
        // now; the store refuses (and writes nothing) if the transition is not allowed.
        let target = current.status.transition(action).map_err(Error::Refused)?;
        let at = time::now();
        let mut after = current.clone();
        after.status = target;
        after.updated_at = at;
        let changed = listing_event(&after);
        let event = match action {
            ListingAction::Publish => Event::ListingPublished(changed),
            ListingAction::Unpublish => Event::ListingUnpublished(changed),
            ListingAction::Cancel => Event::ListingCancelled(changed),
            _ => {
                return Err(Error::Internal(format!(
                    "{} is not an owner action",
                    action.verb()
                )));
            }
        };
        let cascade =
            move |o: &Offer| EventEnvelope::new(Event::OfferCancelled(offer_event(o)), at);
        let listing = self
            .store
            .transition_listing(uuid, action, at, &[EventEnvelope::new(event, at)], &cascade)
            .await?;
        self.outbox.nudge();
        tracing::info!(listing = %uuid, status = %listing.status, "listing {}ed", action.verb());
        Ok(listing)
    }

    /// `DELETE /listings/{uuid}`: the owner's, unless an order is open.
    #[tracing::instrument(skip_all)]
    pub async fn delete_listing(&self, caller: &Caller, uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let current = self.own_listing(me, uuid, "delete").await?;
        let event = EventEnvelope::new(Event::ListingDeleted(listing_event(&current)), time::now());
        // Read before the rows go; removed only once the deletion committed (a listing
        // with an open order is refused and keeps every byte).
        let gone = self
            .store
            .assets_of_parent(ParentType::Listing, uuid)
            .await?;
        self.store.delete_listing(uuid, &[event]).await?;
        self.outbox.nudge();
        self.assets.remove_objects(&gone).await;
        tracing::info!(listing = %uuid, "listing deleted");
        Ok(())
    }

    /// `GET /listings`: PUBLISHED listings, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn search_listings(
        &self,
        caller: &Caller,
        query: ListingQuery,
        page: PageRequest,
    ) -> Result<Page<Listing>> {
        caller.person()?;
        let query = ListingQuery {
            published_only: true,
            ..query
        };
        Ok(self.store.search_listings(&query, &page).await?)
    }

    /// `GET /listings/mine`: the caller's listings in every status (a `personUuid`
    /// filter is ignored: it is always the caller).
    #[tracing::instrument(skip_all)]
    pub async fn my_listings(
        &self,
        caller: &Caller,
        mut query: ListingQuery,
        page: PageRequest,
    ) -> Result<Page<Listing>> {
        let me: &Person = caller.person()?;
        query.person_uuid = Some(me.uuid);
        query.published_only = false;
        Ok(self.store.search_listings(&query, &page).await?)
    }
}
