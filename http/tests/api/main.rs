//! API tests: one binary (built once), one module per resource. Every test runs against
//! the real app on a random port, on both stores (`on_both_stores!`).

mod harness;

mod accounts_delete;
mod auth;
mod chats;
mod connections;
mod errors;
mod experiences;
mod list_conventions;
mod openapi;
mod people;
mod realtime;
mod visibility;
mod ws_client;
