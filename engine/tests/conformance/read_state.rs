//! Read state (issue 15): read positions (forward only, clamped to the chat's last seq,
//! batched), unread counts from seq and position, receipts settings; and the coalescing
//! service over both stores.

use crate::conformance;
use crate::harness::{Subject, person};
use metmos_engine::domain::chat::{NewChat, NewMessage};
use metmos_engine::domain::people::Person;
use metmos_engine::domain::read_state::ReadPosition;
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::domain::time;
use metmos_engine::error::Error;
use metmos_engine::ports::Store;
use metmos_engine::services::read_state::ReadStateService;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

async fn chat(store: &dyn Store, a: &Person, b: &Person) -> (i64, Uuid) {
    let new = NewChat::contact(a, b, time::now());
    let c = store.create_chat(&new, &[]).await.unwrap().chat;
    (c.id, c.uuid)
}

async fn send(store: &dyn Store, chat: (i64, Uuid), sender: &Person, n: usize) {
    for _ in 0..n {
        let m = NewMessage {
            uuid: Uuid::new_v4(),
            chat_id: chat.0,
            chat_uuid: chat.1,
            sender_id: sender.id,
            sender_uuid: sender.uuid,
            message_content: "hi".into(),
            asset_uuids: vec![],
            // The store need not check contacts here: the chat is made for the test.
            contact_of: None,
            at: time::now(),
        };
        store.insert_message(&m, &[]).await.unwrap();
    }
}

/// `p`'s stored read position in `chat`, which `p` is in.
async fn read_seq(store: &dyn Store, chat: (i64, Uuid), p: &Person) -> i64 {
    store
        .read_facts(chat.1, p.id)
        .await
        .unwrap()
        .expect("a participant")
        .state
        .read_seq
}

fn pos(chat: (i64, Uuid), p: &Person, seq: i64) -> ReadPosition {
    ReadPosition {
        chat_id: chat.0,
        person_id: p.id,
        seq,
    }
}

conformance! {
    async fn read_positions_move_forward_only_and_clamp_to_the_last_seq(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = chat(store, &a, &b).await;
        send(store, c, &a, 3).await;

        let facts = store.read_facts(c.1, b.id).await.unwrap().expect("bob is in it");
        assert_eq!((facts.state.chat_id, facts.state.last_seq, facts.state.read_seq), (c.0, 3, 0));
        assert_eq!(
            facts.participants.iter().map(|p| (p.person_uuid, p.read_receipts)).collect::<Vec<_>>(),
            vec![(a.uuid, true), (b.uuid, true)]
        );

        // One batch for two people; then backwards (kept), then beyond the last (clamped).
        store.save_read_positions(&[pos(c, &b, 2), pos(c, &a, 3)]).await.unwrap();
        assert_eq!(read_seq(store, c, &b).await, 2);
        assert_eq!(read_seq(store, c, &a).await, 3);
        store.save_read_positions(&[pos(c, &b, 1)]).await.unwrap();
        assert_eq!(read_seq(store, c, &b).await, 2);
        store.save_read_positions(&[pos(c, &b, 99)]).await.unwrap();
        assert_eq!(read_seq(store, c, &b).await, 3);
        store.save_read_positions(&[]).await.unwrap();
    }

    async fn strangers_and_missing_chats_have_no_read_facts(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let eve = person(store, "eve").await;
        let c = chat(store, &a, &b).await;
        send(store, c, &a, 1).await;
        assert!(store.read_facts(c.1, eve.id).await.unwrap().is_none());
        assert!(store.read_facts(Uuid::new_v4(), a.id).await.unwrap().is_none());
        // A stranger's position is not stored (and does not fail the batch).
        store.save_read_positions(&[pos(c, &eve, 1), pos(c, &b, 1)]).await.unwrap();
        assert!(store.read_states(eve.id, None).await.unwrap().is_empty());
        assert_eq!(read_seq(store, c, &b).await, 1);
    }

    async fn read_states_cover_the_asked_chats_or_all(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let d = person(store, "dora").await;
        let ab = chat(store, &a, &b).await;
        let ad = chat(store, &a, &d).await;
        let bd = chat(store, &b, &d).await;
        send(store, ab, &b, 2).await;
        send(store, ad, &d, 5).await;
        send(store, bd, &d, 1).await;
        store.save_read_positions(&[pos(ad, &a, 4)]).await.unwrap();

        let mut all = store.read_states(a.id, None).await.unwrap();
        all.sort_by_key(|s| s.chat_id);
        let got: Vec<_> = all.iter().map(|s| (s.chat_uuid, s.last_seq, s.read_seq)).collect();
        assert_eq!(got, vec![(ab.1, 2, 0), (ad.1, 5, 4)]);
        // Only the asked ones, and never a chat of someone else's.
        let some = store.read_states(a.id, Some(&[ad.0, bd.0])).await.unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].chat_id, ad.0);
    }

    async fn read_receipts_default_on_and_can_be_turned_off(store) {
        let a = person(store, "alice").await;
        let b = person(store, "bob").await;
        let c = chat(store, &a, &b).await;
        assert!(store.read_receipts(b.id).await.unwrap());
        store.set_read_receipts(b.id, false).await.unwrap();
        assert!(!store.read_receipts(b.id).await.unwrap());
        assert!(store.read_receipts(a.id).await.unwrap());
        let facts = store.read_facts(c.1, a.id).await.unwrap().unwrap();
        let bob = facts.participants.iter().find(|p| p.person_uuid == b.uuid).unwrap();
        assert!(!bob.read_receipts);
        store.set_read_receipts(b.id, true).await.unwrap();
        assert!(store.read_receipts(b.id).await.unwrap());
    }
}

/// The service over one store: a burst of marks is one pending position (answered at
/// once by reads), written in one flush; a chat one is not in is 404.
async fn coalesces_marks_and_answers_its_own_writes(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let a = person(s, "alice").await;
    let b = person(s, "bob").await;
    let eve = person(s, "eve").await;
    let c = chat(s, &a, &b).await;
    send(s, c, &a, 3).await;
    // A long window: only explicit flushes write.
    let rs = ReadStateService::new(store.clone(), Duration::from_secs(3600));

    let first = rs.mark_read(&b, c.1, 1).await.unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.recipients, vec![b.uuid, a.uuid]);
    let second = rs.mark_read(&b, c.1, 2).await.unwrap();
    assert_eq!(second.seq, 2);
    // Not ahead: no frame for anyone.
    let again = rs.mark_read(&b, c.1, 2).await.unwrap();
    assert!(again.recipients.is_empty());
    assert_eq!(again.seq, 2);

    // Nothing stored yet, but the node answers its own writes.
    assert_eq!(read_seq(s, c, &b).await, 0);
    let (total, chats) = rs.unread(b.id).await.unwrap();
    assert_eq!((total, chats.len(), chats[0].unread), (1, 1, 1));
    assert_eq!(rs.badge(b.uuid).await, Some(1));

    // The burst is one position in one write.
    assert_eq!(rs.flush().await.unwrap(), 1);
    assert_eq!(read_seq(s, c, &b).await, 2);
    assert_eq!(rs.flush().await.unwrap(), 0);

    // Sending reads one's chat up to the message.
    send(s, c, &b, 1).await;
    rs.note_sent(c.0, b.id, 4);
    assert_eq!(rs.unread(b.id).await.unwrap().0, 0);
    assert_eq!(rs.unread_in(a.id, &[c.0]).await.unwrap()[0].unread, 4);

    // Receipts off: only one's own devices hear of it.
    s.set_read_receipts(a.id, false).await.unwrap();
    send(s, c, &b, 1).await;
    let marked = rs.mark_read(&a, c.1, 5).await.unwrap();
    assert_eq!(marked.recipients, vec![a.uuid]);

    let err = rs.mark_read(&eve, c.1, 1).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::ChatNotFound)),
        "{err:?}"
    );
    let err = rs.typing(&eve, c.1).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::ChatNotFound)),
        "{err:?}"
    );

    // Typing: the others, once per window.
    assert_eq!(rs.typing(&b, c.1).await.unwrap(), Some(vec![a.uuid]));
    assert_eq!(rs.typing(&b, c.1).await.unwrap(), None);
    assert_eq!(rs.typing(&a, c.1).await.unwrap(), Some(vec![b.uuid]));
}

mod read_state_service {
    use super::*;

    #[tokio::test]
    async fn memory() {
        let subject = Subject::memory();
        coalesces_marks_and_answers_its_own_writes(subject.store.clone()).await;
    }

    #[tokio::test]
    async fn postgres() {
        let subject = Subject::postgres().await;
        coalesces_marks_and_answers_its_own_writes(subject.store.clone()).await;
    }
}
