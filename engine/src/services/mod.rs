//! Use cases. Each service checks authorization on every object it touches, parses its
//! input into domain types, and hands the store one atomic change with its events.
//!
//! Commands arrive parsed: the DTOs, their `TryFrom` into the domain's commands and the
//! views live in `metmos-http` (`routes/<resource>.rs`). Public service methods carry a
//! `tracing::instrument` span (`skip_all`, ids as fields: never bodies or secrets),
//! except the per-message chat path (`ChatService::queue_messages` and the actors that
//! call it), where a span per message costs too much at 100k messages/s.

pub mod accounts;
pub mod assets;
pub mod caller_cache;
pub mod chain_watcher;
pub mod chain_webhook;
pub mod chat;
pub mod connections;
pub mod devices;
pub mod experiences;
pub mod inbound;
pub mod market;
pub mod notifications;
pub mod outbox;
pub mod people;
pub mod push_queue;
pub mod read_state;
pub mod ws_connections;

use serde::{Deserialize, Deserializer};

/// For PATCH bodies: tells an absent field (`None`: leave it) from an explicit `null`
/// (`Some(None)`: clear it).
pub fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}
