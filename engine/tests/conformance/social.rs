//! The social store: connections and contacts, with the same answers and the same words
//! on both adapters.

use crate::conformance;
use crate::harness::person;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::connections::{ConnectionStatus, NewConnection};
use metmos_engine::domain::notifications::{NewNotification, NotificationFilter, NotificationType};
use metmos_engine::domain::people::{PeopleQuery, Person};
use metmos_engine::domain::time;
use metmos_engine::error::StoreError;
use metmos_engine::events::{Event, EventEnvelope, PersonChanged};
use metmos_engine::ports::Store;
use uuid::Uuid;

pub fn new_connection(from: &Person, to: &Person) -> NewConnection {
    NewConnection {
        uuid: Uuid::new_v4(),
        person_id: from.id,
        connection_id: to.id,
        at: time::now(),
    }
}

fn request_notification(to: &Person, connection: Uuid) -> NewNotification {
    NewNotification::new(
        to.id,
        to.uuid,
        NotificationType::ConnectionRequest,
        "New connection request",
        "x wants to connect",
        &[("connectionUuid", connection)],
        time::now(),
    )
}

/// Any event, to see whether a change wrote its events.
fn some_event(p: &Person) -> EventEnvelope {
    EventEnvelope::new(
        Event::PersonUpdated(PersonChanged {
            person_uuid: p.uuid,
            account_uuid: p.account_uuid,
            username: p.username.clone(),
        }),
        time::now(),
    )
}

/// `a` and `b` become contacts (a asks, b accepts), directly in the store.
pub async fn make_contacts(store: &dyn Store, a: &Person, b: &Person) -> i64 {
    let (c, _) = store
        .insert_connection(&new_connection(a, b), &[], &[])
        .await
        .unwrap();
    store
        .update_connection_status(
            c.id,
            ConnectionStatus::Pending,
            ConnectionStatus::Accepted,
            time::now(),
            &[],
            &[],
        )
        .await
        .unwrap();
    c.id
}

async fn notification_count(store: &dyn Store, p: &Person) -> usize {
    store
        .list_notifications(
            p.id,
            &NotificationFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .len()
}

fn all() -> PageRequest {
    PageRequest {
        limit: 100,
        after: None,
    }
}

conformance! {
    async fn connection_round_trip_with_notification(store) {
        let alice = person(store, "alice").await;
        let bob = person(store, "bob").await;
        let new = new_connection(&alice, &bob);
        let backlog = store.outbox_backlog().await.unwrap();
        let (c, stored) = store
            .insert_connection(&new, &[request_notification(&bob, new.uuid)], &[some_event(&alice)])
            .await
            .unwrap();
        assert_eq!(c.uuid, new.uuid);
        assert_eq!((c.person_id, c.person_uuid), (alice.id, alice.uuid));
        assert_eq!((c.connection_id, c.connection_person_uuid), (bob.id, bob.uuid));
        assert_eq!(c.status, ConnectionStatus::Pending);
        assert_eq!((c.requested_at, c.created_at, c.updated_at), (new.at, new.at, new.at));
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].person_id, bob.id);
        assert_eq!(notification_count(store, &bob).await, 1, "stored with the change");
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1, "event recorded with the change");
        assert_eq!(store.connection_by_uuid(new.uuid).await.unwrap(), Some(c.clone()));
        assert_eq!(store.connection_by_uuid(Uuid::new_v4()).await.unwrap(), None);
        assert!(!store.are_contacts(alice.id, bob.id).await.unwrap(), "pending is not contact");

        let at = time::now();
        let (accepted, stored) = store
            .update_connection_status(c.id, ConnectionStatus::Pending, ConnectionStatus::Accepted, at, &[request_notification(&alice, c.uuid)], &[])
            .await
            .unwrap();
        assert_eq!(accepted.status, ConnectionStatus::Accepted);
        assert_eq!(accepted.updated_at, at);
        assert_eq!(accepted.created_at, c.created_at);
        assert_eq!(stored.len(), 1);
        assert!(store.are_contacts(alice.id, bob.id).await.unwrap());
        assert!(store.are_contacts(bob.id, alice.id).await.unwrap(), "either direction");
        assert_eq!(store.connection_by_uuid(c.uuid).await.unwrap(), Some(accepted));
    }

    async fn one_live_connection_per_pair_in_either_direction(store) {
        let alice = person(store, "alice").await;
        let bob = person(store, "bob").await;
        let (c, _) = store.insert_connection(&new_connection(&alice, &bob), &[], &[]).await.unwrap();
        let exists = StoreError::Conflict("A connection between these people already exists".into());
        // The refused insert leaves nothing: no row, no notification, no event.
        let backlog = store.outbox_backlog().await.unwrap();
        let dup = new_connection(&bob, &alice);
        let err = store.insert_connection(&dup, &[request_notification(&alice, dup.uuid)], &[some_event(&bob)]).await.unwrap_err();
        assert_eq!(err, exists);
        assert_eq!(notification_count(store, &alice).await, 0);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog);
        assert_eq!(store.connection_by_uuid(dup.uuid).await.unwrap(), None);
        assert_eq!(store.insert_connection(&new_connection(&alice, &bob), &[], &[]).await.unwrap_err(), exists);

        store.update_connection_status(c.id, ConnectionStatus::Pending, ConnectionStatus::Accepted, time::now(), &[], &[]).await.unwrap();
        assert_eq!(store.insert_connection(&new_connection(&bob, &alice), &[], &[]).await.unwrap_err(), exists);

        // A rejected one blocks nothing.
        let carol = person(store, "carol").await;
        let (r, _) = store.insert_connection(&new_connection(&carol, &alice), &[], &[]).await.unwrap();
        store.update_connection_status(r.id, ConnectionStatus::Pending, ConnectionStatus::Rejected, time::now(), &[], &[]).await.unwrap();
        let (again, _) = store.insert_connection(&new_connection(&carol, &alice), &[], &[]).await.unwrap();
        assert_eq!(again.status, ConnectionStatus::Pending);
        assert!(!store.are_contacts(carol.id, alice.id).await.unwrap());

        // Unknown persons.
        let mut ghost = carol.clone();
        ghost.id = 999_999;
        let err = store.insert_connection(&new_connection(&alice, &ghost), &[], &[]).await.unwrap_err();
        assert_eq!(err, StoreError::NotFound("Person not found".into()));
    }

    async fn status_change_is_compare_and_set(store) {
        let alice = person(store, "alice").await;
        let bob = person(store, "bob").await;
        let (c, _) = store.insert_connection(&new_connection(&alice, &bob), &[], &[]).await.unwrap();
        store.update_connection_status(c.id, ConnectionStatus::Pending, ConnectionStatus::Rejected, time::now(), &[], &[]).await.unwrap();
        // A second answer decided on the PENDING row it read loses, and leaves nothing.
        let backlog = store.outbox_backlog().await.unwrap();
        let err = store
            .update_connection_status(c.id, ConnectionStatus::Pending, ConnectionStatus::Accepted, time::now(), &[request_notification(&alice, c.uuid)], &[some_event(&bob)])
            .await
            .unwrap_err();
        assert_eq!(err, StoreError::Conflict("Connection request is not pending".into()));
        assert_eq!(notification_count(store, &alice).await, 0);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog);
        assert_eq!(store.connection_by_uuid(c.uuid).await.unwrap().unwrap().status, ConnectionStatus::Rejected);
        let err = store.update_connection_status(987_654, ConnectionStatus::Pending, ConnectionStatus::Accepted, time::now(), &[], &[]).await.unwrap_err();
        assert_eq!(err, StoreError::NotFound("Connection not found".into()));
    }

    async fn connections_list_both_directions_newest_first(store) {
        let me = person(store, "myself").await;
        let a = person(store, "aaa").await;
        let b = person(store, "bbb").await;
        let c = person(store, "ccc").await;
        store.insert_connection(&new_connection(&me, &a), &[], &[]).await.unwrap();
        make_contacts(store, &b, &me).await;
        store.insert_connection(&new_connection(&me, &c), &[], &[]).await.unwrap();
        store.insert_connection(&new_connection(&a, &b), &[], &[]).await.unwrap();
        let page = store.list_connections(me.id, None, &all()).await.unwrap();
        let others: Vec<_> = page.items.iter().map(|e| e.other.username.as_str()).collect();
        assert_eq!(others, ["ccc", "bbb", "aaa"]);
        assert_eq!(page.items[1].other, b, "the other person in full, as stored");
        assert_eq!(page.after, None);
        let pending = store.list_connections(me.id, Some(ConnectionStatus::Pending), &all()).await.unwrap();
        assert_eq!(pending.items.len(), 2);
        let accepted = store.list_connections(me.id, Some(ConnectionStatus::Accepted), &all()).await.unwrap();
        assert_eq!(accepted.items[0].connection.person_id, b.id);
        let p1 = store.list_connections(me.id, None, &PageRequest { limit: 2, after: None }).await.unwrap();
        assert_eq!(p1.items.len(), 2);
        assert_eq!(p1.after, Some(p1.items[1].connection.id));
        let p2 = store.list_connections(me.id, None, &PageRequest { limit: 2, after: p1.after }).await.unwrap();
        assert_eq!(p2.items.len(), 1);
        assert_eq!(p2.items[0].other.username, "aaa");
        assert_eq!(p2.after, None);
    }

    async fn contacts_are_accepted_connections_searchable(store) {
        let me = person(store, "myself").await;
        let mary = person(store, "mary").await;
        let maryanne = person(store, "maryanne").await;
        let bob = person(store, "bob").await;
        let pending = person(store, "marypending").await;
        make_contacts(store, &me, &mary).await;
        let second = make_contacts(store, &maryanne, &me).await;
        make_contacts(store, &bob, &me).await;
        store.insert_connection(&new_connection(&me, &pending), &[], &[]).await.unwrap();
        let q = |s: &str| PeopleQuery { q: Some(s.into()) };
        let names = |p: &metmos_engine::domain::Page<Person>| p.items.iter().map(|x| x.username.clone()).collect::<Vec<_>>();
        let everyone = store.list_contacts(me.id, &PeopleQuery { q: None }, &all()).await.unwrap();
        assert_eq!(names(&everyone), ["bob", "maryanne", "mary"]);
        assert_eq!(names(&store.list_contacts(me.id, &q("MARY"), &all()).await.unwrap()), ["maryanne", "mary"]);
        assert_eq!(names(&store.list_contacts(me.id, &q("mary@example.com"), &all()).await.unwrap()), ["mary"]);
        assert!(store.list_contacts(me.id, &q("example.com"), &all()).await.unwrap().items.is_empty());
        assert!(store.list_contacts(me.id, &q("%"), &all()).await.unwrap().items.is_empty(), "LIKE wildcards are literal");
        let p1 = store.list_contacts(me.id, &PeopleQuery { q: None }, &PageRequest { limit: 2, after: None }).await.unwrap();
        assert_eq!(p1.after, Some(second), "the cursor is the connection id");
        let p2 = store.list_contacts(me.id, &PeopleQuery { q: None }, &PageRequest { limit: 2, after: p1.after }).await.unwrap();
        assert_eq!(names(&p2), ["mary"]);
        assert_eq!(p2.after, None);
        assert_eq!(names(&store.list_contacts(mary.id, &PeopleQuery { q: None }, &all()).await.unwrap()), ["myself"]);
    }

    async fn removing_a_contact_deletes_the_accepted_row(store) {
        let alice = person(store, "alice").await;
        let bob = person(store, "bob").await;
        make_contacts(store, &alice, &bob).await;
        let backlog = store.outbox_backlog().await.unwrap();
        let removed = store.delete_contact(bob.id, alice.id, &[some_event(&bob)]).await.unwrap();
        assert_eq!(removed.status, ConnectionStatus::Accepted);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1);
        assert!(!store.are_contacts(alice.id, bob.id).await.unwrap());
        assert_eq!(store.connection_by_uuid(removed.uuid).await.unwrap(), None);
        let not_found = StoreError::NotFound("Contact not found".into());
        assert_eq!(store.delete_contact(alice.id, bob.id, &[]).await.unwrap_err(), not_found);
        // Pending is not a contact; it is not removed.
        let (p, _) = store.insert_connection(&new_connection(&alice, &bob), &[], &[]).await.unwrap();
        assert_eq!(store.delete_contact(alice.id, bob.id, &[some_event(&alice)]).await.unwrap_err(), not_found);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1, "no event for a refused removal");
        assert!(store.connection_by_uuid(p.uuid).await.unwrap().is_some());
    }
}
