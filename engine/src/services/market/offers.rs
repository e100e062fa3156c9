//! Offers: make one on a published listing, edit it, accept (poster), cancel (offeror,
//! or the poster declining), and the lists. OFFER_RECEIVED goes to the poster and
//! OFFER_ACCEPTED to the offeror: stored with the change, delivered after commit.

use super::MarketService;
use super::listings::offer_event;
use crate::domain::money::Wei;
use crate::domain::notifications::{NewNotification, NotificationType};
use crate::domain::offer::{
    MakeOffer, NewOffer, Offer, OfferAction, OfferPatch, OfferQuery, OfferStatus,
};
use crate::domain::people::Person;
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::events::{Event, EventEnvelope};
use crate::services::people::Caller;
use uuid::Uuid;

// The wire types (bodies, `OfferView`, `OffersPage`) live in `metmos-http`'s
// `routes/offers.rs`.

impl MarketService {
    /// An offer the caller is party to (offeror or poster); for anyone else it does not
    /// exist.
    pub(super) async fn visible_offer(&self, me: &Person, uuid: Uuid) -> Result<Offer> {
        match self.store.offer_by_uuid(uuid).await? {
            Some(o) if o.person_uuid == me.uuid || o.poster_uuid == me.uuid => Ok(o),
            _ => Err(Error::not_found("Offer not found")),
        }
    }

    /// A notification for `person_uuid`, or none if that person is gone.
    async fn notification_for(
        &self,
        person_uuid: Uuid,
        kind: NotificationType,
        title: &str,
        body: String,
        offer: &Offer,
        at: Timestamp,
    ) -> Result<Vec<NewNotification>> {
        Ok(match self.store.person_by_uuid(person_uuid).await? {
            Some(p) => vec![NewNotification::new(
                p.id,
                p.uuid,
                kind,
                title,
                body,
                &[
                    ("listingUuid", offer.listing_uuid),
                    ("offerUuid", offer.uuid),
                ],
                at,
            )],
            None => Vec::new(),
        })
    }

    /// `POST /offers`.
    #[tracing::instrument(skip_all, fields(listing_uuid = %cmd.listing_uuid))]
    pub async fn create_offer(&self, caller: &Caller, cmd: MakeOffer) -> Result<Offer> {
        let me = caller.person()?;
        let MakeOffer {
            listing_uuid,
            price,
            comment,
        } = cmd;
        let listing = self.visible_listing(me, listing_uuid).await?;
        if listing.person_uuid == me.uuid {
            return Err(Error::forbidden(
                "You cannot make an offer on your own listing",
            ));
        }
        let at = time::now();
        let new = NewOffer {
            uuid: Uuid::new_v4(),
            person_uuid: me.uuid,
            listing_uuid,
            price,
            comment,
            at,
        };
        // What the store will store (its id aside), for the event and the notification.
        let preview = Offer {
            id: 0,
            uuid: new.uuid,
            person_uuid: me.uuid,
            price,
            comment: new.comment.clone(),
            status: OfferStatus::Offered,
            listing_id: listing.id,
            listing_uuid,
            poster_uuid: listing.person_uuid,
            listing_type: listing.listing_type,
            created_at: at,
            updated_at: at,
        };
        let notifications = self
            .notification_for(
                listing.person_uuid,
                NotificationType::OfferReceived,
                "New offer",
                format!(
                    "{} offered {} ETH for {}",
                    me.display_name(),
                    price,
                    listing.title
                ),
                &preview,
                at,
            )
            .await?;
        let event = EventEnvelope::new(Event::OfferReceived(offer_event(&preview)), at);
        let (offer, stored) = self
            .store
            .insert_offer(&new, &notifications, &[event])
            .await?;
        self.outbox.nudge();
        self.deliverer.deliver(&stored);
        tracing::info!(offer = %offer.uuid, listing = %listing_uuid, offeror = %me.uuid, "offer made");
        Ok(offer)
    }

    /// `PATCH /offers/{uuid}`: the offeror's price and comment, while OFFERED.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn update_offer(
        &self,
        caller: &Caller,
        uuid: Uuid,
        patch: OfferPatch,
    ) -> Result<Offer> {
        let me = caller.person()?;
        let current = self.visible_offer(me, uuid).await?;
        if current.person_uuid != me.uuid {
            return Err(Error::forbidden("Only the offeror can update an offer"));
        }
        let at = time::now();
        let mut after = current.clone();
        patch.apply(&mut after, at);
        let event = EventEnvelope::new(Event::OfferUpdated(offer_event(&after)), at);
        // A new price is a new offer to the poster: OFFER_RECEIVED again, so that what
        // they accept is what they were told (a comment alone notifies no one).
        let notifications = match patch.price {
            Some(price) if price != current.price => {
                let title = self
                    .store
                    .listing_by_uuid(current.listing_uuid)
                    .await?
                    .map(|l| l.title)
                    .unwrap_or_default();
                self.notification_for(
                    current.poster_uuid,
                    NotificationType::OfferReceived,
                    "Offer updated",
                    format!(
                        "{} now offers {} ETH for {}",
                        me.display_name(),
                        price,
                        title
                    ),
                    &after,
                    at,
                )
                .await?
            }
            _ => Vec::new(),
        };
        let (offer, stored) = self
            .store
            .update_offer(uuid, &patch, at, &notifications, &[event])
            .await?;
        self.outbox.nudge();
        self.deliverer.deliver(&stored);
        Ok(offer)
    }

    /// `PATCH /offers/{uuid}/accept`: the poster, on an OFFERED offer of a PUBLISHED
    /// listing with no other accepted offer. `price`, when given, is the price the poster
    /// saw: if the offeror changed it since, the accept is refused (409 naming the
    /// current price) instead of binding the poster to a price they never saw.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn accept_offer(
        &self,
        caller: &Caller,
        uuid: Uuid,
        price: Option<Wei>,
    ) -> Result<Offer> {
        let me = caller.person()?;
        let current = self.visible_offer(me, uuid).await?;
        if current.poster_uuid != me.uuid {
            return Err(Error::forbidden("Only the poster can accept an offer"));
        }
        let target = current
            .status
            .transition(OfferAction::Accept)
            .map_err(Error::Refused)?;
        let at = time::now();
        let mut after = current.clone();
        after.status = target;
        after.updated_at = at;
        let title = self
            .store
            .listing_by_uuid(current.listing_uuid)
            .await?
            .map(|l| l.title)
            .unwrap_or_default();
        let notifications = self
            .notification_for(
                current.person_uuid,
                NotificationType::OfferAccepted,
                "Offer accepted",
                format!(
                    "{} accepted your offer of {} ETH for {}",
                    me.display_name(),
                    current.price,
                    title
                ),
                &after,
                at,
            )
            .await?;
        let event = EventEnvelope::new(Event::OfferAccepted(offer_event(&after)), at);
        let (offer, stored) = self
            .store
            .accept_offer(uuid, price, at, &notifications, &[event])
            .await?;
        self.outbox.nudge();
        self.deliverer.deliver(&stored);
        tracing::info!(offer = %uuid, listing = %offer.listing_uuid, "offer accepted");
        Ok(offer)
    }

    /// `PATCH /offers/{uuid}/cancel`: the offeror withdraws or the poster declines, while
    /// OFFERED or ACCEPTED and no order is open.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn cancel_offer(&self, caller: &Caller, uuid: Uuid) -> Result<Offer> {
        let me = caller.person()?;
        let current = self.visible_offer(me, uuid).await?;
        let target = current
            .status
            .transition(OfferAction::Cancel)
            .map_err(Error::Refused)?;
        let at = time::now();
        let mut after = current.clone();
        after.status = target;
        after.updated_at = at;
        let event = EventEnvelope::new(Event::OfferCancelled(offer_event(&after)), at);
        let (offer, _) = self
            .store
            .transition_offer(uuid, OfferAction::Cancel, at, &[], &[event])
            .await?;
        self.outbox.nudge();
        tracing::info!(offer = %uuid, by = %me.uuid, "offer cancelled");
        Ok(offer)
    }

    /// `GET /offers?listingUuid=&personUuid=`: the poster sees every offer on their
    /// listing; anyone else only their own.
    #[tracing::instrument(skip_all)]
    pub async fn list_offers(
        &self,
        caller: &Caller,
        listing_uuid: Option<Uuid>,
        person_uuid: Option<Uuid>,
        page: PageRequest,
    ) -> Result<Page<Offer>> {
        let me = caller.person()?;
        if let Some(l) = listing_uuid {
            // A listing the caller cannot see is 404, not an empty list.
            self.visible_listing(me, l).await?;
        }
        let query = OfferQuery {
            viewer: me.uuid,
            mine_only: false,
            listing_uuid,
            person_uuid,
        };
        Ok(self.store.list_offers(&query, &page).await?)
    }

    /// `GET /offers/mine`: offers the caller made.
    #[tracing::instrument(skip_all)]
    pub async fn my_offers(&self, caller: &Caller, page: PageRequest) -> Result<Page<Offer>> {
        let me = caller.person()?;
        let query = OfferQuery {
            viewer: me.uuid,
            mine_only: true,
            listing_uuid: None,
            person_uuid: None,
        };
        Ok(self.store.list_offers(&query, &page).await?)
    }
}
