use crate::conformance;
use metmos_engine::domain::people::{AccountStatus, NewAccount};
use metmos_engine::domain::time;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope};
use uuid::Uuid;

fn event(sub: &str) -> EventEnvelope {
    EventEnvelope::new(
        Event::AccountCreated(AccountCreated {
            account_uuid: Uuid::new_v4(),
            cognito_user_id: sub.into(),
            account_status: "ACTIVE".into(),
        }),
        time::now(),
    )
}

conformance! {
    async fn events_are_written_with_their_change_only(store) {
        let a = NewAccount { uuid: Uuid::new_v4(), cognito_user_id: "s1".into(), account_status: AccountStatus::Active, at: time::now() };
        let e1 = event("s1");
        store.insert_account(&a, std::slice::from_ref(&e1)).await.unwrap();
        // A refused change leaves no event behind.
        let e2 = event("s1-again");
        let dup = NewAccount { uuid: Uuid::new_v4(), ..a.clone() };
        assert!(store.insert_account(&dup, &[e2]).await.is_err());
        let pending = store.outbox_pending(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].envelope, e1, "the envelope comes back exactly");
        assert_eq!(store.outbox_backlog().await.unwrap(), 1);
        store.outbox_mark_failed(pending[0].id, "broker down").await.unwrap();
        assert_eq!(store.outbox_pending(10).await.unwrap()[0].attempts, 1);
        store.outbox_delete_published(&[pending[0].id]).await.unwrap();
        assert!(store.outbox_pending(10).await.unwrap().is_empty());
        assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    }

    async fn processed_keys_deduplicate(store) {
        assert!(store.mark_processed("orders", "evt-1").await.unwrap());
        assert!(!store.mark_processed("orders", "evt-1").await.unwrap(), "redelivery spotted");
        assert!(store.mark_processed("other-consumer", "evt-1").await.unwrap());
    }
}
