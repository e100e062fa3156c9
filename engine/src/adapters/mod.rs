//! Adapters: one folder per port, one file per implementation.

pub mod bus;
pub mod chain;
pub mod pusher;
pub mod store;
