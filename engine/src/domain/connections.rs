//! Connections: one person (the requester) asks another (the target) to connect. An
//! ACCEPTED connection makes the two contacts, who then see each other's email and
//! contact number. The lifecycle is one transition function, [`ConnectionStatus::transition`]:
//!
//! ```text
//! PENDING --accept (target)--> ACCEPTED
//! PENDING --reject (target)--> REJECTED
//! ```
//!
//! Removing a contact deletes the ACCEPTED row (either side may), so the pair can start
//! over with a new request; a REJECTED row stays as history and blocks nothing.

use super::Timestamp;
use super::refusal::Refusal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionStatus {
    Pending,
    Accepted,
    Rejected,
}

impl ConnectionStatus {
    pub const ALL: [ConnectionStatus; 3] = [Self::Pending, Self::Accepted, Self::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Rejected => "REJECTED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                "status must be one of the following values: PENDING, ACCEPTED, REJECTED".into()
            })
    }

    /// PENDING and ACCEPTED connections are "live": at most one per pair of persons,
    /// whichever side asked (a second request answers 409).
    pub const LIVE: [ConnectionStatus; 2] = [Self::Pending, Self::Accepted];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }

    /// The one transition function of the connection lifecycle. Only the target may
    /// answer a request (the requester gets 403 whatever the state), and only a PENDING
    /// request can be answered (409 otherwise).
    pub fn transition(
        self,
        action: ConnectionAction,
        role: ConnectionRole,
    ) -> Result<ConnectionStatus, TransitionRefused> {
        if role != ConnectionRole::Target {
            return Err(TransitionRefused::NotTarget);
        }
        match (self, action) {
            (Self::Pending, ConnectionAction::Accept) => Ok(Self::Accepted),
            (Self::Pending, ConnectionAction::Reject) => Ok(Self::Rejected),
            (Self::Accepted | Self::Rejected, _) => Err(TransitionRefused::NotPending(self)),
        }
    }
}

/// What the target does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionAction {
    Accept,
    Reject,
}

impl ConnectionAction {
    pub const ALL: [ConnectionAction; 2] = [Self::Accept, Self::Reject];
}

/// The caller's side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionRole {
    /// Sent the request (`personUuid`).
    Requester,
    /// Received it (`connectionPersonUuid`).
    Target,
}

impl ConnectionRole {
    pub const ALL: [ConnectionRole; 2] = [Self::Requester, Self::Target];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRefused {
    /// The requester tried to answer their own request (403).
    NotTarget,
    /// The request was already answered (409).
    NotPending(ConnectionStatus),
}

/// A stored connection. `person_*` is the requester, `connection_*` the target (the
/// column names of the data model).
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub id: i64,
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub connection_id: i64,
    pub connection_person_uuid: Uuid,
    pub requested_at: Timestamp,
    pub status: ConnectionStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Connection {
    /// The caller's side, or `None` when the connection does not involve them (they may
    /// not know it exists: 404).
    pub fn role_of(&self, person_id: i64) -> Option<ConnectionRole> {
        if person_id == self.person_id {
            Some(ConnectionRole::Requester)
        } else if person_id == self.connection_id {
            Some(ConnectionRole::Target)
        } else {
            None
        }
    }

    /// The internal id of the person on the other side from `person_id`.
    pub fn other_id(&self, person_id: i64) -> i64 {
        if person_id == self.person_id {
            self.connection_id
        } else {
            self.person_id
        }
    }

    /// Whether this connection joins `a` and `b`, in either direction.
    pub fn joins(&self, a: i64, b: i64) -> bool {
        (self.person_id == a && self.connection_id == b)
            || (self.person_id == b && self.connection_id == a)
    }

    pub fn involves(&self, person_id: i64) -> bool {
        self.person_id == person_id || self.connection_id == person_id
    }
}

/// A new PENDING request, ready to store (the service chose its uuid and time).
#[derive(Debug, Clone, PartialEq)]
pub struct NewConnection {
    pub uuid: Uuid,
    pub person_id: i64,
    pub connection_id: i64,
    pub at: Timestamp,
    /// `social.rerequest_cooldown_days`: how long a rejection holds this requester off.
    pub cooldown_days: u32,
}

/// A new request from `person_id` to `connection_id`: refused while they are connected
/// or have a pending request (either direction), and for `cooldown_days` after the
/// target last rejected this requester (`last_rejected_at`, read by the store under its
/// lock). The store then writes nothing, so no notification goes out for a refused
/// request.
pub fn decide_request(
    live_pair: bool,
    last_rejected_at: Option<Timestamp>,
    now: Timestamp,
    cooldown_days: u32,
) -> Result<(), Refusal> {
    if live_pair {
        return Err(Refusal::ConnectionExists);
    }
    let cooldown = chrono::Duration::days(i64::from(cooldown_days));
    if cooldown_days > 0 && last_rejected_at.is_some_and(|at| now < at + cooldown) {
        return Err(Refusal::RerequestCooldown {
            days: cooldown_days,
        });
    }
    Ok(())
}

/// A connection as its list shows it: with the person on the other side of the viewer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionEntry {
    pub connection: Connection,
    pub other: super::people::Person,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state × every action × every role, spelled out, so a changed rule fails here.
    #[test]
    fn lifecycle_is_exhaustively_defined() {
        use ConnectionAction::*;
        use ConnectionRole::*;
        use ConnectionStatus::*;
        let expected = |status: ConnectionStatus,
                        action: ConnectionAction,
                        role: ConnectionRole| match (status, action, role) {
            (_, _, Requester) => Err(TransitionRefused::NotTarget),
            (Pending, Accept, Target) => Ok(Accepted),
            (Pending, Reject, Target) => Ok(Rejected),
            (Accepted, _, Target) => Err(TransitionRefused::NotPending(Accepted)),
            (Rejected, _, Target) => Err(TransitionRefused::NotPending(Rejected)),
        };
        let mut cases = 0;
        for status in ConnectionStatus::ALL {
            for action in ConnectionAction::ALL {
                for role in ConnectionRole::ALL {
                    assert_eq!(
                        status.transition(action, role),
                        expected(status, action, role),
                        "{status:?} {action:?} by {role:?}"
                    );
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 12);
        // The table above, as the issue states it, for a reader who skims:
        assert_eq!(Pending.transition(Accept, Target), Ok(Accepted));
        assert_eq!(Pending.transition(Reject, Target), Ok(Rejected));
        assert_eq!(
            Pending.transition(Accept, Requester),
            Err(TransitionRefused::NotTarget),
            "the requester cannot accept their own request"
        );
        assert_eq!(
            Accepted.transition(Reject, Target),
            Err(TransitionRefused::NotPending(Accepted))
        );
    }

    #[test]
    fn live_statuses_block_a_second_request() {
        assert!(ConnectionStatus::Pending.is_live());
        assert!(ConnectionStatus::Accepted.is_live());
        assert!(!ConnectionStatus::Rejected.is_live());
    }

    #[test]
    fn statuses_parse_as_spelled() {
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::parse(s.as_str()), Ok(s));
        }
        assert_eq!(
            ConnectionStatus::parse("pending").unwrap_err(),
            "status must be one of the following values: PENDING, ACCEPTED, REJECTED"
        );
    }

    #[test]
    fn roles_and_sides() {
        let now = chrono::Utc::now();
        let c = Connection {
            id: 1,
            uuid: Uuid::nil(),
            person_id: 10,
            person_uuid: Uuid::nil(),
            connection_id: 20,
            connection_person_uuid: Uuid::nil(),
            requested_at: now,
            status: ConnectionStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(c.role_of(10), Some(ConnectionRole::Requester));
        assert_eq!(c.role_of(20), Some(ConnectionRole::Target));
        assert_eq!(c.role_of(30), None);
        assert_eq!(c.other_id(10), 20);
        assert_eq!(c.other_id(20), 10);
        assert!(c.joins(20, 10) && c.joins(10, 20) && !c.joins(10, 30));
        assert!(c.involves(10) && !c.involves(30));
    }
}

/// `POST /connections`, parsed at the edge: whom the caller asks to connect with.
#[derive(Debug, Clone, Copy)]
pub struct RequestConnection {
    pub person_uuid: Uuid,
}
