//! Store adapters: PostgreSQL (production) and in-memory (embedded default).

pub mod memory;
pub mod postgres;

use crate::domain::people::Person;
use crate::domain::{Page, PageRequest};

/// The page of a people search, for both adapters. The exact username match (first row
/// of the first page) is not a keyset position, so the cursor is the last other row's id;
/// a first page that holds only the exact match continues from the top.
pub(crate) fn search_page(
    rows: Vec<Person>,
    page: &PageRequest,
    exact_id: Option<i64>,
) -> Page<Person> {
    let mut result = Page::from_rows(rows, page, |p| p.id);
    if result.after.is_some() && result.items.last().map(|p| p.id) == exact_id {
        result.after = Some(i64::MAX);
    }
    result
}
