//! API tests: one binary (built once), one module per resource. Every test runs against
//! the real app on a random port, on both stores (`on_both_stores!`).

mod harness;

mod accounts_delete;
mod assets;
mod auth;
mod categories;
mod chats;
mod cli;
mod cluster;
mod connections;
mod errors;
mod escrow;
mod escrow_ethereum;
mod ethereum;
mod experiences;
mod list_conventions;
mod listings;
mod market;
mod offers;
mod openapi;
mod orders;
mod people;
mod pinpoint;
mod postman;
mod read_state;
mod realtime;
mod security;
mod visibility;
mod wallets;
mod ws_client;
