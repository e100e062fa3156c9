//! The marketplace in memory: one file per resource, as `services/market/` is.

mod listings;
mod offers;
mod order_lifecycle;
mod orders;
mod wallets;

pub(crate) use listings::ListingRow;
pub(crate) use order_lifecycle::EscrowTables;

use super::State;
use crate::domain::order::Order;
use std::collections::HashSet;
use uuid::Uuid;

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
    /// inside its own write lock, after checking [`OrderStore::has_funds_in_escrow`](crate::ports::OrderStore::has_funds_in_escrow).
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

#[cfg(test)]
mod tests {
    use super::listings::{CATEGORIES, SEED_SQL, quoted_strings};
    use super::*;
    use crate::adapters::store::memory::MemoryStore;
    use crate::domain::listing::AdditionalFields;
    use crate::domain::listing::{Listing, ListingAction, NewListing};
    use crate::domain::market::CategoryType;
    use crate::domain::market::{Currency, CurrencyType, ListingType};
    use crate::domain::money::{Fees, Wei};
    use crate::domain::offer::{NewOffer, Offer};
    use crate::domain::order::NewOrder;
    use crate::domain::order::{EscrowQuote, OrderStatus, escrow_order_id};
    use crate::domain::people::{AccountStatus, Email, NewAccount, PersonFields, Username};
    use crate::domain::refusal::Refusal;
    use crate::domain::wallet::NewWallet;
    use crate::domain::wallet::{Blockchain, WalletType, parse_address};
    use crate::domain::{PageRequest, time};
    use crate::error::StoreError;
    use crate::ports::PeopleStore;
    use crate::ports::{ListingStore, OfferStore, WalletStore};
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
        let person = PersonFields::named(
            Username::parse(name).unwrap(),
            Email::parse(&format!("{name}@example.com")).unwrap(),
        )
        .into_new(account.uuid, at);
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
            assert_eq!(err, StoreError::Refused(Refusal::AccountHasEscrow));
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
