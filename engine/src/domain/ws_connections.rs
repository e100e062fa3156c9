//! WebSocket connections as rows: CONNECTED while a socket is open, DISCONNECTED with
//! `disconnectedAt` once it closed (or once its node was found dead). Rows carry the node
//! holding the socket, so that with several nodes each one knows whose rows are whose.

use super::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WsConnectionStatus {
    Connected,
    Disconnected,
}

/// What a status change does to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Nothing to write: the row already has that status.
    Unchanged,
    /// CONNECTED → DISCONNECTED: set the status and `disconnected_at`.
    Disconnect,
}

impl WsConnectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "CONNECTED",
            Self::Disconnected => "DISCONNECTED",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "CONNECTED" => Ok(Self::Connected),
            "DISCONNECTED" => Ok(Self::Disconnected),
            _ => Err("status must be one of the following values: CONNECTED, DISCONNECTED".into()),
        }
    }

    /// The one transition function. A socket that closed never opens again: a client
    /// that reconnects gets a new connection (and a new row), so DISCONNECTED →
    /// CONNECTED is refused. Repeating the current status is a no-op, which makes the
    /// gateway's retries harmless.
    pub fn transition(self, to: WsConnectionStatus) -> Result<StatusChange, String> {
        match (self, to) {
            (Self::Connected, Self::Connected) | (Self::Disconnected, Self::Disconnected) => {
                Ok(StatusChange::Unchanged)
            }
            (Self::Connected, Self::Disconnected) => Ok(StatusChange::Disconnect),
            (Self::Disconnected, Self::Connected) => {
                Err("A closed connection cannot reconnect; open a new one".into())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WsConnection {
    pub id: i64,
    pub uuid: Uuid,
    pub ws_conn_id: String,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub status: WsConnectionStatus,
    pub connected_at: Timestamp,
    pub disconnected_at: Option<Timestamp>,
    /// The engine node holding the socket; `None` for sockets API Gateway holds.
    pub node_id: Option<Uuid>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewWsConnection {
    pub uuid: Uuid,
    pub ws_conn_id: String,
    pub person_id: i64,
    pub node_id: Option<Uuid>,
    pub at: Timestamp,
}

/// A connection id from the gateway: opaque, bounded, printable.
pub fn parse_ws_conn_id(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("wsConnId must be 1 to 128 characters without spaces".into())
    } else {
        Ok(s.to_string())
    }
}

/// INTERNAL `POST /ws_connections`, parsed at the http edge: the gateway's id, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWsConnection {
    pub ws_conn_id: String,
}

/// INTERNAL `PATCH /ws_connections/{wsConnId}`, parsed at the http edge: the target
/// status, if any (none leaves the row alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateWsConnection {
    pub status: Option<WsConnectionStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use WsConnectionStatus::*;

    #[test]
    fn every_status_times_every_target() {
        assert_eq!(Connected.transition(Connected), Ok(StatusChange::Unchanged));
        assert_eq!(
            Connected.transition(Disconnected),
            Ok(StatusChange::Disconnect)
        );
        assert_eq!(
            Disconnected.transition(Disconnected),
            Ok(StatusChange::Unchanged)
        );
        assert!(Disconnected.transition(Connected).is_err());
    }

    #[test]
    fn parse() {
        assert_eq!(WsConnectionStatus::parse("CONNECTED"), Ok(Connected));
        assert!(WsConnectionStatus::parse("OPEN").is_err());
        assert!(parse_ws_conn_id("L0SM9cOFvHcCIhw=").is_ok());
        assert!(parse_ws_conn_id("a b").is_err());
        assert!(parse_ws_conn_id("").is_err());
    }
}
