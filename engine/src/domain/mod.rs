//! Pure domain: types that parse instead of validate, state machines, money. Nothing here
//! does I/O, so every rule can be unit-tested without a store.

pub mod assets;
pub mod chain_watch;
pub mod chat;
pub mod connections;
pub mod devices;
pub mod escrow;
pub mod experiences;
pub mod fields;
pub mod inbound;
pub mod listing;
pub mod market;
pub mod money;
pub mod notifications;
pub mod offer;
pub mod order;
pub mod outbox;
pub mod paging;
pub mod people;
pub mod read_state;
pub mod refusal;
pub mod search;
pub mod settlement;
pub mod text;
pub mod time;
pub mod wallet;
pub mod ws_connections;

pub use paging::{Page, PageRequest};
pub use time::Timestamp;
