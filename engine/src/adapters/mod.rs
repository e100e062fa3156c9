//! Adapters: one folder per port, one file per implementation.

pub(crate) mod aws;
pub mod blobs;
pub mod bus;
pub mod chain;
pub mod pusher;
pub mod store;
