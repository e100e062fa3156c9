//! Read state of chats (issue 15): each participant's read position (the highest `seq`
//! they have read), the unread counts it gives, who gets a `read` receipt, and the typing
//! throttle. Pure rules; the service and both stores call them.

use uuid::Uuid;

/// How often one person's typing in one chat is forwarded at most (extra ones dropped).
pub const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// One participant's read position to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPosition {
    pub chat_id: i64,
    pub person_id: i64,
    pub seq: i64,
}

/// What a store knows of one chat for one participant: the chat's last seq and how far
/// the participant has read (0: nothing yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatReadState {
    pub chat_id: i64,
    pub chat_uuid: Uuid,
    pub last_seq: i64,
    pub read_seq: i64,
}

/// A participant of a chat as receipts need them: who, and whether they share receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptParticipant {
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub read_receipts: bool,
}

/// What a markRead or typing needs, read in one store call: the chat, the caller's read
/// state in it, and every participant (the caller included).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadFacts {
    pub state: ChatReadState,
    pub participants: Vec<ReceiptParticipant>,
}

/// The position a read request leads to: the requested seq clamped to the chat's last
/// (a seq beyond it reads everything there is), and only forward. `None`: it does not
/// move (already read that far, or a seq below 1).
pub fn advance(current: i64, requested: i64, last_seq: i64) -> Option<i64> {
    let target = requested.min(last_seq);
    (target > current).then_some(target)
}

/// Messages after the read position (a sender has read up to their own message, so this
/// counts only what others wrote since).
pub fn unread(last_seq: i64, read_seq: i64) -> i64 {
    (last_seq - read_seq).max(0)
}

/// Who gets the `read` frame when `reader`'s position moves: the reader's own devices
/// always (badges clear everywhere); another participant only when both share receipts
/// (reciprocity: who hides theirs sees nobody's).
pub fn receipt_recipients(reader: Uuid, participants: &[ReceiptParticipant]) -> Vec<Uuid> {
    let reader_shares = participants
        .iter()
        .find(|p| p.person_uuid == reader)
        .is_some_and(|p| p.read_receipts);
    let mut out = vec![reader];
    out.extend(
        participants
            .iter()
            .filter(|p| p.person_uuid != reader && reader_shares && p.read_receipts)
            .map(|p| p.person_uuid),
    );
    out
}

/// Is a typing signal forwarded, given when this person's last one in this chat was
/// (`since_last`: `None` for never)?
pub fn typing_forwarded(since_last: Option<std::time::Duration>) -> bool {
    since_last.is_none_or(|d| d >= TYPING_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn positions_only_move_forward_and_clamp_to_the_last_seq() {
        assert_eq!(advance(0, 2, 3), Some(2));
        assert_eq!(advance(2, 2, 3), None);
        assert_eq!(advance(2, 1, 3), None);
        assert_eq!(advance(2, 99, 3), Some(3));
        assert_eq!(advance(3, 99, 3), None);
        assert_eq!(advance(0, 0, 3), None);
        assert_eq!(advance(0, 5, 0), None, "an empty chat has nothing to read");
    }

    #[test]
    fn unread_is_never_negative() {
        assert_eq!(unread(3, 0), 3);
        assert_eq!(unread(3, 2), 1);
        assert_eq!(unread(3, 5), 0);
    }

    fn p(uuid: Uuid, on: bool) -> ReceiptParticipant {
        ReceiptParticipant {
            person_id: 0,
            person_uuid: uuid,
            read_receipts: on,
        }
    }

    #[test]
    fn receipts_are_reciprocal_and_own_devices_always_sync() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            receipt_recipients(b, &[p(a, true), p(b, true), p(c, true)]),
            vec![b, a, c]
        );
        assert_eq!(receipt_recipients(b, &[p(a, true), p(b, false)]), vec![b]);
        assert_eq!(receipt_recipients(b, &[p(a, false), p(b, true)]), vec![b]);
        assert_eq!(
            receipt_recipients(b, &[p(a, false), p(b, true), p(c, true)]),
            vec![b, c]
        );
    }

    #[test]
    fn typing_is_forwarded_once_per_window() {
        assert!(typing_forwarded(None));
        assert!(!typing_forwarded(Some(Duration::from_millis(1999))));
        assert!(typing_forwarded(Some(Duration::from_secs(2))));
    }
}
