//! The HTTP and WebSocket front of the Metmos engine. `startup` builds the app for both
//! the `metmos` binary and the tests.

pub mod conn;
pub mod error;
pub mod extract;
pub mod input_guard;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ws;
pub mod ws_actions;
