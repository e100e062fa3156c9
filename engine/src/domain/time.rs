//! Timestamps. The wire format is RFC 3339 UTC with milliseconds
//! (`2023-11-01T08:59:09.674Z`); inside, `chrono::DateTime<Utc>` truncated to
//! milliseconds at creation, so the in-memory store and PostgreSQL (microseconds)
//! hold and return exactly the same values.

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to whole milliseconds.
pub fn now() -> Timestamp {
    truncate(Utc::now())
}

pub fn truncate(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

pub fn format(t: &Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a query-string timestamp: RFC 3339 (`2023-12-03T05:35:48.519Z`) or a plain date
/// (`2023-12-03`, taken as midnight UTC).
/// Years 1 to 9999 only: what RFC 3339 writes and well inside what PostgreSQL stores
/// (chrono would take year -200000, which PostgreSQL then refuses with a 500).
pub fn parse(field: &str, raw: &str) -> Result<Timestamp, String> {
    let parsed = if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        Some(t.with_timezone(&Utc))
    } else {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    };
    match parsed {
        Some(t) if (1..=9999).contains(&chrono::Datelike::year(&t)) => Ok(t),
        Some(_) => Err(format!("{field} must be a date between years 1 and 9999")),
        None => Err(format!("{field} must be an ISO 8601 date or date-time")),
    }
}

/// `#[serde(with = "crate::domain::time::millis")]` for wire timestamps.
pub mod millis {
    use super::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse("timestamp", &raw).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Timestamp>` (null when absent).
    pub mod option {
        use super::super::Timestamp;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::format(t)),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_postgresql_cannot_store_are_refused() {
        for raw in [
            "-200000-01-01",
            "+300000-01-01",
            "300000-01-01",
            "0000-01-01",
        ] {
            assert!(parse("createdAtStart", raw).is_err(), "{raw}");
        }
        assert!(parse("t", "9999-12-31T23:59:59.999Z").is_ok());
        assert!(parse("t", "0001-01-01").is_ok());
    }

    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = parse("t", "2023-11-01T08:59:09.674123Z").unwrap();
        assert_eq!(format(&truncate(t)), "2023-11-01T08:59:09.674Z");
    }

    #[test]
    fn parses_plain_dates_and_refuses_garbage() {
        assert_eq!(
            format(&parse("t", "2023-12-03").unwrap()),
            "2023-12-03T00:00:00.000Z"
        );
        assert_eq!(
            parse("updatedAtStart", "yesterday").unwrap_err(),
            "updatedAtStart must be an ISO 8601 date or date-time"
        );
    }
}
