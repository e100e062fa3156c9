//! Which node's outbox relay drains the outbox that several nodes share.

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
}
