//! Which node's outbox relay drains the outbox that several nodes share, and which rows
//! it may delete.

use crate::domain::time::Timestamp;
use uuid::Uuid;

/// The relay's claim on the shared outbox: `node_id` drains it until `expires_at`
/// unless it renews.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayLease {
    pub node_id: Uuid,
    pub expires_at: Timestamp,
}

/// May `node` hold the relay at `at`? Yes when it holds it already (a renewal) or
/// nobody does: no lease, or the holder's ran out (it died, or stopped without giving
/// it back). Two relays draining at once would publish every event twice, and
/// interleave their rounds.
pub fn may_hold_relay(current: Option<&RelayLease>, node: Uuid, at: Timestamp) -> bool {
    match current {
        None => true,
        Some(lease) => lease.node_id == node || lease.expires_at <= at,
    }
}

/// What a round may delete: whole rows, and how many events they held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub rows: Vec<i64>,
    pub events: usize,
}

/// The outbox rows that may be deleted after a round: `row_ids` holds, in publishing
/// order, the row of each event the round published, and the bus confirmed the first
/// `confirmed` events. A row can hold several events, side by side (a message batch's,
/// V20); it may go only once all of them were confirmed. Deleting a row half confirmed
/// would lose the rest; keeping it publishes its confirmed ones again next round, which
/// consumers absorb (they deduplicate on `eventId`).
pub fn fully_published(row_ids: &[i64], confirmed: usize) -> Published {
    let confirmed = &row_ids[..confirmed.min(row_ids.len())];
    let unfinished = row_ids.get(confirmed.len()).copied();
    // The unfinished row's confirmed events, if any, close the confirmed ones.
    let events = confirmed
        .iter()
        .take_while(|id| Some(**id) != unfinished)
        .count();
    let mut rows = confirmed[..events].to_vec();
    rows.dedup();
    Published { rows, events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_node_holds_the_relay_alone_until_its_lease_runs_out() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let at = crate::domain::time::now();
        assert!(may_hold_relay(None, b, at), "nobody holds it");
        let held = RelayLease {
            node_id: a,
            expires_at: at + TimeDelta::seconds(10),
        };
        assert!(may_hold_relay(Some(&held), a, at), "the holder renews");
        assert!(!may_hold_relay(Some(&held), b, at), "another waits");
        let later = at + TimeDelta::seconds(10);
        assert!(may_hold_relay(Some(&held), b, later), "the lease ran out");
    }

    #[test]
    fn a_row_is_deleted_only_once_all_its_events_were_confirmed() {
        // Rows 1 and 3 hold one event each, row 2 three.
        let rows = [1, 2, 2, 2, 3];
        let published = |rows: &[i64], events| Published {
            rows: rows.to_vec(),
            events,
        };
        assert_eq!(fully_published(&rows, 5), published(&[1, 2, 3], 5), "all");
        assert_eq!(
            fully_published(&rows, 4),
            published(&[1, 2], 4),
            "not row 3"
        );
        assert_eq!(
            fully_published(&rows, 3),
            published(&[1], 1),
            "row 2 half confirmed stays"
        );
        assert_eq!(fully_published(&rows, 1), published(&[1], 1));
        assert_eq!(fully_published(&rows, 0), published(&[], 0), "none");
        assert_eq!(fully_published(&[], 0), published(&[], 0));
        assert_eq!(
            fully_published(&rows, 9),
            published(&[1, 2, 3], 5),
            "more than there are"
        );
    }
}
