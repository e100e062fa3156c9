//! The marketplace store on both adapters: the same rows, the same refusals, the same
//! words.

use crate::conformance;
use crate::harness::{Subject, person};
use metmos_engine::adapters::chain::QuoteSigner;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::listing::{
    AdditionalFields, Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, Location,
    NewListing,
};
use metmos_engine::domain::market::{CategoryType, Currency, CurrencyType, ListingType, Parties};
use metmos_engine::domain::money::{Fees, Wei};
use metmos_engine::domain::notifications::{NewNotification, NotificationFilter, NotificationType};
use metmos_engine::domain::offer::{
    NewOffer, Offer, OfferAction, OfferPatch, OfferQuery, OfferStatus,
};
use metmos_engine::domain::order::{EscrowQuote, NewOrder, Order, OrderStatus, escrow_order_id};
use metmos_engine::domain::people::Person;
use metmos_engine::domain::refusal::{ListingStep, OwnerChange, Refusal};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::domain::wallet::{Blockchain, NewWallet, WalletType, parse_address};
use metmos_engine::error::StoreError;
use metmos_engine::events::{Event, EventEnvelope, OfferChanged};
use metmos_engine::ports::Store;
use uuid::Uuid;

/// Hardhat / Anvil account #0: a public test key.
const TEST_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

async fn category(store: &dyn Store, kind: CategoryType) -> Uuid {
    store.list_categories(Some(kind)).await.unwrap()[0].uuid
}

fn location(suburb: &str, at: Timestamp) -> Location {
    Location {
        uuid: Uuid::new_v4(),
        address: Some("1 Main St".into()),
        suburb: suburb.into(),
        city: None,
        state_region: "NSW".into(),
        country: "Australia".into(),
        postal_code: Some("2113".into()),
        latitude: Some(-33.7975),
        longitude: Some(151.1244),
        place_id: None,
        created_at: at,
        updated_at: at,
    }
}

async fn listing(
    store: &dyn Store,
    poster: &Person,
    kind: ListingType,
    title: &str,
    description: &str,
) -> Listing {
    let new = NewListing {
        uuid: Uuid::new_v4(),
        person_uuid: poster.uuid,
        listing_type: kind,
        title: title.into(),
        description: description.into(),
        price: Wei(1_000_000_000_000_000_000),
        currency_type: CurrencyType::Crypto,
        currency: Currency::Eth,
        category_uuid: category(store, kind.category_type()).await,
        additional_fields: AdditionalFields::default(),
        location: None,
        service_delivery: None,
        at: time::now(),
    };
    store.insert_listing(&new, &[]).await.unwrap()
}

fn no_cascade(o: &Offer) -> EventEnvelope {
    panic!("no offer should cascade, got {}", o.uuid)
}

fn cancelled_event(o: &Offer) -> EventEnvelope {
    EventEnvelope::new(Event::OfferCancelled(OfferChanged::from(o)), time::now())
}

async fn act(store: &dyn Store, l: &Listing, action: ListingAction) -> Result<Listing, StoreError> {
    store
        .transition_listing(l.uuid, action, time::now(), &[], &no_cascade)
        .await
}

pub(crate) async fn published(
    store: &dyn Store,
    poster: &Person,
    kind: ListingType,
    title: &str,
) -> Listing {
    let l = listing(store, poster, kind, title, "description").await;
    let p = act(store, &l, ListingAction::Publish).await.unwrap();
    // Timestamps are milliseconds: keep successive listings apart for window filters.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    p
}

fn new_offer(l: &Listing, offeror: &Person, price: u128) -> NewOffer {
    NewOffer {
        uuid: Uuid::new_v4(),
        person_uuid: offeror.uuid,
        listing_uuid: l.uuid,
        price: Wei(price),
        comment: Some("hi".into()),
        at: time::now(),
    }
}

pub(crate) async fn offer(store: &dyn Store, l: &Listing, offeror: &Person) -> Offer {
    store
        .insert_offer(&new_offer(l, offeror, 900), &[], &[])
        .await
        .unwrap()
        .0
}

pub(crate) async fn accept(store: &dyn Store, o: &Offer) -> Result<Offer, StoreError> {
    store
        .transition_offer(o.uuid, OfferAction::Accept, time::now(), &[], &[])
        .await
        .map(|(o, _)| o)
}

fn wallet(p: &Person, address: &str) -> NewWallet {
    NewWallet {
        uuid: Uuid::new_v4(),
        person_uuid: p.uuid,
        chain: Blockchain::Ethereum,
        wallet_type: WalletType::Metamask,
        network: "Sepolia".into(),
        balance: Some(Wei(189_700_000_000_000_000)),
        currency: Currency::Eth,
        address: parse_address("address", address).unwrap(),
        at: time::now(),
    }
}

/// A signed order for an accepted offer (as the service builds it).
pub(crate) fn new_order(o: &Offer, l: &Listing) -> NewOrder {
    let uuid = Uuid::new_v4();
    let Parties { payer, payee } = o.parties();
    let fees = Fees::compute(o.price, 500, 1000).unwrap();
    let quote = EscrowQuote {
        chain_id: 31337,
        contract: parse_address("c", "0x5FbDB2315678afecb367f032d93F642f64180aa3").unwrap(),
        order_id: escrow_order_id(uuid),
        payer: parse_address("p", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8").unwrap(),
        payee: parse_address("p", "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421").unwrap(),
        amount: fees.total,
        fee: fees.platform_take(),
        deadline: 1_900_000_000,
    };
    let quote_signature = QuoteSigner::from_hex(TEST_KEY)
        .unwrap()
        .sign(&quote)
        .unwrap();
    NewOrder {
        uuid,
        offer_uuid: o.uuid,
        listing_uuid: l.uuid,
        listing_title: l.title.clone(),
        payer_uuid: payer,
        payee_uuid: payee,
        currency: Currency::Eth,
        fees,
        quote,
        quote_signature,
        at: time::now(),
    }
}

/// A published listing with an accepted offer and its open order.
pub(crate) async fn ordered(store: &dyn Store) -> (Person, Person, Listing, Offer, Order) {
    let poster = person(store, "poster").await;
    let buyer = person(store, "buyer").await;
    let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
    let o = accept(store, &offer(store, &l, &buyer).await)
        .await
        .unwrap();
    let (order, created) = store.insert_order(&new_order(&o, &l), &[]).await.unwrap();
    assert!(created);
    (poster, buyer, l, o, order)
}

conformance! {
    async fn categories_are_seeded_alike(store) {
        let all = store.list_categories(None).await.unwrap();
        assert_eq!(all.len(), 32);
        let postman = Uuid::parse_str("49f72173-9c44-427c-80d6-9f7f8a65116f").unwrap();
        let c = store.category_by_uuid(postman).await.unwrap().expect("the Postman requests' category");
        assert_eq!((c.name.as_str(), c.category_type), ("Home Improvement", CategoryType::Service));
        assert_eq!(time::format(&c.created_at), "2024-01-01T00:00:00.000Z");
        assert_eq!(all.iter().find(|x| x.uuid == postman), Some(&c));
        let items = store.list_categories(Some(CategoryType::Item)).await.unwrap();
        let services = store.list_categories(Some(CategoryType::Service)).await.unwrap();
        assert_eq!(items.len() + services.len(), all.len());
        assert!(items.iter().all(|c| c.category_type == CategoryType::Item));
        assert_eq!(items[0].name, "Electronics", "seed order");
        assert_eq!(store.category_by_uuid(Uuid::new_v4()).await.unwrap(), None);
    }

    async fn listings_round_trip_exactly(store) {
        let poster = person(store, "poster").await;
        let at = time::now();
        let new = NewListing {
            uuid: Uuid::new_v4(),
            person_uuid: poster.uuid,
            listing_type: ListingType::ServiceSale,
            title: "Painting".into(),
            description: "Fences and walls".into(),
            price: Wei(123_456_789_012_345_678_901),
            currency_type: CurrencyType::Crypto,
            currency: Currency::Eth,
            category_uuid: category(store, CategoryType::Service).await,
            additional_fields: AdditionalFields { service_date: Some("2023-12-14".into()), condition: None },
            location: Some(location("Sunnyvale", at)),
            service_delivery: Some(metmos_engine::domain::market::ServiceDelivery::InPerson),
            at,
        };
        let stored = store.insert_listing(&new, &[]).await.unwrap();
        assert_eq!(stored, new.stored(stored.id));
        assert_eq!(store.listing_by_uuid(new.uuid).await.unwrap(), Some(stored.clone()), "big wei amount exact");

        let missing = NewListing { uuid: Uuid::new_v4(), category_uuid: Uuid::new_v4(), ..new.clone() };
        assert_eq!(store.insert_listing(&missing, &[]).await.unwrap_err(), StoreError::Refused(Refusal::CategoryNotFound));
        // Divergences found in review, now one answer from both stores (PostgreSQL used to
        // say "refused by constraint listing_person_uuid_fkey"): a missing person is 404,
        // whether the listing, a wallet or an offer names them; a duplicate key is the
        // same refusal as the rule it guards.
        let ghost = Uuid::new_v4();
        let orphan = NewListing { uuid: Uuid::new_v4(), person_uuid: ghost, location: None, ..new.clone() };
        assert_eq!(store.insert_listing(&orphan, &[]).await.unwrap_err(), StoreError::Refused(Refusal::PersonNotFound));
        assert_eq!(store.listing_by_uuid(orphan.uuid).await.unwrap(), None);
        let mut nobody = poster.clone();
        nobody.uuid = ghost;
        let err = store.insert_wallet(&wallet(&nobody, "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::PersonNotFound));

        // Edit: the moved location keeps its identity; then remove it.
        let t1 = time::now();
        let patch = ListingPatch {
            title: Some("Painting fence".into()),
            price: Some(Wei(7)),
            additional_fields: Some(AdditionalFields { service_date: Some("2023-12-28".into()), condition: None }),
            location: Some(Some(location("North Ryde", t1))),
            ..Default::default()
        };
        let edited = store.update_listing(new.uuid, &patch, t1, &[]).await.unwrap();
        let moved = edited.location.clone().unwrap();
        assert_eq!((moved.uuid, moved.suburb.as_str(), moved.created_at, moved.updated_at),
                   (new.location.as_ref().unwrap().uuid, "North Ryde", at, t1));
        assert_eq!(edited.description, "Fences and walls", "untouched fields stay");
        assert_eq!(store.listing_by_uuid(new.uuid).await.unwrap(), Some(edited.clone()));
        let removed = store
            .update_listing(new.uuid, &ListingPatch { location: Some(None), ..Default::default() }, t1, &[])
            .await
            .unwrap();
        assert_eq!(removed.location, None);
        assert_eq!(store.listing_by_uuid(new.uuid).await.unwrap(), Some(removed.clone()));
        // A location added to a listing without one.
        let added = store
            .update_listing(new.uuid, &ListingPatch { location: Some(Some(location("Ryde", t1))), ..Default::default() }, t1, &[])
            .await
            .unwrap();
        assert_eq!(store.listing_by_uuid(new.uuid).await.unwrap(), Some(added));
        let err = store.update_listing(Uuid::new_v4(), &patch, t1, &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::ListingNotFound));
    }

    async fn listing_lifecycle_is_enforced_by_the_store(store) {
        let poster = person(store, "poster").await;
        let l = listing(store, &poster, ListingType::ItemSale, "Fridge", "Cold").await;
        assert_eq!(act(store, &l, ListingAction::Unpublish).await.unwrap_err(), StoreError::Refused(Refusal::ListingTransition { status: ListingStatus::Draft, action: ListingAction::Unpublish }));
        let p = act(store, &l, ListingAction::Publish).await.unwrap();
        assert_eq!(p.status, ListingStatus::Published);
        assert_eq!(act(store, &l, ListingAction::Publish).await.unwrap_err(), StoreError::Refused(Refusal::ListingTransition { status: ListingStatus::Published, action: ListingAction::Publish }));
        assert_eq!(act(store, &l, ListingAction::Unpublish).await.unwrap().status, ListingStatus::Paused);
        assert_eq!(act(store, &l, ListingAction::Publish).await.unwrap().status, ListingStatus::Published);
        assert_eq!(act(store, &l, ListingAction::Order).await.unwrap().status, ListingStatus::Ordered);
        assert_eq!(act(store, &l, ListingAction::Cancel).await.unwrap_err(), StoreError::Refused(Refusal::ListingTransition { status: ListingStatus::Ordered, action: ListingAction::Cancel }));
        let t = time::now();
        assert_eq!(
            store.update_listing(l.uuid, &ListingPatch { title: Some("x".into()), ..Default::default() }, t, &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::ListingTransition { status: ListingStatus::Ordered, action: ListingAction::Edit })
        );
        assert_eq!(act(store, &l, ListingAction::ReopenAfterOrder).await.unwrap().status, ListingStatus::Published);
        let cancelled = act(store, &l, ListingAction::Cancel).await.unwrap();
        assert_eq!(cancelled.status, ListingStatus::Cancelled);
        assert_eq!(store.listing_by_uuid(l.uuid).await.unwrap(), Some(cancelled));
        assert_eq!(act(store, &l, ListingAction::Publish).await.unwrap_err(), StoreError::Refused(Refusal::ListingTransition { status: ListingStatus::Cancelled, action: ListingAction::Publish }));
        let ghost = Listing { uuid: Uuid::new_v4(), ..l };
        assert_eq!(act(store, &ghost, ListingAction::Publish).await.unwrap_err(), StoreError::Refused(Refusal::ListingNotFound));
    }

    async fn cancelling_a_listing_cancels_its_open_offers_with_events(store) {
        let poster = person(store, "poster").await;
        let (a, b, c) = (person(store, "anna").await, person(store, "bert").await, person(store, "carl").await);
        let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
        let offered = offer(store, &l, &a).await;
        let accepted = accept(store, &offer(store, &l, &b).await).await.unwrap();
        let withdrawn = offer(store, &l, &c).await;
        store.transition_offer(withdrawn.uuid, OfferAction::Cancel, time::now(), &[], &[]).await.unwrap();
        let other = published(store, &poster, ListingType::ItemSale, "Other").await;
        let untouched = offer(store, &other, &a).await;
        let backlog = store.outbox_pending(100).await.unwrap().len();
        store.transition_listing(l.uuid, ListingAction::Cancel, time::now(), &[], &cancelled_event).await.unwrap();
        for o in [&offered, &accepted] {
            assert_eq!(store.offer_by_uuid(o.uuid).await.unwrap().unwrap().status, OfferStatus::Cancelled);
        }
        assert_eq!(store.offer_by_uuid(untouched.uuid).await.unwrap().unwrap().status, OfferStatus::Offered);
        let pending = store.outbox_pending(100).await.unwrap();
        assert_eq!(pending.len(), backlog + 2, "one offer.cancelled per cascaded offer");
        let mut cancelled: Vec<Uuid> = pending[backlog..]
            .iter()
            .map(|r| match &r.envelope.event {
                Event::OfferCancelled(c) => { assert_eq!(c.status, "CANCELLED"); c.offer_uuid }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        cancelled.sort();
        let mut expected = vec![offered.uuid, accepted.uuid];
        expected.sort();
        assert_eq!(cancelled, expected);
    }

    async fn search_filters_match_on_both_stores(store) {
        let (anna, bert) = (person(store, "anna").await, person(store, "bert").await);
        let paint = published(store, &anna, ListingType::ServiceSale, "Painting fences").await;
        let fridge = published(store, &anna, ListingType::ItemSale, "Old fridge").await;
        let draft = listing(store, &anna, ListingType::ItemSale, "Draft fridge", "not public").await;
        let wanted = listing(store, &bert, ListingType::ItemPurchase, "Wanted: a cot", "For the baby, painted white").await;
        let wanted = act(store, &wanted, ListingAction::Publish).await.unwrap();
        let paused = published(store, &bert, ListingType::ItemSale, "Paused fridge").await;
        act(store, &paused, ListingAction::Unpublish).await.unwrap();

        let find = |q: ListingQuery| async move {
            let page = store.search_listings(&q, &PageRequest { limit: 100, after: None }).await.unwrap();
            page.items.iter().map(|l| l.title.clone()).collect::<Vec<_>>()
        };
        let public = ListingQuery { published_only: true, ..Default::default() };
        assert_eq!(find(public.clone()).await, ["Wanted: a cot", "Old fridge", "Painting fences"], "published, newest first");
        let text = |q: &str| ListingQuery { q: Some(q.into()), ..public.clone() };
        assert_eq!(find(text("paint")).await, ["Wanted: a cot", "Painting fences"], "stemmed, title and description");
        assert_eq!(find(text("painted fence")).await, ["Painting fences"]);
        assert_eq!(find(text("FRIDGES")).await, ["Old fridge"]);
        assert_eq!(find(text("cot or fridge")).await, ["Wanted: a cot", "Old fridge"]);
        assert_eq!(find(text("paint -baby")).await, ["Painting fences"]);
        assert!(find(text("the")).await.is_empty(), "stop words only match nothing");
        assert!(find(text("submarine")).await.is_empty());
        let types = ListingQuery { listing_types: vec![ListingType::ItemSale, ListingType::ItemPurchase], ..public.clone() };
        assert_eq!(find(types).await, ["Wanted: a cot", "Old fridge"]);
        let by_bert = ListingQuery { person_uuid: Some(bert.uuid), ..public.clone() };
        assert_eq!(find(by_bert).await, ["Wanted: a cot"]);
        let mine = ListingQuery { person_uuid: Some(anna.uuid), published_only: false, ..Default::default() };
        assert_eq!(find(mine).await, ["Draft fridge", "Old fridge", "Painting fences"], "every status");
        let window = ListingQuery { updated_at_start: Some(fridge.updated_at), updated_at_end: Some(wanted.updated_at), ..public.clone() };
        assert_eq!(find(window).await, ["Wanted: a cot", "Old fridge"]);
        let future = ListingQuery { updated_at_start: Some(time::now() + chrono::TimeDelta::hours(1)), ..public.clone() };
        assert!(find(future).await.is_empty());
        assert!(draft.status == ListingStatus::Draft && paint.status == ListingStatus::Published);

        // Keyset paging: stable pages, null cursor on the last.
        let first = store.search_listings(&public, &PageRequest { limit: 2, after: None }).await.unwrap();
        assert_eq!(first.items.len(), 2);
        let second = store.search_listings(&public, &PageRequest { limit: 2, after: first.after }).await.unwrap();
        assert_eq!(second.items.iter().map(|l| l.title.as_str()).collect::<Vec<_>>(), ["Painting fences"]);
        assert_eq!(second.after, None);

        // One word is looked up by its lexeme (on PostgreSQL in `listing_word`, which a
        // trigger keeps): an edited title and a deleted listing change what it finds.
        let edit = ListingPatch { title: Some("Old freezer".into()), ..Default::default() };
        store.update_listing(fridge.uuid, &edit, time::now(), &[]).await.unwrap();
        assert!(find(text("fridge")).await.is_empty(), "the old title's word is gone");
        assert_eq!(find(text("FREEZERS")).await, ["Old freezer"]);
        assert_eq!(find(text("fences")).await, ["Painting fences"]);
        store.delete_listing(paint.uuid, &[]).await.unwrap();
        assert!(find(text("fences")).await.is_empty(), "a deleted listing is not found");
        assert_eq!(find(text("paint")).await, ["Wanted: a cot"]);
    }

    async fn every_filter_combination_pages_like_the_whole_list(store) {
        // The PostgreSQL store writes only the filters present (one statement per
        // combination): each combination, walked one row at a time by its cursor, gives
        // exactly its unpaged list, the rows whole (category, location) as stored.
        let (anna, bert) = (person(store, "anna").await, person(store, "bert").await);
        let at = time::now();
        let mut made = Vec::new();
        for (i, (who, kind, title)) in [
            (&anna, ListingType::ItemSale, "Old fridge"),
            (&bert, ListingType::ItemSale, "Small fridge"),
            (&anna, ListingType::ServiceSale, "Fridge repairs"),
            (&bert, ListingType::ItemPurchase, "Wanted: a fridge"),
            (&anna, ListingType::ItemSale, "Bike"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut l = listing(store, who, kind, title, "cold and clean").await;
            if i % 2 == 0 {
                let patch = ListingPatch { location: Some(Some(location("Ryde", at))), ..Default::default() };
                l = store.update_listing(l.uuid, &patch, time::now(), &[]).await.unwrap();
            }
            // Published a second apart, so that a time window is exact on both stores.
            let published_at = at + chrono::TimeDelta::seconds(i as i64 + 1);
            made.push(store.transition_listing(l.uuid, ListingAction::Publish, published_at, &[], &no_cascade).await.unwrap());
        }
        let public = ListingQuery { published_only: true, ..Default::default() };
        let queries = [
            public.clone(),
            ListingQuery { q: Some("fridge".into()), ..public.clone() },
            ListingQuery { q: Some("fridge".into()), listing_types: vec![ListingType::ItemSale], ..public.clone() },
            ListingQuery { q: Some("fridge".into()), person_uuid: Some(anna.uuid), ..public.clone() },
            ListingQuery { listing_types: vec![ListingType::ItemSale, ListingType::ServiceSale], person_uuid: Some(anna.uuid), ..public.clone() },
            ListingQuery { q: Some("fridge".into()), updated_at_start: Some(made[1].updated_at), updated_at_end: Some(made[3].updated_at), ..public.clone() },
            ListingQuery { person_uuid: Some(bert.uuid), ..Default::default() },
        ];
        let expected: [&[&str]; 7] = [
            &["Bike", "Wanted: a fridge", "Fridge repairs", "Small fridge", "Old fridge"],
            &["Wanted: a fridge", "Fridge repairs", "Small fridge", "Old fridge"],
            &["Small fridge", "Old fridge"],
            &["Fridge repairs", "Old fridge"],
            &["Bike", "Fridge repairs", "Old fridge"],
            &["Wanted: a fridge", "Fridge repairs", "Small fridge"],
            &["Wanted: a fridge", "Small fridge"],
        ];
        for (q, want) in queries.iter().zip(expected) {
            let all = store.search_listings(q, &PageRequest { limit: 100, after: None }).await.unwrap();
            assert_eq!(all.items.iter().map(|l| l.title.as_str()).collect::<Vec<_>>(), want, "{q:?}");
            for l in &all.items {
                assert_eq!(Some(l), made.iter().find(|m| m.uuid == l.uuid), "whole rows: {q:?}");
            }
            let mut walked = Vec::new();
            let mut after = None;
            loop {
                let page = store.search_listings(q, &PageRequest { limit: 1, after }).await.unwrap();
                walked.extend(page.items);
                after = page.after;
                if after.is_none() {
                    break;
                }
            }
            assert_eq!(walked, all.items, "paged one by one: {q:?}");
        }
    }

    async fn offers_follow_the_rules(store) {
        let poster = person(store, "poster").await;
        let (anna, bert) = (person(store, "anna").await, person(store, "bert").await);
        let draft = listing(store, &poster, ListingType::ItemSale, "Fridge", "Cold").await;
        assert_eq!(
            store.insert_offer(&new_offer(&draft, &anna, 5), &[], &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::ListingNotPublished { step: ListingStep::MakeOffer, status: ListingStatus::Draft })
        );
        let l = act(store, &draft, ListingAction::Publish).await.unwrap();
        let note = NewNotification::new(poster.id, poster.uuid, NotificationType::OfferReceived, "New offer", "anna offered", &[("listingUuid", l.uuid)], time::now());
        let new = new_offer(&l, &anna, 900);
        let (a, stored) = store.insert_offer(&new, std::slice::from_ref(&note), &[]).await.unwrap();
        assert_eq!((a.status, a.price, a.poster_uuid, a.listing_uuid, a.listing_type), (OfferStatus::Offered, Wei(900), poster.uuid, l.uuid, ListingType::ItemSale));
        assert_eq!(stored.len(), 1);
        assert_eq!(store.offer_by_uuid(a.uuid).await.unwrap(), Some(a.clone()));
        let notes = store.list_notifications(poster.id, &NotificationFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(notes.items, stored, "stored with the offer");
        assert_eq!(
            store.insert_offer(&new_offer(&l, &anna, 5), std::slice::from_ref(&note), &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OpenOfferExists)
        );
        assert_eq!(store.list_notifications(poster.id, &NotificationFilter::default(), &PageRequest::default()).await.unwrap().items.len(), 1, "nothing half-written");

        // Update only while OFFERED.
        let t = time::now();
        let edited = store.update_offer(a.uuid, &OfferPatch { price: Some(Wei(1_150)), comment: Some(None) }, t, &[], &[]).await.unwrap().0;
        assert_eq!((edited.price, edited.comment.clone(), edited.updated_at), (Wei(1_150), None, t));
        assert_eq!(store.offer_by_uuid(a.uuid).await.unwrap(), Some(edited));

        // One accepted offer per listing.
        let b = offer(store, &l, &bert).await;
        let accepted = accept(store, &a).await.unwrap();
        assert_eq!(accepted.status, OfferStatus::Accepted);
        assert_eq!(accept(store, &b).await.unwrap_err(), StoreError::Refused(Refusal::AcceptedOfferExists));
        assert_eq!(accept(store, &a).await.unwrap_err(), StoreError::Refused(Refusal::OfferTransition { status: OfferStatus::Accepted, action: OfferAction::Accept }));
        assert_eq!(
            store.update_offer(a.uuid, &OfferPatch::default(), t, &[], &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OfferTransition { status: OfferStatus::Accepted, action: OfferAction::Update })
        );
        // Cancelled, it frees both the listing and the person's one open offer.
        store.transition_offer(a.uuid, OfferAction::Cancel, time::now(), &[], &[]).await.unwrap();
        assert_eq!(accept(store, &b).await.unwrap().status, OfferStatus::Accepted);
        store.insert_offer(&new_offer(&l, &anna, 7), &[], &[]).await.unwrap();
        assert_eq!(
            store.transition_offer(a.uuid, OfferAction::Cancel, time::now(), &[], &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OfferTransition { status: OfferStatus::Cancelled, action: OfferAction::Cancel })
        );
        // Accepting needs a PUBLISHED listing.
        let c = offer(store, &published(store, &poster, ListingType::ItemSale, "Bike").await, &anna).await;
        let bike = store.listing_by_uuid(c.listing_uuid).await.unwrap().unwrap();
        act(store, &bike, ListingAction::Unpublish).await.unwrap();
        assert_eq!(accept(store, &c).await.unwrap_err(), StoreError::Refused(Refusal::ListingNotPublished { step: ListingStep::AcceptOffer, status: ListingStatus::Paused }));
        assert_eq!(
            store.transition_offer(Uuid::new_v4(), OfferAction::Accept, time::now(), &[], &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OfferNotFound)
        );
    }

    async fn offer_lists_show_only_what_the_viewer_may_see(store) {
        let (poster, anna, bert) = (person(store, "poster").await, person(store, "anna").await, person(store, "bert").await);
        let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
        let theirs = published(store, &bert, ListingType::ItemSale, "Bike").await;
        let a = offer(store, &l, &anna).await;
        let b = offer(store, &l, &bert).await;
        let on_bert = offer(store, &theirs, &anna).await;
        let list = |q: OfferQuery| async move {
            store.list_offers(&q, &PageRequest::default()).await.unwrap().items.iter().map(|o| o.uuid).collect::<Vec<_>>()
        };
        let q = |viewer: &Person| OfferQuery { viewer: viewer.uuid, mine_only: false, listing_uuid: None, person_uuid: None };
        assert_eq!(list(OfferQuery { listing_uuid: Some(l.uuid), ..q(&poster) }).await, [b.uuid, a.uuid], "the poster sees all, newest first");
        assert_eq!(list(OfferQuery { listing_uuid: Some(l.uuid), ..q(&anna) }).await, [a.uuid], "others only their own");
        assert_eq!(list(q(&anna)).await, [on_bert.uuid, a.uuid]);
        assert_eq!(list(q(&bert)).await, [on_bert.uuid, b.uuid], "own offers and offers on own listings");
        assert_eq!(list(OfferQuery { mine_only: true, ..q(&bert) }).await, [b.uuid]);
        assert_eq!(list(OfferQuery { person_uuid: Some(anna.uuid), ..q(&poster) }).await, [a.uuid]);
        let first = store.list_offers(&q(&anna), &PageRequest { limit: 1, after: None }).await.unwrap();
        let rest = store.list_offers(&q(&anna), &PageRequest { limit: 1, after: first.after }).await.unwrap();
        assert_eq!((first.items[0].uuid, rest.items[0].uuid, rest.after), (on_bert.uuid, a.uuid, None));
    }

    // Finding 7: unique per person (whatever the case), never across people, so a
    // stranger registering your address cannot lock you out.
    async fn wallets_are_unique_per_person_by_address_whatever_the_case(store) {
        let (anna, bert) = (person(store, "anna").await, person(store, "bert").await);
        let w1 = store.insert_wallet(&wallet(&anna, "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"), &[]).await.unwrap();
        assert_eq!(store.wallet_by_uuid(w1.uuid).await.unwrap(), Some(w1.clone()));
        let err = store.insert_wallet(&wallet(&anna, "0x2e2f5b35a9e305baf5fc5431b55797ef20721421"), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::WalletAddressTaken));
        let berts = store.insert_wallet(&wallet(&bert, "0x2e2f5b35a9e305baf5fc5431b55797ef20721421"), &[]).await.unwrap();
        store.delete_wallet(berts.uuid, &[]).await.unwrap();
        let w2 = store.insert_wallet(&wallet(&anna, "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF"), &[]).await.unwrap();
        let mine = store.list_wallets(anna.uuid, &PageRequest::default()).await.unwrap();
        assert_eq!(mine.items, [w2.clone(), w1.clone()], "most recently added first");
        assert!(store.list_wallets(bert.uuid, &PageRequest::default()).await.unwrap().items.is_empty());
        store.delete_wallet(w1.uuid, &[]).await.unwrap();
        assert_eq!(store.delete_wallet(w1.uuid, &[]).await.unwrap_err(), StoreError::Refused(Refusal::WalletNotFound));
        assert_eq!(store.list_wallets(anna.uuid, &PageRequest::default()).await.unwrap().items, [w2]);
        // The address is free again.
        store.insert_wallet(&wallet(&bert, "0x2e2f5b35a9e305baf5fc5431b55797ef20721421"), &[]).await.unwrap();
    }

    async fn one_open_order_per_offer_and_what_it_blocks(store) {
        let (_poster, buyer, l, o, order) = ordered(store).await;
        assert_eq!(order.status, OrderStatus::AwaitingPayment);
        assert_eq!(store.open_order_for_offer(o.uuid).await.unwrap(), Some(order.clone()), "reads back exactly");
        // Asking again answers the same order and writes no second event.
        let backlog = store.outbox_backlog().await.unwrap();
        let event = EventEnvelope::new(Event::ListingDeleted(metmos_engine::events::ListingChanged {
            listing_uuid: l.uuid, person_uuid: l.person_uuid, listing_type: "ITEM_SALE".into(), status: "X".into(), title: "t".into(),
        }), time::now());
        let (again, created) = store.insert_order(&new_order(&o, &l), &[event]).await.unwrap();
        assert_eq!((again, created), (order.clone(), false));
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog);

        // While it is open: no pause, edit, cancel or delete of the listing; no cancel of the offer.
        assert_eq!(act(store, &l, ListingAction::Unpublish).await.unwrap_err(), StoreError::Refused(Refusal::ListingHasOpenOrder { change: OwnerChange::Action(ListingAction::Unpublish) }));
        assert_eq!(act(store, &l, ListingAction::Cancel).await.unwrap_err(), StoreError::Refused(Refusal::ListingHasOpenOrder { change: OwnerChange::Action(ListingAction::Cancel) }));
        let patch = ListingPatch { title: Some("x".into()), ..Default::default() };
        assert_eq!(store.update_listing(l.uuid, &patch, time::now(), &[]).await.unwrap_err(), StoreError::Refused(Refusal::ListingHasOpenOrder { change: OwnerChange::Action(ListingAction::Edit) }));
        assert_eq!(store.delete_listing(l.uuid, &[]).await.unwrap_err(), StoreError::Refused(Refusal::ListingHasOpenOrder { change: OwnerChange::Delete }));
        assert_eq!(
            store.transition_offer(o.uuid, OfferAction::Cancel, time::now(), &[], &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OfferHasOpenOrder)
        );
        assert!(store.listing_by_uuid(l.uuid).await.unwrap().is_some());
        // An unpaid order holds no funds.
        assert!(!store.has_funds_in_escrow(buyer.uuid).await.unwrap());
    }

    async fn orders_need_an_accepted_offer_on_a_published_listing(store) {
        let poster = person(store, "poster").await;
        let buyer = person(store, "buyer").await;
        let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
        let o = offer(store, &l, &buyer).await;
        assert_eq!(
            store.insert_order(&new_order(&o, &l), &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::OfferNotAccepted { status: OfferStatus::Offered })
        );
        let o = accept(store, &o).await.unwrap();
        act(store, &l, ListingAction::Unpublish).await.unwrap();
        assert_eq!(
            store.insert_order(&new_order(&o, &l), &[]).await.unwrap_err(),
            StoreError::Refused(Refusal::ListingNotPublished { step: ListingStep::CreateOrder, status: ListingStatus::Paused })
        );
        assert_eq!(store.open_order_for_offer(o.uuid).await.unwrap(), None);
        let ghost = Offer { uuid: Uuid::new_v4(), ..o };
        assert_eq!(store.insert_order(&new_order(&ghost, &l), &[]).await.unwrap_err(), StoreError::Refused(Refusal::OfferNotFound));
    }

    async fn concurrent_orders_and_accepts_leave_one_winner(store) {
        let poster = person(store, "poster").await;
        let buyer = person(store, "buyer").await;
        let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
        let o = accept(store, &offer(store, &l, &buyer).await).await.unwrap();
        // Two taps on "pay" at once: one order.
        let (first, second) = (new_order(&o, &l), new_order(&o, &l));
        let (a, b) = tokio::join!(store.insert_order(&first, &[]), store.insert_order(&second, &[]));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.0.uuid, b.0.uuid, "both answer the same order");
        assert_eq!([a.1, b.1].iter().filter(|created| **created).count(), 1);
        // Two offers accepted at once on one listing: one wins, the other is refused.
        let other = published(store, &poster, ListingType::ItemSale, "Bike").await;
        let (x, y) = (offer(store, &other, &buyer).await, offer(store, &other, &person(store, "third").await).await);
        let (rx, ry) = tokio::join!(accept(store, &x), accept(store, &y));
        let outcomes = [rx.is_ok(), ry.is_ok()];
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
        let refused = if rx.is_ok() { ry } else { rx };
        assert_eq!(refused.unwrap_err(), StoreError::Refused(Refusal::AcceptedOfferExists));
    }

    async fn deleting_a_listing_takes_its_offers(store) {
        let poster = person(store, "poster").await;
        let buyer = person(store, "buyer").await;
        let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
        let o = offer(store, &l, &buyer).await;
        store.delete_listing(l.uuid, &[]).await.unwrap();
        assert_eq!(store.listing_by_uuid(l.uuid).await.unwrap(), None);
        assert_eq!(store.offer_by_uuid(o.uuid).await.unwrap(), None);
        assert_eq!(store.delete_listing(l.uuid, &[]).await.unwrap_err(), StoreError::Refused(Refusal::ListingNotFound));
    }
}

async fn locations(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM location", &[])
        .await
        .unwrap()
        .get(0)
}

/// PostgreSQL only: what the schema guarantees when rows go by cascade, and escrow
/// funds (statuses only the escrow lifecycle sets, so set here by SQL).
#[tokio::test]
async fn postgres_orders_survive_their_offer_and_people() {
    let subject = Subject::postgres().await;
    let store = subject.store.as_ref();
    let (poster, buyer, l, o, order) = ordered(store).await;
    store
        .insert_wallet(
            &wallet(&buyer, "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"),
            &[],
        )
        .await
        .unwrap();
    let client = subject.sql().await;
    let set_status = |s: &'static str| {
        let client = &client;
        async move {
            client
                .execute(
                    "UPDATE orders SET status = $1 WHERE uuid = $2",
                    &[&s, &order.uuid],
                )
                .await
                .unwrap();
        }
    };
    for (status, funded) in [
        ("PAID", true),
        ("RELEASING", true),
        ("REFUNDING", true),
        ("COMPLETED", false),
        ("EXPIRED", false),
    ] {
        set_status(status).await;
        assert_eq!(
            store.has_funds_in_escrow(buyer.uuid).await.unwrap(),
            funded,
            "{status}, payer"
        );
        assert_eq!(
            store.has_funds_in_escrow(poster.uuid).await.unwrap(),
            funded,
            "{status}, payee"
        );
    }
    assert!(!store.has_funds_in_escrow(Uuid::new_v4()).await.unwrap());
    // The order is final: the listing may go, and its offer with it; the order stays.
    store.delete_listing(l.uuid, &[]).await.unwrap();
    assert_eq!(store.offer_by_uuid(o.uuid).await.unwrap(), None);
    let row = client
        .query_one(
            "SELECT offer_id, offer_uuid, listing_uuid FROM orders WHERE uuid = $1",
            &[&order.uuid],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<i64>>(0), None, "offer_id SET NULL");
    assert_eq!(
        (row.get::<_, Uuid>(1), row.get::<_, Uuid>(2)),
        (o.uuid, l.uuid),
        "the record keeps its uuids"
    );
    // Deleting the buyer (as account deletion does) takes their wallets and listings,
    // and the locations of those listings; orders stay.
    let theirs = listing(store, &buyer, ListingType::ItemSale, "Bike", "Fast").await;
    store
        .update_listing(
            theirs.uuid,
            &ListingPatch {
                location: Some(Some(location("Ryde", time::now()))),
                ..Default::default()
            },
            time::now(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(locations(&client).await, 1);
    client
        .execute("DELETE FROM person WHERE uuid = $1", &[&buyer.uuid])
        .await
        .unwrap();
    assert!(
        store
            .list_wallets(buyer.uuid, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.listing_by_uuid(theirs.uuid).await.unwrap(), None);
    assert_eq!(
        locations(&client).await,
        0,
        "a listing's location goes with it"
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

/// PostgreSQL only: the copies a listing row carries to be shown without joins (V18, V19)
/// follow their record whoever writes it: here plain SQL, as an operator or a node of the
/// previous release would, on the location alone.
#[tokio::test]
async fn postgres_a_listing_shows_its_location_as_the_location_row_says() {
    let subject = Subject::postgres().await;
    let store = subject.store.as_ref();
    let poster = person(store, "poster").await;
    let lamp = listing(store, &poster, ListingType::ItemSale, "Lamp", "Brass").await;
    let at = time::now();
    let placed = ListingPatch {
        location: Some(Some(location("Sunnyvale", at))),
        ..Default::default()
    };
    let stored = store
        .update_listing(lamp.uuid, &placed, at, &[])
        .await
        .unwrap();
    let client = subject.sql().await;
    let place = stored.location.clone().expect("a location");

    let later = at + chrono::TimeDelta::seconds(5);
    client
        .execute(
            "UPDATE location SET suburb = 'Ryde', latitude = NULL, updated_at = $2 WHERE uuid = $1",
            &[&place.uuid, &later],
        )
        .await
        .unwrap();
    let shown = store.listing_by_uuid(lamp.uuid).await.unwrap().unwrap();
    let moved = Location {
        suburb: "Ryde".into(),
        latitude: None,
        updated_at: later,
        ..place
    };
    assert_eq!(shown.location, Some(moved), "the location edited alone");

    client
        .execute("DELETE FROM location WHERE uuid = $1", &[&place.uuid])
        .await
        .unwrap();
    let shown = store.listing_by_uuid(lamp.uuid).await.unwrap().unwrap();
    assert_eq!(shown.location, None, "the location deleted alone");
    assert_eq!(shown.category_uuid, lamp.category_uuid);
}
