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

/// The outbox rows that may be deleted after a round: `row_ids` holds, in publishing
/// order, the row of each event the round published, and the bus confirmed the first
/// `confirmed` events. A row can hold several events, side by side (a message batch's,
/// V20); it may go only once all of them were confirmed. Deleting a row half confirmed
/// would lose the rest; keeping it publishes its confirmed ones again next round, which
/// consumers absorb (they deduplicate on `eventId`).
pub fn fully_published(row_ids: &[i64], confirmed: usize) -> Vec<i64> {
    let unfinished = row_ids.get(confirmed).copied();
    let mut done: Vec<i64> = row_ids
        .iter()
        .take(confirmed)
        .copied()
        .filter(|id| Some(*id) != unfinished)
        .collect();
    done.dedup();
    done
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
        assert_eq!(fully_published(&rows, 5), vec![1, 2, 3], "all confirmed");
        assert_eq!(fully_published(&rows, 4), vec![1, 2], "row 3 not yet");
        assert_eq!(
            fully_published(&rows, 3),
            vec![1],
            "row 2 half confirmed stays"
        );
        assert_eq!(fully_published(&rows, 1), vec![1]);
        assert!(fully_published(&rows, 0).is_empty(), "nothing confirmed");
        assert!(fully_published(&[], 0).is_empty());
        assert_eq!(
            fully_published(&rows, 9),
            vec![1, 2, 3],
            "more than there are"
        );
    }
}
