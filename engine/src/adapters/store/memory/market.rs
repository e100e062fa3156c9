use super::{MemoryStore, State};
use crate::adapters::store::msg;
use crate::domain::listing::{
    Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, NewListing,
    open_order_refusal,
};
use crate::domain::market::{Category, CategoryType};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::offer::{NewOffer, Offer, OfferAction, OfferPatch, OfferQuery, OfferStatus};
use crate::domain::order::{NewOrder, Order};
use crate::domain::search::{TextQuery, lexemes};
use crate::domain::wallet::{NewWallet, Wallet};
use crate::domain::{Page, PageRequest, Timestamp, time};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{MarketStore, OfferEvents};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// A listing with the stems of its title and description (the memory store's
/// `listing.document`), recomputed whenever they change.
pub(crate) struct ListingRow {
    pub listing: Listing,
    pub lexemes: HashSet<String>,
}

impl ListingRow {
    fn new(listing: Listing) -> Self {
        let lexemes = lexemes(&format!("{} {}", listing.title, listing.description));
        Self { listing, lexemes }
    }
}

/// The seed migration, the single source of the category list for both stores.
const SEED_SQL: &str = include_str!("../../../../../migrations/V4__seed_categories.sql");
/// The timestamp the seed migration gives every category.
const SEEDED_AT: &str = "2024-01-01T00:00:00Z";

/// The categories of `V4__seed_categories.sql`, read from its lines of the form
/// `('uuid', 'TYPE', 'Name', 'Description'),`. Categories never change at run time, so
/// they live outside the lock.
static CATEGORIES: LazyLock<Vec<Category>> = LazyLock::new(|| parse_seed(SEED_SQL));

/// The single-quoted SQL strings of one line (`''` is a quote inside a string).
fn quoted_strings(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    s.push('\'');
                }
                Some('\'') | None => break,
                Some(other) => s.push(other),
            }
        }
        out.push(s);
    }
    out
}

pub(crate) fn parse_seed(sql: &str) -> Vec<Category> {
    let at = time::parse("seed", SEEDED_AT).unwrap_or_default();
    sql.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("('"))
        .filter_map(|line| {
            let fields = quoted_strings(line);
            let [uuid, kind, name, description] = fields.as_slice() else {
                return None;
            };
            Some((
                Uuid::parse_str(uuid).ok()?,
                CategoryType::parse(kind).ok()?,
                name.clone(),
                description.clone(),
            ))
        })
        .enumerate()
        .map(|(i, (uuid, category_type, name, description))| Category {
            id: i as i64 + 1,
            uuid,
            name,
            description: Some(description),
            category_type,
            created_at: at,
            updated_at: at,
        })
        .collect()
}

fn not_found(m: &str) -> StoreError {
    StoreError::NotFound(m.into())
}

fn conflict(m: impl Into<String>) -> StoreError {
    StoreError::Conflict(m.into())
}

impl State {
    fn listing_id(&self, uuid: Uuid) -> Option<i64> {
        self.listings
            .values()
            .find(|r| r.listing.uuid == uuid)
            .map(|r| r.listing.id)
    }

    fn offer_id(&self, uuid: Uuid) -> Option<i64> {
        self.offers.values().find(|o| o.uuid == uuid).map(|o| o.id)
    }

    fn listing_has_open_order(&self, listing_uuid: Uuid) -> bool {
        self.orders
            .values()
            .any(|o| o.listing_uuid == listing_uuid && o.status.is_open())
    }

    fn open_order_of(&self, offer_uuid: Uuid) -> Option<&Order> {
        self.orders
            .values()
            .find(|o| o.offer_uuid == offer_uuid && o.status.is_open())
    }

    /// Removes what deleting a person removes from the marketplace, as PostgreSQL's
    /// cascades do: their wallets, every listing of theirs (drafts, open ones and past
    /// ones, with their offers), and their offers on others' listings. Orders stay: they
    /// are financial records that keep uuids, not links. The account deletion calls this
    /// inside its own write lock, after checking [`MarketStore::has_funds_in_escrow`].
    /// Whether the person is payer or payee of an order whose funds are in escrow.
    pub(crate) fn funds_in_escrow(&self, person_uuid: Uuid) -> bool {
        self.orders.values().any(|o| {
            o.status.holds_funds() && (o.payer_uuid == person_uuid || o.payee_uuid == person_uuid)
        })
    }

    pub(crate) fn remove_person_market_data(&mut self, person_uuid: Uuid) {
        self.wallets.retain(|_, w| w.person_uuid != person_uuid);
        let listing_ids: HashSet<i64> = self
            .listings
            .values()
            .filter(|r| r.listing.person_uuid == person_uuid)
            .map(|r| r.listing.id)
            .collect();
        self.listings.retain(|id, _| !listing_ids.contains(id));
        self.offers
            .retain(|_, o| o.person_uuid != person_uuid && !listing_ids.contains(&o.listing_id));
    }
}

#[async_trait]
impl MarketStore for MemoryStore {
    async fn list_categories(
        &self,
        category_type: Option<CategoryType>,
    ) -> StoreResult<Vec<Category>> {
        Ok(CATEGORIES
            .iter()
            .filter(|c| category_type.is_none_or(|t| c.category_type == t))
            .cloned()
            .collect())
    }

    async fn category_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Category>> {
        Ok(CATEGORIES.iter().find(|c| c.uuid == uuid).cloned())
    }

    async fn insert_listing(
        &self,
        listing: &NewListing,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        if !CATEGORIES.iter().any(|c| c.uuid == listing.category_uuid) {
            return Err(not_found(msg::CATEGORY_NOT_FOUND));
        }
        let mut s = self.state.write();
        if s.person_by_uuid(listing.person_uuid).is_none() {
            return Err(not_found(msg::PERSON_NOT_FOUND));
        }
        let id = s.next_id("listing");
        let stored = listing.stored(id);
        s.listings.insert(id, ListingRow::new(stored.clone()));
        s.record(events);
        Ok(stored)
    }

    async fn listing_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Listing>> {
        let s = self.state.read();
        Ok(s.listings
            .values()
            .find(|r| r.listing.uuid == uuid)
            .map(|r| r.listing.clone()))
    }

    async fn update_listing(
        &self,
        uuid: Uuid,
        patch: &ListingPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        let status = s.listings[&id].listing.status;
        status
            .transition(ListingAction::Edit)
            .map_err(|e| conflict(e.0))?;
        if s.listing_has_open_order(uuid) {
            return Err(conflict(open_order_refusal("edit").0));
        }
        let mut listing = s.listings[&id].listing.clone();
        patch.apply(&mut listing, at);
        s.listings.insert(id, ListingRow::new(listing.clone()));
        s.record(events);
        Ok(listing)
    }

    async fn transition_listing(
        &self,
        uuid: Uuid,
        action: ListingAction,
        at: Timestamp,
        events: &[EventEnvelope],
        offer_event: OfferEvents<'_>,
    ) -> StoreResult<Listing> {
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        let next = s.listings[&id]
            .listing
            .status
            .transition(action)
            .map_err(|e| conflict(e.0))?;
        if action.blocked_by_open_order() && s.listing_has_open_order(uuid) {
            return Err(conflict(open_order_refusal(action.verb()).0));
        }
        let mut cascade = Vec::new();
        if next == ListingStatus::Cancelled {
            for o in s
                .offers
                .values_mut()
                .filter(|o| o.listing_id == id && o.status.is_open())
            {
                o.status = OfferStatus::Cancelled;
                o.updated_at = at;
                cascade.push(offer_event(o));
            }
        }
        let row = s
            .listings
            .get_mut(&id)
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        row.listing.status = next;
        row.listing.updated_at = at;
        let listing = row.listing.clone();
        s.record(events);
        s.record(&cascade);
        Ok(listing)
    }

    async fn delete_listing(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        if s.listing_has_open_order(uuid) {
            return Err(conflict(open_order_refusal("delete").0));
        }
        s.listings.remove(&id);
        s.offers.retain(|_, o| o.listing_id != id);
        s.record(events);
        Ok(())
    }

    async fn search_listings(
        &self,
        query: &ListingQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Listing>> {
        let text = query.q.as_deref().map(TextQuery::parse);
        let s = self.state.read();
        let rows = s
            .listings
            .values()
            .rev()
            .filter(|r| page.after.is_none_or(|a| r.listing.id < a))
            .filter(|r| query.matches_filters(&r.listing))
            .filter(|r| text.as_ref().is_none_or(|t| t.matches(&r.lexemes)))
            .take(page.fetch())
            .map(|r| r.listing.clone())
            .collect();
        Ok(Page::from_rows(rows, page, |l| l.id))
    }

    async fn insert_offer(
        &self,
        offer: &NewOffer,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let listing = s
            .listings
            .values()
            .find(|r| r.listing.uuid == offer.listing_uuid)
            .map(|r| r.listing.clone())
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        if listing.status != ListingStatus::Published {
            return Err(conflict(msg::listing_not_published(
                "make an offer",
                listing.status,
            )));
        }
        if s.offers.values().any(|o| {
            o.listing_id == listing.id && o.person_uuid == offer.person_uuid && o.status.is_open()
        }) {
            return Err(conflict(msg::OPEN_OFFER_EXISTS));
        }
        let id = s.next_id("offer");
        let stored = Offer {
            id,
            uuid: offer.uuid,
            person_uuid: offer.person_uuid,
            price: offer.price,
            comment: offer.comment.clone(),
            status: OfferStatus::Offered,
            listing_id: listing.id,
            listing_uuid: listing.uuid,
            poster_uuid: listing.person_uuid,
            listing_type: listing.listing_type,
            created_at: offer.at,
            updated_at: offer.at,
        };
        s.offers.insert(id, stored.clone());
        let notified = s.put_notifications(notifications);
        s.record(events);
        Ok((stored, notified))
    }

    async fn offer_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Offer>> {
        Ok(self
            .state
            .read()
            .offers
            .values()
            .find(|o| o.uuid == uuid)
            .cloned())
    }

    async fn update_offer(
        &self,
        uuid: Uuid,
        patch: &OfferPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Offer> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or_else(|| not_found(msg::OFFER_NOT_FOUND))?;
        let offer = s
            .offers
            .get_mut(&id)
            .ok_or_else(|| not_found(msg::OFFER_NOT_FOUND))?;
        offer
            .status
            .transition(OfferAction::Update)
            .map_err(|e| conflict(e.0))?;
        patch.apply(offer, at);
        let updated = offer.clone();
        s.record(events);
        Ok(updated)
    }

    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or_else(|| not_found(msg::OFFER_NOT_FOUND))?;
        let offer = s.offers[&id].clone();
        let next = offer.status.transition(action).map_err(|e| conflict(e.0))?;
        match action {
            OfferAction::Accept => {
                let listing_status = s
                    .listings
                    .get(&offer.listing_id)
                    .map(|r| r.listing.status)
                    .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
                if listing_status != ListingStatus::Published {
                    return Err(conflict(msg::listing_not_published(
                        "accept an offer",
                        listing_status,
                    )));
                }
                if s.offers.values().any(|o| {
                    o.listing_id == offer.listing_id && o.id != id && o.status.holds_listing()
                }) {
                    return Err(conflict(msg::ACCEPTED_OFFER_EXISTS));
                }
            }
            OfferAction::Cancel if s.open_order_of(uuid).is_some() => {
                return Err(conflict(msg::OFFER_HAS_OPEN_ORDER));
            }
            _ => {}
        }
        let o = s
            .offers
            .get_mut(&id)
            .ok_or_else(|| not_found(msg::OFFER_NOT_FOUND))?;
        o.status = next;
        o.updated_at = at;
        let updated = o.clone();
        let notified = s.put_notifications(notifications);
        s.record(events);
        Ok((updated, notified))
    }

    async fn list_offers(
        &self,
        query: &OfferQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Offer>> {
        let s = self.state.read();
        let rows = s
            .offers
            .values()
            .rev()
            .filter(|o| page.after.is_none_or(|a| o.id < a))
            .filter(|o| query.matches(o))
            .take(page.fetch())
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page, |o| o.id))
    }

    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        events: &[EventEnvelope],
    ) -> StoreResult<Wallet> {
        let mut s = self.state.write();
        if s.person_by_uuid(wallet.person_uuid).is_none() {
            return Err(not_found(msg::PERSON_NOT_FOUND));
        }
        // Address equality is byte equality: case was only ever a checksum.
        if s.wallets.values().any(|w| w.address == wallet.address) {
            return Err(conflict(msg::WALLET_ADDRESS_TAKEN));
        }
        let id = s.next_id("wallet");
        let stored = wallet.stored(id);
        s.wallets.insert(id, stored.clone());
        s.record(events);
        Ok(stored)
    }

    async fn wallet_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Wallet>> {
        Ok(self
            .state
            .read()
            .wallets
            .values()
            .find(|w| w.uuid == uuid)
            .cloned())
    }

    async fn delete_wallet(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        let id = s
            .wallets
            .values()
            .find(|w| w.uuid == uuid)
            .map(|w| w.id)
            .ok_or_else(|| not_found(msg::WALLET_NOT_FOUND))?;
        s.wallets.remove(&id);
        s.record(events);
        Ok(())
    }

    async fn list_wallets(
        &self,
        person_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Wallet>> {
        let s = self.state.read();
        let rows = s
            .wallets
            .values()
            .rev()
            .filter(|w| w.person_uuid == person_uuid)
            .filter(|w| page.after.is_none_or(|a| w.id < a))
            .take(page.fetch())
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page, |w| w.id))
    }

    async fn insert_order(
        &self,
        order: &NewOrder,
        events: &[EventEnvelope],
    ) -> StoreResult<(Order, bool)> {
        let mut s = self.state.write();
        if let Some(existing) = s.open_order_of(order.offer_uuid) {
            return Ok((existing.clone(), false));
        }
        let offer = s
            .offers
            .values()
            .find(|o| o.uuid == order.offer_uuid)
            .cloned()
            .ok_or_else(|| not_found(msg::OFFER_NOT_FOUND))?;
        if offer.status != OfferStatus::Accepted {
            return Err(conflict(msg::offer_not_accepted(offer.status)));
        }
        let listing_status = s
            .listings
            .get(&offer.listing_id)
            .map(|r| r.listing.status)
            .ok_or_else(|| not_found(msg::LISTING_NOT_FOUND))?;
        if listing_status != ListingStatus::Published {
            return Err(conflict(msg::listing_not_published(
                "create an order",
                listing_status,
            )));
        }
        let id = s.next_id("orders");
        let stored = order.stored(id);
        s.orders.insert(id, stored.clone());
        s.record(events);
        Ok((stored, true))
    }

    async fn open_order_for_offer(&self, offer_uuid: Uuid) -> StoreResult<Option<Order>> {
        Ok(self.state.read().open_order_of(offer_uuid).cloned())
    }

    async fn has_funds_in_escrow(&self, person_uuid: Uuid) -> StoreResult<bool> {
        Ok(self.state.read().funds_in_escrow(person_uuid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::listing::AdditionalFields;
    use crate::domain::market::{Currency, CurrencyType, ListingType};
    use crate::domain::money::{Fees, Wei};
    use crate::domain::order::{EscrowQuote, OrderStatus, escrow_order_id};
    use crate::domain::people::{AccountStatus, Email, NewAccount, NewPerson, Username};
    use crate::domain::wallet::{Blockchain, WalletType, parse_address};
    use crate::ports::PeopleStore;
    use alloy_primitives::Address;

    #[test]
    fn the_seed_file_parses_into_every_category() {
        let all = &*CATEGORIES;
        let lines = SEED_SQL
            .lines()
            .filter(|l| l.trim().starts_with("('"))
            .count();
        assert_eq!(all.len(), lines, "every seed line is a category");
        assert!(all.len() >= 20);
        let postman = all
            .iter()
            .find(|c| c.uuid.to_string() == "49f72173-9c44-427c-80d6-9f7f8a65116f")
            .expect("the Postman collection's category");
        assert_eq!(postman.category_type, CategoryType::Service);
        let baby = all
            .iter()
            .find(|c| c.name == "Baby & Kids")
            .expect("seeded");
        assert_eq!(
            baby.description.as_deref(),
            Some("Prams, cots, toys, kids' clothing"),
            "'' unescaped"
        );
        let ids: Vec<i64> = all.iter().map(|c| c.id).collect();
        assert_eq!(ids, (1..=all.len() as i64).collect::<Vec<_>>());
        assert_eq!(quoted_strings("('a''b', 'c')"), ["a'b", "c"]);
    }

    async fn person(store: &MemoryStore, name: &str) -> Uuid {
        let at = time::now();
        let account = NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id: format!("sub-{name}"),
            account_status: AccountStatus::Active,
            at,
        };
        let person = NewPerson {
            uuid: Uuid::new_v4(),
            account_uuid: account.uuid,
            username: Username::parse(name).unwrap(),
            email: Email::parse(&format!("{name}@example.com")).unwrap(),
            first_name: None,
            last_name: None,
            contact_number: None,
            birth_date: None,
            location: None,
            bio: None,
            at,
        };
        store
            .insert_account_with_person(&account, &person, &[])
            .await
            .unwrap()
            .1
            .uuid
    }

    async fn published(store: &MemoryStore, poster: Uuid) -> Listing {
        let category = CATEGORIES
            .iter()
            .find(|c| c.category_type == CategoryType::Item)
            .unwrap();
        let l = store
            .insert_listing(
                &NewListing {
                    uuid: Uuid::new_v4(),
                    person_uuid: poster,
                    listing_type: ListingType::ItemSale,
                    title: "Fridge".into(),
                    description: "Cold".into(),
                    price: Wei(10),
                    currency_type: CurrencyType::Crypto,
                    currency: Currency::Eth,
                    category_uuid: category.uuid,
                    additional_fields: AdditionalFields::default(),
                    location: None,
                    service_delivery: None,
                    at: time::now(),
                },
                &[],
            )
            .await
            .unwrap();
        let noop = |_: &Offer| unreachable!("no offers to cascade");
        store
            .transition_listing(l.uuid, ListingAction::Publish, time::now(), &[], &noop)
            .await
            .unwrap()
    }

    async fn offer(store: &MemoryStore, listing: &Listing, offeror: Uuid) -> Offer {
        let new = NewOffer {
            uuid: Uuid::new_v4(),
            person_uuid: offeror,
            listing_uuid: listing.uuid,
            price: Wei(9),
            comment: None,
            at: time::now(),
        };
        store.insert_offer(&new, &[], &[]).await.unwrap().0
    }

    fn new_order(offer: &Offer, listing: &Listing, payer: Uuid, payee: Uuid) -> NewOrder {
        let fees = Fees::compute(Wei(9), 500, 0).unwrap();
        NewOrder {
            uuid: Uuid::new_v4(),
            offer_uuid: offer.uuid,
            listing_uuid: listing.uuid,
            listing_title: listing.title.clone(),
            payer_uuid: payer,
            payee_uuid: payee,
            currency: Currency::Eth,
            fees,
            quote: EscrowQuote {
                chain_id: 1,
                contract: Address::ZERO,
                order_id: escrow_order_id(Uuid::nil()),
                payer: Address::ZERO,
                payee: Address::ZERO,
                amount: fees.total,
                fee: fees.platform_take(),
                deadline: 0,
            },
            quote_signature: "0x".into(),
            at: time::now(),
        }
    }

    /// Account deletion is refused while the person's order holds funds in escrow, as
    /// payer or as payee, and goes through once it settled (the order stays).
    #[tokio::test]
    async fn escrow_blocks_account_deletion_until_settled() {
        use crate::ports::AccountDeletionStore;
        let store = MemoryStore::new();
        let (payer, payee) = (person(&store, "payer").await, person(&store, "payee").await);
        let listing = published(&store, payee).await;
        let offer = offer(&store, &listing, payer).await;
        {
            let mut s = store.state.write();
            let mut o = new_order(&offer, &listing, payer, payee).stored(1);
            o.status = OrderStatus::Paid;
            s.orders.insert(1, o);
        }
        let account_of = |uuid: Uuid| {
            let s = store.state.read();
            s.persons
                .values()
                .find(|p| p.uuid == uuid)
                .map(|p| p.account_id)
                .unwrap()
        };
        for who in [payer, payee] {
            let err = store
                .delete_account(account_of(who), &[])
                .await
                .unwrap_err();
            assert_eq!(err, StoreError::Conflict(msg::ACCOUNT_HAS_ESCROW.into()));
        }
        assert!(
            store.listing_by_uuid(listing.uuid).await.unwrap().is_some(),
            "nothing removed"
        );
        store.state.write().orders.get_mut(&1).unwrap().status = OrderStatus::Completed;
        store.delete_account(account_of(payee), &[]).await.unwrap();
        assert!(
            store.listing_by_uuid(listing.uuid).await.unwrap().is_none(),
            "their listing went"
        );
        assert_eq!(
            store.state.read().orders.len(),
            1,
            "the settled order stays as a record"
        );
    }

    fn wallet(person: Uuid, address: &str) -> NewWallet {
        NewWallet {
            uuid: Uuid::new_v4(),
            person_uuid: person,
            chain: Blockchain::Ethereum,
            wallet_type: WalletType::Metamask,
            network: "Sepolia".into(),
            balance: None,
            currency: Currency::Eth,
            address: parse_address("address", address).unwrap(),
            at: time::now(),
        }
    }

    #[tokio::test]
    async fn removing_a_persons_market_data_matches_the_postgres_cascades() {
        let store = MemoryStore::new();
        let (gone, stays) = (person(&store, "gone").await, person(&store, "stays").await);
        let their_listing = published(&store, gone).await;
        let other_listing = published(&store, stays).await;
        let offer_on_theirs = offer(&store, &their_listing, stays).await;
        let their_offer = offer(&store, &other_listing, gone).await;
        store
            .insert_wallet(
                &wallet(gone, "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"),
                &[],
            )
            .await
            .unwrap();
        let kept_wallet = store
            .insert_wallet(
                &wallet(stays, "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF"),
                &[],
            )
            .await
            .unwrap();
        // A past order of theirs: a financial record, kept.
        let order = new_order(&their_offer, &other_listing, gone, stays);
        {
            let mut s = store.state.write();
            let mut o = order.stored(1);
            o.status = OrderStatus::Completed;
            s.orders.insert(1, o);
            s.remove_person_market_data(gone);
        }
        assert_eq!(
            store.listing_by_uuid(their_listing.uuid).await.unwrap(),
            None
        );
        assert_eq!(
            store.offer_by_uuid(offer_on_theirs.uuid).await.unwrap(),
            None,
            "offers on their listings go"
        );
        assert_eq!(
            store.offer_by_uuid(their_offer.uuid).await.unwrap(),
            None,
            "their offers go"
        );
        assert!(
            store
                .listing_by_uuid(other_listing.uuid)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .list_wallets(gone, &PageRequest::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(
            store
                .list_wallets(stays, &PageRequest::default())
                .await
                .unwrap()
                .items,
            [kept_wallet]
        );
        assert_eq!(store.state.read().orders.len(), 1, "orders survive");
        // Their address is free again.
        store
            .insert_wallet(
                &wallet(stays, "0x2e2f5b35a9e305baf5fc5431b55797ef20721421"),
                &[],
            )
            .await
            .unwrap();
    }
}
