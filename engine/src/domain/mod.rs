//! Pure domain: types that parse instead of validate, state machines, money. Nothing here
//! does I/O, so every rule can be unit-tested without a store.

pub mod chat;
pub mod connections;
pub mod devices;
pub mod experiences;
pub mod notifications;
pub mod paging;
pub mod people;
pub mod time;
pub mod ws_connections;

pub use paging::{Page, PageRequest};
pub use time::Timestamp;
