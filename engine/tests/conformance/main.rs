//! The Store conformance suite: ONE set of tests, run against the in-memory store and
//! against PostgreSQL (a fresh database per test), so both adapters keep one behaviour.
//! One module per area; `conformance!` runs each test on both adapters.

mod harness;

mod inbound;

mod bus;
mod chain_watch;
mod chat;
mod events_doc;
mod market;
mod notifications;
mod orders;
mod outbox;
mod people;
mod pools;
mod read_state;
mod relay;
mod social;
