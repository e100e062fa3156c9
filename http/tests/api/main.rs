//! API tests: one binary (built once), one module per resource. Every test runs against
//! the real app on a random port, on both stores (`on_both_stores!`).

mod harness;

mod auth;
mod chats;
mod connections;
mod errors;
mod openapi;
mod people;
mod realtime;
mod ws_client;
