//! Cursor paging, as API.md fixes it: `limit` (default 10, at most 100) and `after`, an
//! opaque cursor that is the internal id of the last row of the previous page. `after`
//! absent, `-1` or `0` means the first page. Keyset paging (not OFFSET) keeps pages stable
//! while rows are added and costs the same on page 1 and page 1000.

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// Rows strictly past this cursor (in the list's order); `None` = first page.
    pub after: Option<i64>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }
}

impl PageRequest {
    /// Parses the raw query values, collecting messages for the 400 envelope.
    pub fn parse(
        limit: Option<&str>,
        after: Option<&str>,
    ) -> std::result::Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    problems.push(format!("limit must be an integer from 1 to {MAX_LIMIT}"));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match after.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => match raw.parse::<i64>() {
                Ok(-1) | Ok(0) => None,
                Ok(n) if n > 0 => Some(n),
                _ => {
                    problems.push(
                        "after must be a cursor returned by a previous page, or -1".to_string(),
                    );
                    None
                }
            },
        };
        if problems.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(problems)
        }
    }

    pub fn parse_or_400(limit: Option<&str>, after: Option<&str>) -> Result<Self> {
        Self::parse(limit, after).map_err(Error::Validation)
    }

    /// How many rows a store fetches: one more than the page, to know whether a next
    /// page exists without a second query.
    pub fn fetch(&self) -> usize {
        self.limit as usize + 1
    }
}

/// One page of a list, with the cursor of the next page (`None` on the last one).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub after: Option<i64>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows already in list order; `cursor` gives the
    /// cursor value of a row.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, cursor: impl Fn(&T) -> i64) -> Self {
        let limit = request.limit as usize;
        let after = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&cursor)
        } else {
            None
        };
        Page { items: rows, after }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            after: self.after,
        }
    }

    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            after: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_page_spellings() {
        for after in [None, Some("-1"), Some("0"), Some("")] {
            assert_eq!(PageRequest::parse(None, after).unwrap().after, None);
        }
        assert_eq!(
            PageRequest::parse(Some("20"), Some("42")).unwrap(),
            PageRequest {
                limit: 20,
                after: Some(42)
            }
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = PageRequest::parse(Some("101"), Some("abc")).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with("limit"));
        assert!(e[1].starts_with("after"));
        assert!(PageRequest::parse(Some("0"), None).is_err());
        assert!(PageRequest::parse(None, Some("-5")).is_err());
    }

    #[test]
    fn next_cursor_only_when_more_rows_exist() {
        let req = PageRequest {
            limit: 2,
            after: None,
        };
        let page = Page::from_rows(vec![9, 8, 7], &req, |x| *x as i64);
        assert_eq!(page.items, vec![9, 8]);
        assert_eq!(page.after, Some(8));
        let last = Page::from_rows(vec![9, 8], &req, |x| *x as i64);
        assert_eq!(last.after, None);
    }
}
