//! A read's WHERE clause built from the filters actually present.
//!
//! tokio-postgres prepares every statement, and after five runs PostgreSQL may keep a
//! generic plan for it. A catch-all `($n IS NULL OR col < $n)` filter then cannot be an
//! index condition (the plan must also serve the NULL case), so a keyset cursor or a
//! date range becomes a row-by-row filter over everything before it (EXPLAIN: "Rows
//! Removed by Filter"). Writing only the filters a request has gives one prepared shape
//! per combination of present filters (a handful per query), each with its index range.

use tokio_postgres::types::ToSql;

/// The conditions and parameters of one statement, numbered `$1, $2, …` in the order
/// they are added.
#[derive(Default)]
pub(crate) struct Shape<'a> {
    conditions: Vec<String>,
    params: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Shape<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a parameter and answers its placeholder number.
    pub fn param(&mut self, value: &'a (dyn ToSql + Sync)) -> usize {
        self.params.push(value);
        self.params.len()
    }

    /// A condition that holds no parameter, or whose parameters were added by
    /// [`Shape::param`].
    pub fn and(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `condition(n)` with `$n` bound to `value`, only when `value` is present.
    pub fn and_some<T: ToSql + Sync>(
        &mut self,
        value: &'a Option<T>,
        condition: impl FnOnce(usize) -> String,
    ) {
        if let Some(v) = value {
            let n = self.param(v);
            self.conditions.push(condition(n));
        }
    }

    /// The conditions joined by AND (`TRUE` when there are none).
    pub fn conditions(&self) -> String {
        if self.conditions.is_empty() {
            "TRUE".into()
        } else {
            self.conditions.join(" AND ")
        }
    }

    /// The conditions so far, joined as `conditions` does, leaving none: for a statement
    /// whose conditions sit in two places, numbered from the one parameter list.
    pub fn take_conditions(&mut self) -> String {
        let taken = self.conditions();
        self.conditions.clear();
        taken
    }

    pub fn params(&self) -> &[&'a (dyn ToSql + Sync)] {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_present_filters_are_written_and_numbered_in_order() {
        let (a, b, c): (Option<i64>, Option<i64>, i64) = (Some(7), None, 20);
        let mut s = Shape::new();
        let first = s.param(&c);
        s.and(format!("x = ${first}"));
        s.and_some(&b, |n| format!("y > ${n}"));
        s.and_some(&a, |n| format!("z < ${n}"));
        assert_eq!(s.conditions(), "x = $1 AND z < $2");
        assert_eq!(s.params().len(), 2);
    }

    #[test]
    fn no_filter_is_true() {
        assert_eq!(Shape::new().conditions(), "TRUE");
    }
}
