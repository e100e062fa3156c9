//! The social store: connections and contacts, experiences and reactions, with the same
//! answers and the same words on both adapters.

use crate::conformance;
use crate::harness::person;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::connections::{ConnectionStatus, NewConnection};
use metmos_engine::domain::experiences::{
    Experience, ExperienceFilter, NewExperience, NewReaction, ReactionScope, ReactionType,
    Visibility,
};
use metmos_engine::domain::notifications::{NewNotification, NotificationFilter, NotificationType};
use metmos_engine::domain::people::{PeopleQuery, Person};
use metmos_engine::domain::refusal::Refusal;
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
        cooldown_days: 0,
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

pub async fn experience(
    store: &dyn Store,
    by: &Person,
    content: &str,
    visibility: Visibility,
) -> Experience {
    let new = NewExperience {
        uuid: Uuid::new_v4(),
        person_id: by.id,
        content: content.into(),
        visibility,
        at: time::now(),
    };
    store.insert_experience(&new, &[]).await.unwrap()
}

pub fn new_reaction(
    by: &Person,
    on: &Experience,
    reaction_type: ReactionType,
    content: Option<&str>,
) -> NewReaction {
    NewReaction {
        uuid: Uuid::new_v4(),
        person_id: by.id,
        experience_id: on.id,
        reaction_type,
        content: content.map(str::to_string),
        at: time::now(),
    }
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
        let exists = StoreError::Refused(Refusal::ConnectionExists);
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

        // A rejected one blocks nothing without a cooldown.
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
        assert_eq!(err, StoreError::Refused(Refusal::PersonNotFound));
    }

    // Finding 8: after a rejection the same requester is refused for the cooldown, and
    // the refused request leaves nothing (no row, no notification, no event); the
    // target may still ask the requester, and the cooldown ends.
    async fn a_rejected_requester_waits_for_the_cooldown(store) {
        let (dave, erin) = (person(store, "dave").await, person(store, "erin").await);
        let (r, _) = store.insert_connection(&new_connection(&dave, &erin), &[], &[]).await.unwrap();
        let rejected_at = time::now();
        store.update_connection_status(r.id, ConnectionStatus::Pending, ConnectionStatus::Rejected, rejected_at, &[], &[]).await.unwrap();
        let backlog = store.outbox_backlog().await.unwrap();
        let mut retry = new_connection(&dave, &erin);
        retry.cooldown_days = 7;
        let err = store.insert_connection(&retry, &[request_notification(&erin, retry.uuid)], &[some_event(&dave)]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::RerequestCooldown { days: 7 }));
        assert_eq!(notification_count(store, &erin).await, 0, "no notification for a refused request");
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog);
        assert_eq!(store.connection_by_uuid(retry.uuid).await.unwrap(), None);
        // Eight days on, the same request goes through.
        let mut later = new_connection(&dave, &erin);
        later.cooldown_days = 7;
        later.at = rejected_at + chrono::Duration::days(8);
        let (c, _) = store.insert_connection(&later, &[], &[]).await.unwrap();
        store.update_connection_status(c.id, ConnectionStatus::Pending, ConnectionStatus::Rejected, time::now(), &[], &[]).await.unwrap();
        // The one who rejected may ask the other way.
        let mut other_way = new_connection(&erin, &dave);
        other_way.cooldown_days = 7;
        store.insert_connection(&other_way, &[], &[]).await.unwrap();
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
        assert_eq!(err, StoreError::Refused(Refusal::ConnectionNotPending));
        assert_eq!(notification_count(store, &alice).await, 0);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog);
        assert_eq!(store.connection_by_uuid(c.uuid).await.unwrap().unwrap().status, ConnectionStatus::Rejected);
        let err = store.update_connection_status(987_654, ConnectionStatus::Pending, ConnectionStatus::Accepted, time::now(), &[], &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::ConnectionNotFound));
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
        let not_found = StoreError::Refused(Refusal::ContactNotFound);
        assert_eq!(store.delete_contact(alice.id, bob.id, &[]).await.unwrap_err(), not_found);
        // Pending is not a contact; it is not removed.
        let (p, _) = store.insert_connection(&new_connection(&alice, &bob), &[], &[]).await.unwrap();
        assert_eq!(store.delete_contact(alice.id, bob.id, &[some_event(&alice)]).await.unwrap_err(), not_found);
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1, "no event for a refused removal");
        assert!(store.connection_by_uuid(p.uuid).await.unwrap().is_some());
    }

    async fn experiences_round_trip_and_list_by_visibility(store) {
        let owner = person(store, "owner").await;
        let contact = person(store, "contact").await;
        let stranger = person(store, "stranger").await;
        make_contacts(store, &contact, &owner).await;
        let new = NewExperience { uuid: Uuid::new_v4(), person_id: owner.id, content: "hello".into(), visibility: Visibility::Public, at: time::now() };
        let backlog = store.outbox_backlog().await.unwrap();
        let public = store.insert_experience(&new, &[some_event(&owner)]).await.unwrap();
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1);
        assert_eq!((public.uuid, public.person_id, public.person_uuid), (new.uuid, owner.id, owner.uuid));
        assert_eq!((public.content.as_str(), public.visibility), ("hello", Visibility::Public));
        assert_eq!((public.created_at, public.updated_at), (new.at, new.at));
        assert_eq!(store.experience_by_uuid(new.uuid).await.unwrap(), Some(public.clone()));
        assert_eq!(store.experience_by_uuid(Uuid::new_v4()).await.unwrap(), None);
        let private = experience(store, &owner, "contacts only", Visibility::ContactOnly).await;
        let strangers_own = experience(store, &stranger, "mine", Visibility::ContactOnly).await;

        let seen = |viewer: i64, filter: ExperienceFilter| async move {
            store.list_experiences(viewer, &filter, &all()).await.unwrap().items.into_iter().map(|e| e.content).collect::<Vec<_>>()
        };
        assert_eq!(seen(owner.id, ExperienceFilter::default()).await, ["contacts only", "hello"], "own, not a stranger's contact-only");
        assert_eq!(seen(contact.id, ExperienceFilter::default()).await, ["contacts only", "hello"]);
        assert_eq!(seen(stranger.id, ExperienceFilter::default()).await, ["mine", "hello"]);
        let by_owner = ExperienceFilter { person_uuid: Some(owner.uuid), ..Default::default() };
        assert_eq!(seen(stranger.id, by_owner.clone()).await, ["hello"]);
        assert_eq!(seen(contact.id, by_owner).await, ["contacts only", "hello"]);
        let window = ExperienceFilter { created_at_start: Some(private.created_at), created_at_end: Some(strangers_own.created_at), ..Default::default() };
        let in_window = seen(owner.id, window).await;
        assert!(in_window.contains(&"contacts only".to_string()) && !in_window.contains(&"mine".to_string()), "{in_window:?}");
        let p1 = store.list_experiences(stranger.id, &ExperienceFilter::default(), &PageRequest { limit: 1, after: None }).await.unwrap();
        assert_eq!(p1.after, Some(strangers_own.id));
        let p2 = store.list_experiences(stranger.id, &ExperienceFilter::default(), &PageRequest { limit: 1, after: p1.after }).await.unwrap();
        assert_eq!(p2.items, vec![public]);
        assert_eq!(p2.after, None);

        let mut ghost = owner.clone();
        ghost.id = 999_999;
        let err = store.insert_experience(&NewExperience { person_id: ghost.id, ..new }, &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::PersonNotFound));
    }

    async fn likes_are_stored_once(store) {
        let owner = person(store, "owner").await;
        let fan = person(store, "fan").await;
        let e = experience(store, &owner, "post", Visibility::Public).await;
        let like = new_reaction(&fan, &e, ReactionType::Like, None);
        let (first, created) = store.insert_reaction(&like, &[some_event(&fan)]).await.unwrap();
        assert!(created);
        assert_eq!((first.uuid, first.person_uuid, first.experience_uuid), (like.uuid, fan.uuid, e.uuid));
        assert_eq!((first.reaction_type, first.content.clone()), (ReactionType::Like, None));
        let backlog = store.outbox_backlog().await.unwrap();
        let (again, created) = store.insert_reaction(&new_reaction(&fan, &e, ReactionType::Like, None), &[some_event(&fan)]).await.unwrap();
        assert!(!created);
        assert_eq!(again, first, "the existing like");
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog, "no event for a repeated like");
        // Comments are unlimited, beside the like.
        for _ in 0..2 {
            let (c, created) = store.insert_reaction(&new_reaction(&fan, &e, ReactionType::Comment, Some("hi")), &[]).await.unwrap();
            assert!(created);
            assert_eq!(c.content.as_deref(), Some("hi"));
        }
        let page = store.list_reactions(e.id, owner.id, ReactionScope::All, &all()).await.unwrap();
        assert_eq!(page.items.len(), 3);
        assert_eq!(store.reaction_by_uuid(first.uuid).await.unwrap(), Some(first.clone()));

        let mut gone = e.clone();
        gone.id = 999_999;
        let err = store.insert_reaction(&new_reaction(&fan, &gone, ReactionType::Like, None), &[]).await.unwrap_err();
        assert_eq!(err, StoreError::Refused(Refusal::ExperienceNotFound));

        store.delete_reaction(first.id, &[]).await.unwrap();
        assert_eq!(store.reaction_by_uuid(first.uuid).await.unwrap(), None);
        assert_eq!(store.delete_reaction(first.id, &[]).await.unwrap_err(), StoreError::Refused(Refusal::ReactionNotFound));
        let (fresh, created) = store.insert_reaction(&new_reaction(&fan, &e, ReactionType::Like, None), &[]).await.unwrap();
        assert!(created && fresh.uuid != first.uuid);
    }

    async fn reaction_scope_owner_all_others_own_and_contacts(store) {
        let owner = person(store, "owner").await;
        let viewer = person(store, "viewer").await;
        let friend = person(store, "friend").await;
        let outsider = person(store, "outsider").await;
        make_contacts(store, &viewer, &friend).await;
        let e = experience(store, &owner, "post", Visibility::Public).await;
        for (who, text) in [(&viewer, "v"), (&friend, "f"), (&outsider, "o"), (&owner, "w")] {
            store.insert_reaction(&new_reaction(who, &e, ReactionType::Comment, Some(text)), &[]).await.unwrap();
        }
        let texts = |p: metmos_engine::domain::Page<metmos_engine::domain::experiences::Reaction>| p.items.into_iter().filter_map(|r| r.content).collect::<Vec<_>>();
        assert_eq!(texts(store.list_reactions(e.id, owner.id, ReactionScope::All, &all()).await.unwrap()), ["w", "o", "f", "v"]);
        assert_eq!(texts(store.list_reactions(e.id, viewer.id, ReactionScope::OwnAndContacts, &all()).await.unwrap()), ["f", "v"]);
        assert_eq!(texts(store.list_reactions(e.id, outsider.id, ReactionScope::OwnAndContacts, &all()).await.unwrap()), ["o"]);
        let p1 = store.list_reactions(e.id, owner.id, ReactionScope::All, &PageRequest { limit: 3, after: None }).await.unwrap();
        let p2 = store.list_reactions(e.id, owner.id, ReactionScope::All, &PageRequest { limit: 3, after: p1.after }).await.unwrap();
        assert_eq!(texts(p2.clone()), ["v"]);
        assert_eq!(p2.after, None);
    }

    async fn deleting_an_experience_takes_its_reactions(store) {
        let owner = person(store, "owner").await;
        let fan = person(store, "fan").await;
        let e = experience(store, &owner, "post", Visibility::Public).await;
        let keep = experience(store, &owner, "other", Visibility::Public).await;
        let (r, _) = store.insert_reaction(&new_reaction(&fan, &e, ReactionType::Like, None), &[]).await.unwrap();
        let (kept, _) = store.insert_reaction(&new_reaction(&fan, &keep, ReactionType::Like, None), &[]).await.unwrap();
        let backlog = store.outbox_backlog().await.unwrap();
        store.delete_experience(e.id, &[some_event(&owner)]).await.unwrap();
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1);
        assert_eq!(store.experience_by_uuid(e.uuid).await.unwrap(), None);
        assert_eq!(store.reaction_by_uuid(r.uuid).await.unwrap(), None, "reactions go with it");
        assert_eq!(store.reaction_by_uuid(kept.uuid).await.unwrap(), Some(kept), "others' stay");
        assert_eq!(store.delete_experience(e.id, &[]).await.unwrap_err(), StoreError::Refused(Refusal::ExperienceNotFound));
    }

    async fn deleting_an_account_takes_everything_of_theirs_in_one_go(store) {
        let gone = person(store, "gone").await;
        let bob = person(store, "bob").await;
        let carol = person(store, "carol").await;
        make_contacts(store, &gone, &bob).await;
        make_contacts(store, &bob, &carol).await;
        store.insert_connection(&new_connection(&carol, &gone), &[request_notification(&gone, Uuid::new_v4())], &[]).await.unwrap();
        let theirs = experience(store, &gone, "theirs", Visibility::Public).await;
        let bobs = experience(store, &bob, "bob's", Visibility::Public).await;
        let (on_theirs, _) = store.insert_reaction(&new_reaction(&bob, &theirs, ReactionType::Like, None), &[]).await.unwrap();
        let (by_them, _) = store.insert_reaction(&new_reaction(&gone, &bobs, ReactionType::Comment, Some("hi")), &[]).await.unwrap();
        let (by_carol, _) = store.insert_reaction(&new_reaction(&carol, &bobs, ReactionType::Comment, Some("yo")), &[]).await.unwrap();
        store.insert_notifications(&[request_notification(&bob, Uuid::new_v4())], &[]).await.unwrap();

        let backlog = store.outbox_backlog().await.unwrap();
        store.delete_account(gone.account_id, &[some_event(&gone)]).await.unwrap();
        assert_eq!(store.outbox_backlog().await.unwrap(), backlog + 1, "the event with the deletion");
        assert_eq!(store.account_by_uuid(gone.account_uuid).await.unwrap(), None);
        assert_eq!(store.person_by_uuid(gone.uuid).await.unwrap(), None);
        assert!(store.list_connections(gone.id, None, &all()).await.unwrap().items.is_empty());
        assert!(!store.are_contacts(gone.id, bob.id).await.unwrap());
        let carols = store.list_connections(carol.id, None, &all()).await.unwrap();
        assert_eq!(carols.items.len(), 1, "only carol and bob's remains");
        assert_eq!(carols.items[0].other.uuid, bob.uuid);
        assert_eq!(store.experience_by_uuid(theirs.uuid).await.unwrap(), None);
        assert_eq!(store.reaction_by_uuid(on_theirs.uuid).await.unwrap(), None, "reactions on their experience");
        assert_eq!(store.reaction_by_uuid(by_them.uuid).await.unwrap(), None, "their reactions elsewhere");
        assert!(store.reaction_by_uuid(by_carol.uuid).await.unwrap().is_some());
        assert!(store.experience_by_uuid(bobs.uuid).await.unwrap().is_some());
        assert_eq!(notification_count(store, &gone).await, 0);
        assert_eq!(notification_count(store, &bob).await, 1, "others' notifications stay");

        assert_eq!(store.delete_account(gone.account_id, &[]).await.unwrap_err(), StoreError::Refused(Refusal::AccountNotFound));
        // An account whose person was never created goes alone.
        let lonely = metmos_engine::domain::people::NewAccount {
            uuid: Uuid::new_v4(),
            cognito_user_id: "lonely".into(),
            account_status: metmos_engine::domain::people::AccountStatus::Pending,
            at: time::now(),
        };
        let lonely = store.insert_account(&lonely, &[]).await.unwrap();
        store.delete_account(lonely.id, &[]).await.unwrap();
        assert!(store.caller_by_cognito_id("lonely").await.unwrap().is_none());
        assert!(store.person_by_uuid(bob.uuid).await.unwrap().is_some());
    }
}
