//! The marketplace use cases: categories, listings, offers, wallets and order creation
//! (the Listing API apart from payment). One service, one file per resource.
//!
//! Authorization, the same everywhere (API.md): an object the caller may not know exists
//! (someone else's draft, wallet, or an offer between two other people) answers 404; one
//! they may see but not change answers 403.

mod escrow;
mod listings;
mod offers;
mod orders;
mod wallets;

use crate::config::Settings;
use crate::domain::listing::Listing;
use crate::domain::people::Person;
use crate::error::{Error, Result};
use crate::ports::{Chain, Store};
use crate::services::assets::AssetService;
use crate::services::notifications::Deliverer;
use crate::services::outbox::OutboxSignal;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
pub struct MarketService {
    store: Arc<dyn Store>,
    chain: Arc<dyn Chain>,
    outbox: OutboxSignal,
    deliverer: Deliverer,
    fee_bps: u32,
    fee_tax_bps: u32,
    payment_timeout_secs: u64,
    /// Removes a deleted listing's objects from blob storage.
    assets: AssetService,
}

impl MarketService {
    pub fn new(
        store: Arc<dyn Store>,
        chain: Arc<dyn Chain>,
        outbox: OutboxSignal,
        deliverer: Deliverer,
        assets: AssetService,
        settings: &Settings,
    ) -> Self {
        Self {
            assets,
            store,
            chain,
            outbox,
            deliverer,
            fee_bps: settings.market.fee_bps,
            fee_tax_bps: settings.market.fee_tax_bps,
            payment_timeout_secs: settings.orders.payment_timeout_secs,
        }
    }

    /// A listing the caller may see: everyone signed in sees every listing except
    /// others' drafts, which do not exist for them.
    async fn visible_listing(&self, me: &Person, uuid: Uuid) -> Result<Listing> {
        match self.store.listing_by_uuid(uuid).await? {
            Some(l) if l.status.is_public() || l.person_uuid == me.uuid => Ok(l),
            _ => Err(Error::not_found("Listing not found")),
        }
    }

    /// A listing the caller owns (404 if they cannot see it, 403 if it is not theirs).
    async fn own_listing(&self, me: &Person, uuid: Uuid, doing: &str) -> Result<Listing> {
        let l = self.visible_listing(me, uuid).await?;
        if l.person_uuid != me.uuid {
            return Err(Error::forbidden(format!(
                "Only the owner can {doing} a listing"
            )));
        }
        Ok(l)
    }
}

// The input helpers moved to `domain::fields`, where the http edge parses bodies with
// them; the services' own uses read them from there.
#[allow(unused_imports)]
pub(crate) use crate::domain::fields::{
    non_blank, optional_text, parse_uuid_field, required_enum, required_text,
};
