//! The in-memory store: the embedded default, with the same semantics as PostgreSQL.
//!
//! All state sits behind one lock. Every method checks all its constraints before it
//! writes anything, so a refused change leaves nothing behind: the lock is the
//! transaction. Internal ids come from one sequence per table, as PostgreSQL's identity
//! columns do, so cursors behave alike.

mod account_deletion;
mod assets;
mod chain_watch;
mod chat;
mod devices;
mod market;
mod notifications;
mod outbox;
mod people;
mod read_state;
mod social;
mod ws_connections;

use crate::domain::connections::Connection;
use crate::domain::experiences::{Experience, Reaction};
use crate::domain::notifications::Notification;
use crate::domain::offer::Offer;
use crate::domain::order::Order;
use crate::domain::people::{Account, Person};
use crate::domain::wallet::Wallet;
use crate::error::StoreResult;
use crate::events::{EventEnvelope, OutboxRow};
use crate::ports::Store;
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Default)]
pub(crate) struct State {
    seq: HashMap<&'static str, i64>,
    pub accounts: BTreeMap<i64, Account>,
    pub persons: BTreeMap<i64, Person>,
    pub connections: BTreeMap<i64, Connection>,
    pub experiences: BTreeMap<i64, Experience>,
    pub reactions: BTreeMap<i64, Reaction>,
    pub notifications: BTreeMap<i64, Notification>,
    pub outbox: BTreeMap<i64, OutboxEntry>,
    /// Which node's relay drains the outbox (several engines may share one store).
    pub relay_lease: Option<crate::domain::outbox::RelayLease>,
    pub processed: HashSet<(String, String)>,
    // marketplace (categories are seeded constants: market.rs)
    pub listings: BTreeMap<i64, market::ListingRow>,
    pub offers: BTreeMap<i64, Offer>,
    pub wallets: BTreeMap<i64, Wallet>,
    pub orders: BTreeMap<i64, Order>,
    pub escrow: market::EscrowTables,
    // realtime
    pub chats: chat::ChatTables,
    /// Persons who turned read receipts off (`person.read_receipts = false`).
    pub receipts_off: HashSet<i64>,
    pub devices: devices::DeviceTable,
    pub ws: ws_connections::WsTables,
    // chain watcher
    pub chain_watch: chain_watch::ChainWatchTables,
    pub assets: assets::AssetTable,
}

/// An event not yet published (published ones are dropped).
pub(crate) struct OutboxEntry {
    pub row: OutboxRow,
    pub last_error: Option<String>,
}

impl State {
    /// The next id of `table`, like an identity column.
    pub fn next_id(&mut self, table: &'static str) -> i64 {
        let n = self.seq.entry(table).or_insert(0);
        *n += 1;
        *n
    }

    /// Appends events to the outbox; called as the last step of a change.
    pub fn record(&mut self, events: &[EventEnvelope]) {
        for e in events {
            let id = self.next_id("outbox");
            self.outbox.insert(
                id,
                OutboxEntry {
                    row: OutboxRow {
                        id,
                        envelope: e.clone(),
                        attempts: 0,
                    },
                    last_error: None,
                },
            );
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn adapter_name(&self) -> &'static str {
        "memory"
    }
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// One keyset page, newest first, of a table keyed by id: the rows below `page.after`
/// that `select` keeps (mapped by it), at most `page.fetch()` of them, the way the
/// PostgreSQL store pages (`WHERE id < $after ORDER BY id DESC LIMIT $n`). Every list of
/// the memory store pages through this one function, so the cursor rule lives once; the
/// `range` starts at the cursor rather than filtering the table from its newest row.
pub(crate) fn page_newest_first<V, T>(
    table: &BTreeMap<i64, V>,
    page: &crate::domain::PageRequest,
    mut select: impl FnMut(&V) -> Option<T>,
) -> crate::domain::Page<T> {
    let rows: Vec<(i64, T)> = table
        .range(..page.after.unwrap_or(i64::MAX))
        .rev()
        .filter_map(|(id, row)| select(row).map(|t| (*id, t)))
        .take(page.fetch())
        .collect();
    crate::domain::Page::from_rows(rows, page, |(id, _)| *id).map(|(_, t)| t)
}
