use crate::conformance;
use crate::harness::person;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::notifications::{
    NewNotification, NotificationCategory, NotificationFilter, NotificationType,
};
use metmos_engine::domain::time;
use uuid::Uuid;

conformance! {
    async fn notifications_list_newest_first_with_filters(store) {
        let p = person(store, "notified").await;
        let other = person(store, "other").await;
        let listing = Uuid::new_v4();
        let mut list = Vec::new();
        for (i, t) in [NotificationType::OfferReceived, NotificationType::ConnectionRequest, NotificationType::OfferAccepted].into_iter().enumerate() {
            list.push(NewNotification::new(p.id, p.uuid, t, format!("t{i}"), "b", &[("listingUuid", listing)], time::now()));
        }
        list.push(NewNotification::new(other.id, other.uuid, NotificationType::OfferReceived, "x", "b", &[], time::now()));
        let stored = store.insert_notifications(&list, &[]).await.unwrap();
        assert_eq!(stored.len(), 4);
        let all = store.list_notifications(p.id, &NotificationFilter::default(), &PageRequest::default()).await.unwrap();
        let titles: Vec<_> = all.items.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["t2", "t1", "t0"], "own only, newest first");
        assert_eq!(all.items[2].data["listingUuid"], listing.to_string());
        let trade = NotificationFilter { category: Some(NotificationCategory::Trade), ..Default::default() };
        let page = store.list_notifications(p.id, &trade, &PageRequest { limit: 1, after: None }).await.unwrap();
        assert_eq!(page.items[0].title, "t2");
        let page = store.list_notifications(p.id, &trade, &PageRequest { limit: 1, after: page.after }).await.unwrap();
        assert_eq!(page.items[0].title, "t0");
        assert_eq!(page.after, None);
        let future = NotificationFilter { updated_at_start: Some(time::now() + chrono::TimeDelta::hours(1)), ..Default::default() };
        assert!(store.list_notifications(p.id, &future, &PageRequest::default()).await.unwrap().items.is_empty());
    }
}
