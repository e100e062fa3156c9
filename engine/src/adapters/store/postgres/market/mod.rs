//! The marketplace on PostgreSQL. Wei amounts are NUMERIC(78,0), which tokio-postgres
//! cannot map: they go in as text (`$n::text::numeric`) and come out as text
//! (`col::text`), parsed exactly into `Wei`.
//!
//! Locks: every change that involves a listing's state locks the listing row first
//! (`FOR UPDATE`), then its offer row, so that two changes to one listing (accepting two
//! offers, pausing while an order is created) serialize instead of deadlocking.

mod listings;
mod offers;
mod order_lifecycle;
pub(super) mod orders;

pub(super) use order_lifecycle::cancel_unpaid_orders_tx;
mod wallets;

use crate::domain::money::Wei;
use crate::domain::order::OrderStatus;
use crate::error::{StoreError, StoreResult};
use alloy_primitives::Address;
use std::str::FromStr;
use tokio_postgres::Row;

/// The statuses of an order that is not final, for `status = ANY($n)`.
pub(super) fn open_order_statuses() -> Vec<&'static str> {
    OrderStatus::OPEN.map(OrderStatus::as_str).to_vec()
}

pub(super) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {detail}"))
}

pub(super) fn wei(r: &Row, i: usize) -> StoreResult<Wei> {
    let text: String = r.get(i);
    Wei::parse_wei(&text).map_err(|e| corrupt("amount", e))
}

pub(super) fn wire<T>(r: &Row, i: usize, parse: fn(&str) -> Result<T, String>) -> StoreResult<T> {
    let text: String = r.get(i);
    parse(&text).map_err(|e| corrupt("enum", e))
}

pub(super) fn address(r: &Row, i: usize) -> StoreResult<Address> {
    let text: String = r.get(i);
    Address::from_str(&text).map_err(|e| corrupt("address", e))
}
