//! The order lifecycle store on both adapters: every step with its effects on offer and
//! listing, chain event dedupe and payment rows, replays, removals, stale versions and
//! concurrent steps.

use crate::conformance;
use crate::harness::person;
use crate::market::{accept, offer, ordered, published};
use alloy_primitives::{Address, B256, U256};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::listing::ListingStatus;
use metmos_engine::domain::market::ListingType;
use metmos_engine::domain::notifications::{NewNotification, NotificationType};
use metmos_engine::domain::offer::OfferStatus;
use metmos_engine::domain::order::{
    ChainEventRecord, ChainTouch, Order, OrderAction, OrderChange, OrderChangeOutcome, OrderQuery,
    OrderRole, OrderStatus, Payment, PaymentKind,
};
use metmos_engine::domain::people::Person;
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::domain::time;
use metmos_engine::error::StoreError;
use metmos_engine::ports::Store;
use uuid::Uuid;

fn change(o: &Order, action: OrderAction, chain: ChainTouch) -> OrderChange {
    OrderChange {
        order_id: o.id,
        expected_version: o.version,
        action,
        chain,
        notifications: vec![],
        events: vec![],
        at: time::now(),
    }
}

fn record(tx: u8, index: u64, order: &Order, applied: bool) -> ChainEventRecord {
    ChainEventRecord {
        tx_hash: B256::repeat_byte(tx),
        log_index: index,
        block_hash: B256::repeat_byte(0xbb),
        block_number: 5,
        event_type: "OrderPaid".into(),
        order_id: Some(order.id),
        payload: serde_json::json!({"amount": order.quote.amount.0.to_string()}),
        applied,
        rejected_reason: (!applied).then(|| "the amount is wrong".to_string()),
        at: time::now(),
    }
}

fn payment(tx: u8, index: u64, order: &Order, kind: PaymentKind) -> Payment {
    Payment {
        uuid: Uuid::new_v4(),
        kind,
        tx_hash: B256::repeat_byte(tx),
        log_index: index,
        block_number: 5,
        from: order.quote.payer,
        to: Address::repeat_byte(0xcc),
        value: U256::from(order.quote.amount.0),
    }
}

async fn step(store: &dyn Store, o: &Order, action: OrderAction, chain: ChainTouch) -> Order {
    match store.apply_order_change(&change(o, action, chain)).await {
        Ok(OrderChangeOutcome::Applied { order, .. }) => order,
        other => panic!("{action:?} on {}: {other:?}", o.status),
    }
}

async fn statuses(store: &dyn Store, o: &Order) -> (OrderStatus, OfferStatus, ListingStatus) {
    let order = store.order_by_uuid(o.uuid).await.unwrap().unwrap();
    let offer = store.offer_by_uuid(o.offer_uuid).await.unwrap().unwrap();
    let listing = store
        .listing_by_uuid(o.listing_uuid)
        .await
        .unwrap()
        .unwrap();
    (order.status, offer.status, listing.status)
}

fn note(p: &Person, o: &Order, kind: NotificationType) -> NewNotification {
    NewNotification::new(
        p.id,
        p.uuid,
        kind,
        "t",
        "b",
        &[("orderUuid", o.uuid)],
        time::now(),
    )
}

conformance! {
    async fn a_paid_order_completes_with_its_offer_and_listing(store) {
        let (poster, buyer, l, _o, order) = ordered(store).await;
        let rival = offer(store, &l, &person(store, "rival").await).await;
        let mut pay = change(&order, OrderAction::Pay, ChainTouch::Record(record(1, 0, &order, true), Some(payment(1, 0, &order, PaymentKind::Payment))));
        pay.notifications = vec![note(&poster, &order, NotificationType::PaymentConfirmed), note(&buyer, &order, NotificationType::PaymentConfirmed)];
        let OrderChangeOutcome::Applied { order: paid, notifications } = store.apply_order_change(&pay).await.unwrap() else { panic!("applied") };
        assert_eq!(notifications.len(), 2, "stored with the step");
        assert_eq!((paid.status, paid.version), (OrderStatus::Paid, order.version + 1));
        assert_eq!(statuses(store, &order).await, (OrderStatus::Paid, OfferStatus::Paid, ListingStatus::Ordered));
        assert_eq!(store.offer_by_uuid(rival.uuid).await.unwrap().unwrap().status, OfferStatus::Cancelled, "the other open offers end");
        let cancelled: Vec<_> = store.outbox_pending(10_000).await.unwrap().into_iter().filter_map(|row| match row.envelope.event {
            metmos_engine::events::Event::OfferCancelled(o) => Some(o),
            _ => None,
        }).collect();
        assert_eq!(cancelled.len(), 1, "one offer.cancelled, for the rival only: {cancelled:?}");
        assert_eq!((cancelled[0].offer_uuid, cancelled[0].person_uuid, cancelled[0].status.as_str()), (rival.uuid, rival.person_uuid, "CANCELLED"));
        assert_eq!((cancelled[0].listing_uuid, cancelled[0].poster_uuid), (l.uuid, l.person_uuid));
        let releasing = step(store, &paid, OrderAction::Complete, ChainTouch::None).await;
        assert_eq!(statuses(store, &order).await, (OrderStatus::Releasing, OfferStatus::Paid, ListingStatus::Ordered));
        step(store, &releasing, OrderAction::Released, ChainTouch::Record(record(2, 0, &order, true), Some(payment(2, 0, &order, PaymentKind::Release)))).await;
        assert_eq!(statuses(store, &order).await, (OrderStatus::Completed, OfferStatus::Completed, ListingStatus::Completed));
        let kinds: Vec<_> = store.payments_of(order.id).await.unwrap().into_iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PaymentKind::Payment, PaymentKind::Release]);
        assert!(store.unfinished_orders().await.unwrap().is_empty());
    }

    async fn a_refunded_order_reopens_its_listing_and_unpaid_ones_just_end(store) {
        let (_poster, _buyer, _l, _o, order) = ordered(store).await;
        let paid = step(store, &order, OrderAction::Pay, ChainTouch::Record(record(1, 0, &order, true), None)).await;
        let refunding = step(store, &paid, OrderAction::Cancel, ChainTouch::None).await;
        assert_eq!(refunding.status, OrderStatus::Refunding);
        step(store, &refunding, OrderAction::Refunded, ChainTouch::Record(record(2, 0, &order, true), None)).await;
        assert_eq!(statuses(store, &order).await, (OrderStatus::Cancelled, OfferStatus::Cancelled, ListingStatus::Published));

        // Unpaid: cancelled or expired, the offer stays ACCEPTED and the listing free.
        for (i, action) in [OrderAction::Cancel, OrderAction::Expire].into_iter().enumerate() {
            let (poster, buyer) = (person(store, &format!("poster{i}")).await, person(store, &format!("buyer{i}")).await);
            let l = published(store, &poster, ListingType::ItemSale, "Fridge").await;
            let o = accept(store, &offer(store, &l, &buyer).await).await.unwrap();
            let (order, _) = store.insert_order(&crate::market::new_order(&o, &l), &[]).await.unwrap();
            let ended = step(store, &order, action, ChainTouch::None).await;
            assert!(ended.status.is_final());
            assert_eq!(statuses(store, &order).await.1, OfferStatus::Accepted);
            assert!(store.open_order_for_offer(order.offer_uuid).await.unwrap().is_none(), "a new order may be made");
        }
    }

    async fn refused_steps_and_stale_versions_write_nothing(store) {
        let (_poster, _buyer, _l, _o, order) = ordered(store).await;
        let err = store.apply_order_change(&change(&order, OrderAction::Complete, ChainTouch::None)).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::OrderTransition { status: OrderStatus::AwaitingPayment, verb: "complete" }));
        let paid = step(store, &order, OrderAction::Pay, ChainTouch::None).await;
        // Decided on the old version: refused, even though the step would now be allowed.
        let err = store.apply_order_change(&change(&order, OrderAction::Cancel, ChainTouch::None)).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::OrderChanged));
        assert_eq!(store.order_by_uuid(order.uuid).await.unwrap().unwrap().version, paid.version);
        let missing = Order { id: i64::MAX, ..order.clone() };
        assert_eq!(store.apply_order_change(&change(&missing, OrderAction::Pay, ChainTouch::None)).await.unwrap_err(), StoreError::Refused(Refusal::OrderNotFound));
    }

    async fn two_steps_decided_on_one_version_leave_one_winner(store) {
        let (_poster, _buyer, _l, _o, order) = ordered(store).await;
        let paid = step(store, &order, OrderAction::Pay, ChainTouch::None).await;
        let (complete, cancel) = (change(&paid, OrderAction::Complete, ChainTouch::None), change(&paid, OrderAction::Cancel, ChainTouch::None));
        let (a, b) = tokio::join!(store.apply_order_change(&complete), store.apply_order_change(&cancel));
        let oks = [a.is_ok(), b.is_ok()];
        assert_eq!(oks.iter().filter(|ok| **ok).count(), 1, "{oks:?}");
        let loser = if a.is_ok() { b } else { a };
        assert_eq!(loser.unwrap_err(), StoreError::Refused(Refusal::OrderChanged));
        let now = store.order_by_uuid(order.uuid).await.unwrap().unwrap();
        assert!([OrderStatus::Releasing, OrderStatus::Refunding].contains(&now.status));
        assert_eq!(now.version, paid.version + 1);
    }

    async fn chain_events_apply_once_and_a_removed_one_can_apply_again(store) {
        let (_poster, _buyer, _l, _o, order) = ordered(store).await;
        let pay = |o: &Order| ChainTouch::Record(record(1, 0, o, true), Some(payment(1, 0, o, PaymentKind::Payment)));
        let paid = step(store, &order, OrderAction::Pay, pay(&order)).await;
        // The same log again, even decided on the current version: a replay, nothing written.
        assert_eq!(store.apply_order_change(&change(&paid, OrderAction::Released, pay(&paid))).await.unwrap(), OrderChangeOutcome::Replay);
        assert_eq!(store.order_by_uuid(order.uuid).await.unwrap().unwrap().version, paid.version);
        assert_eq!(store.payments_of(order.id).await.unwrap().len(), 1);
        let rec = store.chain_event(B256::repeat_byte(1), 0).await.unwrap().expect("dedupe row");
        assert!(rec.applied);
        assert_eq!((rec.event_type.as_str(), rec.order_id, rec.block_number), ("OrderPaid", Some(order.id), 5));
        assert!(!store.record_chain_event(&record(1, 0, &order, false), &[]).await.unwrap(), "already recorded");
        // A reorg removes it: undone, rows dropped; the re-mined log applies again.
        let undone = step(store, &paid, OrderAction::UndoPay, ChainTouch::Removed { tx_hash: B256::repeat_byte(1), log_index: 0 }).await;
        assert_eq!(statuses(store, &order).await, (OrderStatus::AwaitingPayment, OfferStatus::Accepted, ListingStatus::Published));
        assert!(store.chain_event(B256::repeat_byte(1), 0).await.unwrap().is_none());
        assert!(store.payments_of(order.id).await.unwrap().is_empty());
        step(store, &undone, OrderAction::Pay, pay(&undone)).await;
        assert_eq!(statuses(store, &order).await.0, OrderStatus::Paid);
        // Rejected logs are recorded, not applied, and can be forgotten on removal.
        assert!(store.record_chain_event(&record(9, 1, &order, false), &[]).await.unwrap());
        let rec = store.chain_event(B256::repeat_byte(9), 1).await.unwrap().unwrap();
        assert_eq!((rec.applied, rec.rejected_reason.as_deref()), (false, Some("the amount is wrong")));
        assert!(store.forget_chain_event(B256::repeat_byte(9), 1).await.unwrap());
        assert!(!store.forget_chain_event(B256::repeat_byte(9), 1).await.unwrap());
    }

    async fn orders_are_listed_by_role_and_status_and_found_by_escrow_id(store) {
        let (poster, buyer, _l, _o, order) = ordered(store).await;
        let l2 = published(store, &poster, ListingType::ItemSale, "Bike").await;
        let o2 = accept(store, &offer(store, &l2, &buyer).await).await.unwrap();
        let (second, _) = store.insert_order(&crate::market::new_order(&o2, &l2), &[]).await.unwrap();
        step(store, &second, OrderAction::Pay, ChainTouch::None).await;
        let page = PageRequest { limit: 10, after: None };
        let uuids = |q: OrderQuery| async move { store.list_orders(&q, &page).await.unwrap().items.into_iter().map(|o| o.uuid).collect::<Vec<_>>() };
        assert_eq!(uuids(OrderQuery { person: buyer.uuid, role: Some(OrderRole::Payer), status: None }).await, [second.uuid, order.uuid]);
        assert_eq!(uuids(OrderQuery { person: buyer.uuid, role: Some(OrderRole::Payee), status: None }).await, Vec::<Uuid>::new());
        assert_eq!(uuids(OrderQuery { person: poster.uuid, role: None, status: Some(OrderStatus::Paid) }).await, [second.uuid]);
        let one = PageRequest { limit: 1, after: None };
        let p1 = store.list_orders(&OrderQuery { person: poster.uuid, role: None, status: None }, &one).await.unwrap();
        assert_eq!(p1.items[0].uuid, second.uuid);
        let p2 = store.list_orders(&OrderQuery { person: poster.uuid, role: None, status: None }, &PageRequest { limit: 1, after: p1.after }).await.unwrap();
        assert_eq!(p2.items[0].uuid, order.uuid);
        assert_eq!(store.order_by_escrow_id(order.quote.order_id).await.unwrap().unwrap().uuid, order.uuid);
        assert!(store.order_by_escrow_id(B256::ZERO).await.unwrap().is_none());
        let unfinished: Vec<_> = store.unfinished_orders().await.unwrap().into_iter().map(|o| o.uuid).collect();
        assert_eq!(unfinished, [order.uuid, second.uuid]);
    }
}
