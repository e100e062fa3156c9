//! Realtime stores: chats (one per pair key), messages (seq, idempotent uuid, history),
//! devices (one per push token) and ws_connection rows with node leases.

use crate::conformance;
use crate::harness::person;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::chat::{
    Chat, ChatFilter, ChatType, MessageFilter, MessageInsert, NewChat, NewMessage,
};
use metmos_engine::domain::devices::{DeviceType, NewDevice, PlatformType};
use metmos_engine::domain::people::Person;
use metmos_engine::domain::read_state::ReadPosition;
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::domain::time;
use metmos_engine::domain::ws_connections::{NewWsConnection, WsConnectionStatus};
use metmos_engine::error::StoreError;
use metmos_engine::ports::Store;
use uuid::Uuid;

fn new_chat(a: &Person, b: &Person) -> NewChat {
    NewChat::contact(a, b, time::now())
}

pub(crate) fn new_message(
    chat_id: i64,
    chat_uuid: Uuid,
    sender: &Person,
    uuid: Uuid,
    text: &str,
) -> NewMessage {
    NewMessage {
        uuid,
        chat_id,
        chat_uuid,
        sender_id: sender.id,
        sender_uuid: sender.uuid,
        message_content: text.into(),
        asset_uuids: vec![Uuid::new_v4()],
        at: time::now(),
        contact_of: None,
    }
}

pub(crate) fn sent(m: &NewMessage) -> metmos_engine::events::EventEnvelope {
    metmos_engine::events::EventEnvelope::new(
        metmos_engine::events::Event::MessageSent(metmos_engine::events::MessageSent {
            message_uuid: m.uuid,
            chat_uuid: m.chat_uuid,
            sender_person_uuid: m.sender_uuid,
            asset_count: m.asset_uuids.len(),
        }),
        m.at,
    )
}

fn new_device(p: &Person, token: &str) -> NewDevice {
    NewDevice {
        uuid: Uuid::new_v4(),
        person_id: p.id,
        device_type: DeviceType::Phone,
        platform_type: PlatformType::Android,
        platform_version: "14".into(),
        model_name: "Pixel 8".into(),
        push_token: token.into(),
        at: time::now(),
    }
}

fn new_conn(p: &Person, id: &str, node: Option<Uuid>) -> NewWsConnection {
    NewWsConnection {
        uuid: Uuid::new_v4(),
        ws_conn_id: id.into(),
        person_id: p.id,
        node_id: node,
        at: time::now(),
    }
}

/// Alice and Bob are contacts, Carol is not Alice's: their chats `ab` and `ac`.
async fn contacts_and_a_stranger(store: &dyn Store) -> (Person, Person, Person, Chat, Chat) {
    let a = person(store, "alice").await;
    let b = person(store, "bob").await;
    let c = person(store, "carol").await;
    crate::social::make_contacts(store, &a, &b).await;
    let ab = store
        .create_chat(&new_chat(&a, &b), &[])
        .await
        .unwrap()
        .chat;
    let ac = store
        .create_chat(&new_chat(&a, &c), &[])
        .await
        .unwrap()
        .chat;
    (a, b, c, ab, ac)
}

async fn outbox_len(store: &dyn Store) -> usize {
    store.outbox_pending(1000).await.unwrap().len()
}

conformance! {
    // Batches (group commit on PostgreSQL): many messages stored at once, each with its
    // own outcome.
    async fn concurrent_messages_in_many_chats_get_gapless_seqs_per_chat(store) {
        let mut people = Vec::new();
        for i in 0..12 {
            people.push(person(store, &format!("person{i}")).await);
        }
        let mut chats = Vec::new();
        for pair in people.chunks(2) {
            chats.push(store.create_chat(&new_chat(&pair[0], &pair[1]), &[]).await.unwrap().chat);
        }
        // 6 chats x 25 messages, all in flight at once, both sides of each chat sending.
        let mut all = Vec::new();
        for (k, chat) in chats.iter().enumerate() {
            for i in 0..25 {
                let sender = &people[2 * k + i % 2];
                all.push(new_message(chat.id, chat.uuid, sender, Uuid::new_v4(), &format!("c{k} m{i}")));
            }
        }
        let outcomes = futures_util::future::join_all(all.iter().map(|m| async move { let e = sent(m); store.insert_message(m, std::slice::from_ref(&e)).await })).await;
        for (m, outcome) in all.iter().zip(&outcomes) {
            let stored = outcome.as_ref().unwrap();
            assert!(stored.is_created());
            assert_eq!((stored.message().uuid, stored.message().chat_id), (m.uuid, m.chat_id));
        }
        for chat in &chats {
            let page = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest { limit: 100, after: None }).await.unwrap();
            assert_eq!(page.items.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=25).collect::<Vec<i64>>(), "gapless");
            // Each acked seq is the stored one.
            for m in &page.items {
                let acked = outcomes.iter().flatten().find(|o| o.message().uuid == m.uuid).unwrap();
                assert_eq!(acked.message(), m);
            }
        }
        assert_eq!(outbox_len(store).await, 150, "one event per stored message");
    }

    async fn a_rooms_batch_is_stored_in_its_order_with_an_outcome_each(store) {
        let (a, b, c, ab, ac) = contacts_and_a_stranger(store).await;
        let taken = Uuid::new_v4();
        store.insert_message(&new_message(ac.id, ac.uuid, &a, taken, "elsewhere"), &[]).await.unwrap();
        let u = Uuid::new_v4();
        let mut contact = new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "to a contact");
        contact.contact_of = Some(b.id);
        let batch = [
            new_message(ab.id, ab.uuid, &a, u, "one"),
            new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "two"),
            new_message(ab.id, ab.uuid, &a, u, "one"),
            new_message(ab.id, ab.uuid, &b, taken, "uuid of another chat"),
            contact,
            new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "three"),
        ];
        let with_events: Vec<_> = batch.iter().map(|m| (m.clone(), vec![sent(m)])).collect();
        // Several rooms at once, as the writers see them: each batch stays in its order.
        let others: Vec<Vec<_>> = (0..4)
            .map(|k| {
                (0..20)
                    .map(|i| {
                        let m = new_message(ac.id, ac.uuid, if i % 2 == 0 { &a } else { &c }, Uuid::new_v4(), &format!("b{k} m{i}"));
                        let e = sent(&m);
                        (m, vec![e])
                    })
                    .collect()
            })
            .collect();
        let (outcomes, other_outcomes) = tokio::join!(
            store.insert_messages(with_events),
            futures_util::future::join_all(others.iter().map(|b| store.insert_messages(b.clone()))),
        );
        assert_eq!(outcomes.len(), batch.len(), "an outcome per message");
        let seq = |i: usize| match &outcomes[i] {
            Ok(MessageInsert::Created(m)) => m.seq,
            other => panic!("message {i} not created: {other:?}"),
        };
        assert_eq!([seq(0), seq(1), seq(4), seq(5)], [1, 2, 3, 4], "seqs follow the batch's order");
        let Ok(MessageInsert::Created(first)) = &outcomes[0] else { unreachable!() };
        assert_eq!(outcomes[2], Ok(MessageInsert::Existing(first.clone())), "a resend in its own batch");
        assert_eq!(outcomes[3], Err(StoreError::Refused(Refusal::MessageUuidTaken)));
        let page = store.list_messages(ab.id, &MessageFilter::default(), &PageRequest::default()).await.unwrap();
        let texts: Vec<&str> = page.items.iter().map(|m| m.message_content.as_str()).collect();
        assert_eq!(texts, ["one", "two", "to a contact", "three"]);
        // The other rooms' batches: each one's seqs ascend in its order, gapless overall.
        let mut all_seqs = Vec::new();
        for batch_outcomes in &other_outcomes {
            let seqs: Vec<i64> = batch_outcomes.iter().map(|o| o.as_ref().unwrap().message().seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
            all_seqs.extend(seqs);
        }
        all_seqs.sort();
        assert_eq!(all_seqs, (2..=81).collect::<Vec<i64>>(), "after the first message of ac");
        assert_eq!(outbox_len(store).await, 4 + 80, "one event per stored message");
    }

    async fn a_resend_in_the_same_batch_as_its_original_is_stored_once(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let chat = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let u = Uuid::new_v4();
        let original = new_message(chat.id, chat.uuid, &a, u, "hello");
        let resend = new_message(chat.id, chat.uuid, &a, u, "hello");
        let thief = new_message(chat.id, chat.uuid, &b, u, "mine");
        let other = new_message(chat.id, chat.uuid, &b, Uuid::new_v4(), "hi");
        let batch = [&original, &resend, &thief, &other];
        let outcomes = futures_util::future::join_all(batch.iter().map(|m| async move { let e = sent(m); store.insert_message(m, std::slice::from_ref(&e)).await })).await;
        let MessageInsert::Created(first) = outcomes[0].clone().unwrap() else { panic!("created") };
        assert_eq!(outcomes[1], Ok(MessageInsert::Existing(first.clone())));
        assert_eq!(outcomes[2], Err(StoreError::Refused(Refusal::MessageUuidTaken)));
        let MessageInsert::Created(second) = outcomes[3].clone().unwrap() else { panic!("created") };
        let mut seqs = [first.seq, second.seq];
        seqs.sort();
        assert_eq!(seqs, [1, 2]);
        let page = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(page.items.len(), 2, "the uuid is stored once");
        assert_eq!(outbox_len(store).await, 2, "no event for a resend or a refusal");
    }

    async fn a_refused_message_in_a_batch_does_not_affect_the_others(store) {
        let (a, b, c, ab, ac) = contacts_and_a_stranger(store).await;
        let taken = Uuid::new_v4();
        store.insert_message(&new_message(ab.id, ab.uuid, &a, taken, "first"), &[]).await.unwrap();
        let mut contacts = new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "to a contact");
        contacts.contact_of = Some(b.id);
        let mut strangers = new_message(ac.id, ac.uuid, &a, Uuid::new_v4(), "to a stranger");
        strangers.contact_of = Some(c.id);
        let no_chat = new_message(999_999, Uuid::new_v4(), &a, Uuid::new_v4(), "nowhere");
        let stolen = new_message(ac.id, ac.uuid, &c, taken, "uuid taken");
        let listing_like = new_message(ac.id, ac.uuid, &c, Uuid::new_v4(), "no contact check");
        let batch = [&contacts, &strangers, &no_chat, &stolen, &listing_like];
        let outcomes = futures_util::future::join_all(batch.iter().map(|m| async move { let e = sent(m); store.insert_message(m, std::slice::from_ref(&e)).await })).await;
        assert_eq!(outcomes[0].as_ref().unwrap().message().seq, 2);
        assert_eq!(outcomes[1], Err(StoreError::Refused(Refusal::ChatNotFound)), "not contacts");
        assert_eq!(outcomes[2], Err(StoreError::Refused(Refusal::ChatNotFound)), "no such chat");
        assert_eq!(outcomes[3], Err(StoreError::Refused(Refusal::MessageUuidTaken)));
        assert_eq!(outcomes[4].as_ref().unwrap().message().seq, 1, "the refused one took no seq");
        assert_eq!(outbox_len(store).await, 2);
        // The other side's account gone: the chat is the sender's alone, it may post.
        let mut ghost = new_message(ac.id, ac.uuid, &a, Uuid::new_v4(), "to nobody");
        ghost.contact_of = Some(999_999);
        assert_eq!(store.insert_message(&ghost, &[]).await.unwrap().message().seq, 2);
    }

    // `message` has no foreign keys on PostgreSQL (V17): the store keeps what they kept.
    async fn a_gone_senders_messages_stay_without_them_and_new_ones_are_refused(store) {
        let (a, b, _c, ab, _ac) = contacts_and_a_stranger(store).await;
        let before = new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "before");
        store.insert_message(&before, &[]).await.unwrap();
        store.delete_account(a.account_id, &[]).await.unwrap();
        let page = store.list_messages(ab.id, &MessageFilter::default(), &PageRequest::default()).await.unwrap();
        let kept: Vec<_> = page.items.iter().map(|m| (m.uuid, m.sender_id, m.sender_uuid)).collect();
        assert_eq!(kept, [(before.uuid, None, a.uuid)], "their message stays, attributed by uuid");
        // A message of theirs still on its way to the store is refused, alone in its batch.
        let late = new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "after");
        let bobs = new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "still here");
        let outcomes = futures_util::future::join_all([&late, &bobs].iter().map(|m| async move { let e = sent(m); store.insert_message(m, std::slice::from_ref(&e)).await })).await;
        assert_eq!(outcomes[0], Err(StoreError::Refused(Refusal::PersonNotFound)));
        assert_eq!(outcomes[1].as_ref().unwrap().message().seq, 2);
        assert_eq!(outbox_len(store).await, 1, "only the stored message's event");
    }

    async fn a_pair_has_one_chat_and_its_participants(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = person(store, "carol").await;
        let event = metmos_engine::events::EventEnvelope::new(
            metmos_engine::events::Event::ChatCreated(metmos_engine::events::ChatCreated {
                chat_uuid: Uuid::nil(), chat_type: "CONTACT".into(), listing_uuid: None, participant_uuids: vec![],
            }),
            time::now(),
        );
        let first = store.create_chat(&new_chat(&a, &b), std::slice::from_ref(&event)).await.unwrap();
        assert!(first.created);
        assert_eq!(outbox_len(store).await, 1);
        // The other direction is the same pair: the existing chat, nothing written.
        let second = store.create_chat(&new_chat(&b, &a), std::slice::from_ref(&event)).await.unwrap();
        assert!(!second.created);
        assert_eq!(second.chat, first.chat);
        assert_eq!(outbox_len(store).await, 1, "no event for a chat not created");
        assert_eq!(store.chat_by_uuid(first.chat.uuid).await.unwrap(), Some(first.chat.clone()));
        assert_eq!(store.chat_by_uuid(Uuid::new_v4()).await.unwrap(), None);
        let people: Vec<Uuid> = store.chat_participants(first.chat.id).await.unwrap().iter().map(|p| p.uuid).collect();
        assert_eq!(people, [a.uuid, b.uuid]);
        assert!(store.is_participant(first.chat.id, a.id).await.unwrap());
        assert!(!store.is_participant(first.chat.id, c.id).await.unwrap());
        let mut ghost = new_chat(&a, &c);
        ghost.participant_ids.push(999_999);
        assert_eq!(store.create_chat(&ghost, &[]).await.unwrap_err(), StoreError::Refused(Refusal::PersonNotFound));
        assert!(store.list_chats(c.id, &ChatFilter::default(), &PageRequest::default()).await.unwrap().items.is_empty(), "nothing half-written");
    }

    async fn messages_get_seq_and_a_uuid_is_stored_once(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = person(store, "carol").await;
        let ab = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let ac = store.create_chat(&new_chat(&a, &c), &[]).await.unwrap().chat;
        let u1 = Uuid::new_v4();
        let m1 = store.insert_message(&new_message(ab.id, ab.uuid, &a, u1, "one"), &[]).await.unwrap();
        let MessageInsert::Created(m1) = m1 else { panic!("created") };
        assert_eq!((m1.seq, m1.chat_uuid, m1.sender_id), (1, ab.uuid, Some(a.id)));
        let m2 = store.insert_message(&new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "two"), &[]).await.unwrap();
        assert_eq!(m2.message().seq, 2);
        // Resend: the original, nothing new.
        let again = store.insert_message(&new_message(ab.id, ab.uuid, &a, u1, "one (edited?)"), &[]).await.unwrap();
        assert_eq!(again, MessageInsert::Existing(m1.clone()));
        // Same uuid by the other participant, or in another chat: refused.
        let taken = StoreError::Refused(Refusal::MessageUuidTaken);
        assert_eq!(store.insert_message(&new_message(ab.id, ab.uuid, &b, u1, "x"), &[]).await.unwrap_err(), taken);
        assert_eq!(store.insert_message(&new_message(ac.id, ac.uuid, &a, u1, "x"), &[]).await.unwrap_err(), taken);
        // Refusals and resends took no seq; each chat counts on its own.
        let m3 = store.insert_message(&new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "three"), &[]).await.unwrap();
        assert_eq!(m3.message().seq, 3);
        let other = store.insert_message(&new_message(ac.id, ac.uuid, &a, Uuid::new_v4(), "hi carol"), &[]).await.unwrap();
        assert_eq!(other.message().seq, 1);
        assert_eq!(store.insert_message(&new_message(999_999, Uuid::new_v4(), &a, Uuid::new_v4(), "x"), &[]).await.unwrap_err(), StoreError::Refused(Refusal::ChatNotFound));
        assert_eq!(store.last_message(ab.id).await.unwrap().map(|m| m.seq), Some(3));
        // The chat's activity moves with its messages.
        assert_eq!(store.chat_by_uuid(ab.uuid).await.unwrap().unwrap().updated_at, m3.message().created_at);
    }

    async fn history_is_oldest_first_paged_by_seq_and_filtered_by_time(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let chat = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let base = time::now();
        for i in 0..5 {
            let mut m = new_message(chat.id, chat.uuid, &a, Uuid::new_v4(), &format!("m{i}"));
            m.at = base + chrono::TimeDelta::seconds(i);
            store.insert_message(&m, &[]).await.unwrap();
        }
        let all = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest::default()).await.unwrap();
        let texts: Vec<&str> = all.items.iter().map(|m| m.message_content.as_str()).collect();
        assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4"]);
        assert_eq!(all.items[0].asset_uuids.len(), 1, "asset uuids come back");
        let p1 = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest { limit: 2, after: None }).await.unwrap();
        assert_eq!(p1.after, Some(2));
        let p2 = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest { limit: 2, after: p1.after }).await.unwrap();
        assert_eq!(p2.items.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 4]);
        let p3 = store.list_messages(chat.id, &MessageFilter::default(), &PageRequest { limit: 2, after: p2.after }).await.unwrap();
        assert_eq!((p3.items.len(), p3.after), (1, None));
        let window = MessageFilter {
            updated_at_start: Some(base + chrono::TimeDelta::seconds(1)),
            updated_at_end: Some(base + chrono::TimeDelta::seconds(3)),
        };
        let w = store.list_messages(chat.id, &window, &PageRequest::default()).await.unwrap();
        assert_eq!(w.items.iter().map(|m| m.seq).collect::<Vec<_>>(), [2, 3, 4]);
    }

    async fn a_time_window_pages_by_its_cursor(store) {
        // The cursor and the window together (one statement shape of their own on
        // PostgreSQL): the window's messages, page by page, none twice.
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let chat = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let base = time::now();
        for i in 0..6 {
            let mut m = new_message(chat.id, chat.uuid, &a, Uuid::new_v4(), &format!("m{i}"));
            m.at = base + chrono::TimeDelta::seconds(i);
            store.insert_message(&m, &[]).await.unwrap();
        }
        let window = MessageFilter {
            updated_at_start: Some(base + chrono::TimeDelta::seconds(1)),
            updated_at_end: Some(base + chrono::TimeDelta::seconds(4)),
        };
        let p1 = store.list_messages(chat.id, &window, &PageRequest { limit: 3, after: None }).await.unwrap();
        assert_eq!((p1.items.iter().map(|m| m.seq).collect::<Vec<_>>(), p1.after), (vec![2, 3, 4], Some(4)));
        let p2 = store.list_messages(chat.id, &window, &PageRequest { limit: 3, after: p1.after }).await.unwrap();
        assert_eq!((p2.items.iter().map(|m| m.seq).collect::<Vec<_>>(), p2.after), (vec![5], None));
        let from = MessageFilter { updated_at_start: Some(base + chrono::TimeDelta::seconds(4)), updated_at_end: None };
        let tail = store.list_messages(chat.id, &from, &PageRequest { limit: 1, after: Some(5) }).await.unwrap();
        assert_eq!((tail.items.iter().map(|m| m.seq).collect::<Vec<_>>(), tail.after), (vec![6], None));
        let until = MessageFilter { updated_at_start: None, updated_at_end: Some(base + chrono::TimeDelta::seconds(1)) };
        let head = store.list_messages(chat.id, &until, &PageRequest { limit: 5, after: Some(1) }).await.unwrap();
        assert_eq!(head.items.iter().map(|m| m.seq).collect::<Vec<_>>(), [2]);
    }

    async fn chat_list_pages_each_chat_with_its_own_newest_message(store) {
        // The newest message is per chat (not the newest overall, not the first), also
        // on a page after the first and under a type filter.
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = person(store, "carol").await;
        let d = person(store, "dave").await;
        let ab = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let ac = store.create_chat(&new_chat(&a, &c), &[]).await.unwrap().chat;
        let ad = store.create_chat(&new_chat(&a, &d), &[]).await.unwrap().chat;
        for (chat, texts) in [(&ab, ["ab1", "ab2", "ab3"]), (&ac, ["ac1", "ac2", "ac3"])] {
            for t in texts {
                store.insert_message(&new_message(chat.id, chat.uuid, &a, Uuid::new_v4(), t), &[]).await.unwrap();
            }
        }
        store.insert_message(&new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "ab4"), &[]).await.unwrap();
        let contacts = ChatFilter { chat_type: Some(ChatType::Contact), listing_uuid: None };
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_chats(a.id, &contacts, &PageRequest { limit: 2, after }).await.unwrap();
            seen.extend(page.items.into_iter().map(|s| (s.chat.uuid, s.last_message.map(|m| (m.message_content, m.chat_uuid)), s.participants.len())));
            after = page.after;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(
            seen,
            [
                (ad.uuid, None, 2),
                (ac.uuid, Some(("ac3".to_string(), ac.uuid)), 2),
                (ab.uuid, Some(("ab4".to_string(), ab.uuid)), 2),
            ]
        );
        let listings_only = ChatFilter { chat_type: Some(ChatType::Listing), listing_uuid: None };
        assert!(store.list_chats(a.id, &listings_only, &PageRequest { limit: 2, after: Some(ac.id) }).await.unwrap().items.is_empty());
    }

    async fn a_chat_is_found_for_its_participants_only(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = person(store, "carol").await;
        let ab = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        for who in [&a, &b] {
            assert_eq!(store.chat_of_participant(ab.uuid, who.id).await.unwrap().map(|c| c.id), Some(ab.id));
        }
        assert!(store.chat_of_participant(ab.uuid, c.id).await.unwrap().is_none(), "not carol's");
        assert!(store.chat_of_participant(Uuid::new_v4(), a.id).await.unwrap().is_none(), "no such chat");
    }

    async fn chat_lists_show_participants_and_the_last_message(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = person(store, "carol").await;
        let ab = store.create_chat(&new_chat(&a, &b), &[]).await.unwrap().chat;
        let mut listing = new_chat(&a, &c);
        listing.chat_type = ChatType::Listing;
        let listing_uuid = Uuid::new_v4();
        listing.listing_uuid = Some(listing_uuid);
        listing.pair_key = Some(metmos_engine::domain::chat::listing_pair_key(listing_uuid, c.uuid));
        let ac = store.create_chat(&listing, &[]).await.unwrap().chat;
        store.insert_message(&new_message(ab.id, ab.uuid, &b, Uuid::new_v4(), "old"), &[]).await.unwrap();
        store.insert_message(&new_message(ab.id, ab.uuid, &a, Uuid::new_v4(), "new"), &[]).await.unwrap();
        let mine = store.list_chats(a.id, &ChatFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(mine.items.iter().map(|s| s.chat.uuid).collect::<Vec<_>>(), [ac.uuid, ab.uuid]);
        assert_eq!(mine.items[1].last_message.as_ref().map(|m| m.message_content.as_str()), Some("new"));
        assert_eq!(mine.items[1].participants.iter().map(|p| p.uuid).collect::<Vec<_>>(), [a.uuid, b.uuid]);
        assert!(mine.items[0].last_message.is_none());
        // Each chat comes with the lister's read state (unread counts need no query).
        let reader = |s: &metmos_engine::domain::chat::ChatSummary| s.reader.map(|r| (r.chat_id, r.chat_uuid, r.last_seq, r.read_seq));
        assert_eq!(mine.items.iter().map(reader).collect::<Vec<_>>(), [Some((ac.id, ac.uuid, 0, 0)), Some((ab.id, ab.uuid, 2, 0))]);
        store.save_read_positions(&[ReadPosition { chat_id: ab.id, person_id: b.id, seq: 1 }]).await.unwrap();
        let bobs = store.list_chats(b.id, &ChatFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(bobs.items.iter().map(reader).collect::<Vec<_>>(), [Some((ab.id, ab.uuid, 2, 1))]);
        let only_listing = ChatFilter { chat_type: Some(ChatType::Listing), listing_uuid: None };
        assert_eq!(store.list_chats(a.id, &only_listing, &PageRequest::default()).await.unwrap().items.len(), 1);
        let by_listing = ChatFilter { chat_type: None, listing_uuid: Some(listing_uuid) };
        let found = store.list_chats(c.id, &by_listing, &PageRequest::default()).await.unwrap();
        assert_eq!(found.items[0].chat.uuid, ac.uuid);
        let page = store.list_chats(a.id, &ChatFilter::default(), &PageRequest { limit: 1, after: None }).await.unwrap();
        assert_eq!(page.after, Some(ac.id));
        let next = store.list_chats(a.id, &ChatFilter::default(), &PageRequest { limit: 1, after: page.after }).await.unwrap();
        assert_eq!((next.items[0].chat.uuid, next.after), (ab.uuid, None));
        assert!(store.list_chats(b.id, &by_listing, &PageRequest::default()).await.unwrap().items.is_empty());
    }

    async fn a_push_token_is_one_device_and_dead_ones_are_disabled(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let d1 = store.upsert_device(&new_device(&a, "tok-1")).await.unwrap();
        assert_eq!((d1.person_uuid, d1.device_type, d1.platform_type), (a.uuid, DeviceType::Phone, PlatformType::Android));
        let d2 = store.upsert_device(&new_device(&a, "tok-2")).await.unwrap();
        assert_eq!(store.push_devices(a.uuid, 20).await.unwrap().iter().map(|d| d.uuid).collect::<Vec<_>>(), [d2.uuid, d1.uuid], "most recent first");
        assert_eq!(store.push_devices(a.uuid, 1).await.unwrap().len(), 1);
        // Disabled: no more pushes; a token re-registered meanwhile is not disabled.
        assert!(store.disable_device(d1.id, "tok-1", time::now()).await.unwrap());
        assert!(!store.disable_device(d1.id, "tok-1", time::now()).await.unwrap(), "once");
        assert!(!store.disable_device(d2.id, "other-token", time::now()).await.unwrap());
        assert_eq!(store.push_devices(a.uuid, 20).await.unwrap().iter().map(|d| d.uuid).collect::<Vec<_>>(), [d2.uuid]);
        // Bob registers tok-1: the same device, his now, enabled again.
        let moved = store.upsert_device(&new_device(&b, "tok-1")).await.unwrap();
        assert_eq!((moved.uuid, moved.person_id, moved.disabled_at), (d1.uuid, b.id, None));
        assert_eq!(store.push_devices(b.uuid, 20).await.unwrap().len(), 1);
        assert_eq!(store.push_devices(a.uuid, 20).await.unwrap().len(), 1);
        let mut ghost = new_device(&a, "tok-3");
        ghost.person_id = 999_999;
        assert_eq!(store.upsert_device(&ghost).await.unwrap_err(), StoreError::Refused(Refusal::PersonNotFound));
    }

    async fn ws_connection_rows_and_node_leases(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let me = Uuid::new_v4();
        let dead = Uuid::new_v4();
        let live = Uuid::new_v4();
        let c1 = store.insert_ws_connection(&new_conn(&a, "c1", Some(me))).await.unwrap();
        assert_eq!((c1.status, c1.disconnected_at, c1.person_uuid, c1.node_id), (WsConnectionStatus::Connected, None, a.uuid, Some(me)));
        assert_eq!(store.insert_ws_connection(&new_conn(&b, "c1", None)).await.unwrap_err(), StoreError::Refused(Refusal::WsConnectionExists));
        let closed = store.disconnect_ws_connection("c1", time::now()).await.unwrap();
        assert_eq!(closed.status, WsConnectionStatus::Disconnected);
        let at = closed.disconnected_at.expect("disconnectedAt");
        let again = store.disconnect_ws_connection("c1", time::now() + chrono::TimeDelta::seconds(5)).await.unwrap();
        assert_eq!(again.disconnected_at, Some(at), "the first time stays");
        assert_eq!(store.disconnect_ws_connection("nope", time::now()).await.unwrap_err(), StoreError::Refused(Refusal::WsConnectionNotFound));
        assert_eq!(store.ws_connection_by_conn_id("c1").await.unwrap().map(|c| c.uuid), Some(c1.uuid));

        store.insert_ws_connection(&new_conn(&a, "c2", Some(me))).await.unwrap();
        store.insert_ws_connection(&new_conn(&a, "c3", Some(dead))).await.unwrap();
        store.insert_ws_connection(&new_conn(&a, "c4", Some(live))).await.unwrap();
        store.insert_ws_connection(&new_conn(&b, "c5", None)).await.unwrap();
        let mine = store.list_ws_connections(a.id, None, &PageRequest::default()).await.unwrap();
        assert_eq!(mine.items.iter().map(|c| c.ws_conn_id.as_str()).collect::<Vec<_>>(), ["c4", "c3", "c2", "c1"]);
        let open = store.list_ws_connections(a.id, Some(WsConnectionStatus::Connected), &PageRequest { limit: 2, after: None }).await.unwrap();
        assert_eq!(open.items.len(), 2);
        let rest = store.list_ws_connections(a.id, Some(WsConnectionStatus::Connected), &PageRequest { limit: 2, after: open.after }).await.unwrap();
        assert_eq!((rest.items[0].ws_conn_id.as_str(), rest.after), ("c2", None));

        // Crash recovery: my rows from before my start close; a row of now stays.
        let later = time::now() + chrono::TimeDelta::seconds(1);
        assert_eq!(store.disconnect_node(me, time::now() - chrono::TimeDelta::hours(1), later).await.unwrap(), 0);
        assert_eq!(store.disconnect_node(me, later, later).await.unwrap(), 1);
        // Leases: the dead node's expired, the live one's did not.
        let now = time::now();
        store.renew_node_lease(dead, now - chrono::TimeDelta::seconds(1), now).await.unwrap();
        store.renew_node_lease(live, now + chrono::TimeDelta::seconds(30), now).await.unwrap();
        assert_eq!(store.reap_expired_nodes(now).await.unwrap(), 1);
        assert_eq!(store.reap_expired_nodes(now).await.unwrap(), 0, "the dead lease is gone");
        let status = |id: &'static str| async move { store.ws_connection_by_conn_id(id).await.unwrap().unwrap().status };
        assert_eq!(status("c3").await, WsConnectionStatus::Disconnected);
        assert_eq!(status("c4").await, WsConnectionStatus::Connected);
        assert_eq!(status("c5").await, WsConnectionStatus::Connected, "gateway rows have no node");
        // A node that renews after release starts a fresh lease; releasing twice is fine.
        store.release_node_lease(live).await.unwrap();
        store.release_node_lease(live).await.unwrap();
        assert_eq!(store.reap_expired_nodes(now + chrono::TimeDelta::hours(1)).await.unwrap(), 0);
        assert_eq!(status("c4").await, WsConnectionStatus::Connected, "a released lease closes nothing");
    }
}

/// PostgreSQL only (the in-memory store has no batch to fail): a message the database
/// rejects (a NUL byte in text; the http edge refuses those before they get here) makes
/// its batch's transaction fail; the writer then stores the batch's messages one by one,
/// so the others are stored with gapless seqs and only that sender gets the error.
/// Without assets to move, the batch's COMMIT is pipelined behind the failed INSERT (it
/// only rolls back): the batch must still count as failed.
#[tokio::test]
async fn a_failed_batch_is_written_again_message_by_message() {
    failed_batch_is_written_again(true).await;
}

#[tokio::test]
async fn a_failed_batch_with_its_commit_pipelined_is_written_again_message_by_message() {
    failed_batch_is_written_again(false).await;
}

/// Alice, Bob and their chat.
pub(crate) async fn alice_and_bob_chat(store: &dyn Store) -> (Person, Person, Chat) {
    let a = person(store, "alice").await;
    let b = person(store, "bob").await;
    let chat = store
        .create_chat(&new_chat(&a, &b), &[])
        .await
        .unwrap()
        .chat;
    (a, b, chat)
}

async fn failed_batch_is_written_again(with_assets: bool) {
    let subject = crate::harness::Subject::postgres().await;
    let store: &dyn Store = subject.store.as_ref();
    let (a, b, chat) = alice_and_bob_chat(store).await;
    let mut batch: Vec<NewMessage> = (0..6)
        .map(|i| {
            new_message(
                chat.id,
                chat.uuid,
                if i % 2 == 0 { &a } else { &b },
                Uuid::new_v4(),
                &format!("m{i}"),
            )
        })
        .collect();
    batch[2].message_content = "bad \0 byte".into();
    if !with_assets {
        for m in &mut batch {
            m.asset_uuids.clear();
        }
    }
    let outcomes = futures_util::future::join_all(batch.iter().map(|m| async move {
        let e = sent(m);
        store.insert_message(m, std::slice::from_ref(&e)).await
    }))
    .await;
    assert!(
        matches!(outcomes[2], Err(StoreError::Internal(_))),
        "{:?}",
        outcomes[2]
    );
    let mut seqs: Vec<i64> = outcomes.iter().flatten().map(|o| o.message().seq).collect();
    seqs.sort();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    let page = store
        .list_messages(chat.id, &MessageFilter::default(), &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(outbox_len(store).await, 5);
}

/// Messages queued to the store one call after another, as a chat room queues its
/// batches, with both queued before either is stored and their outcomes awaited in
/// the other order.
async fn queue_two_batches(
    store: &dyn Store,
    chat: &Chat,
    a: &Person,
    b: &Person,
) -> (
    metmos_engine::ports::QueuedInserts,
    metmos_engine::ports::QueuedInserts,
    Vec<NewMessage>,
) {
    let messages: Vec<NewMessage> = (0..3)
        .map(|i| {
            let mut m = new_message(
                chat.id,
                chat.uuid,
                if i % 2 == 0 { a } else { b },
                Uuid::new_v4(),
                &format!("m{i}"),
            );
            m.asset_uuids.clear();
            m
        })
        .collect();
    let with_events =
        |ms: &[NewMessage]| -> Vec<_> { ms.iter().map(|m| (m.clone(), vec![sent(m)])).collect() };
    let wait = std::time::Duration::from_secs(10);
    let first = tokio::time::timeout(wait, store.queue_messages(with_events(&messages[..2])))
        .await
        .expect("queueing does not wait for the store");
    let second = tokio::time::timeout(wait, store.queue_messages(with_events(&messages[2..])))
        .await
        .expect("queueing does not wait for the store");
    (first, second, messages)
}

conformance! {
    // A chat room queues its next batch while the previous one is stored: the store
    // gives seqs in queue order whatever order the outcomes are awaited in.
    async fn batches_queued_one_after_another_get_seqs_in_queue_order(store) {
        let (a, b, chat) = alice_and_bob_chat(store).await;
        let (first, second, messages) = queue_two_batches(store, &chat, &a, &b).await;
        let second = second.outcomes().await;
        let first = first.outcomes().await;
        let seqs: Vec<(Uuid, i64)> = first
            .iter()
            .chain(&second)
            .map(|o| {
                let m = o.as_ref().unwrap().message();
                (m.uuid, m.seq)
            })
            .collect();
        let want: Vec<(Uuid, i64)> = messages.iter().zip(1..).map(|(m, seq)| (m.uuid, seq)).collect();
        assert_eq!(seqs, want);
        assert_eq!(outbox_len(store).await, 3);
    }
}

/// PostgreSQL: queueing returns while the writer is still held up (here by an operator's
/// lock on the chat's row), so a room's next batch is already waiting for the writer's
/// next commit; nothing is stored, or answered, before the lock goes.
#[tokio::test]
async fn postgres_batches_are_queued_while_the_writer_is_held_up() {
    let subject = crate::harness::Subject::postgres().await;
    let store: &dyn Store = subject.store.as_ref();
    let (a, b, chat) = alice_and_bob_chat(store).await;
    let mut operator = subject.sql().await;
    let lock = operator.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM chat WHERE id = $1 FOR UPDATE", &[&chat.id])
        .await
        .unwrap();
    let (first, second, messages) = queue_two_batches(store, &chat, &a, &b).await;
    let mut first = Box::pin(first.outcomes());
    let held = tokio::time::timeout(std::time::Duration::from_millis(300), &mut first).await;
    assert!(held.is_err(), "answered while the chat's row was locked");
    lock.commit().await.unwrap();
    let first = first.await;
    let second = second.outcomes().await;
    let seqs: Vec<i64> = first
        .iter()
        .chain(&second)
        .map(|o| o.as_ref().unwrap().message().seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(messages.len(), 3);
}
