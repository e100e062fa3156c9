//! Timestamps. The wire format is RFC 3339 UTC with milliseconds
//! (`2023-11-01T08:59:09.674Z`); inside, `chrono::DateTime<Utc>` truncated to
//! milliseconds at creation, so the in-memory store and PostgreSQL (microseconds)
//! hold and return exactly the same values.

use chrono::{DateTime, Datelike, DurationRound, SecondsFormat, TimeDelta, Timelike, Utc};

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to whole milliseconds.
pub fn now() -> Timestamp {
    truncate(Utc::now())
}

pub fn truncate(t: Timestamp) -> Timestamp {
    t.duration_trunc(TimeDelta::milliseconds(1)).unwrap_or(t)
}

pub fn format(t: &Timestamp) -> String {
    match WireTime::new(t) {
        Some(w) => w.as_str().to_string(),
        None => t.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// A timestamp in its wire form (`2023-11-01T08:59:09.674Z`), written into 24 bytes on
/// the stack. Every chat frame and every message of a history page carries two of these:
/// chrono's formatter went through `fmt` and a `String` for each, a third of a frame's
/// rendering (`cargo bench --bench hot_path -- frames`).
pub struct WireTime([u8; 24]);

impl WireTime {
    /// `None` for a year outside 0–9999, which RFC 3339 cannot write in four digits (the
    /// caller falls back to chrono, which writes it signed).
    pub fn new(t: &Timestamp) -> Option<Self> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut b = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut n: u32| {
            for i in (at..at + width).rev() {
                // `n % 10` is a digit: the cast cannot truncate.
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        // A leap second is nanosecond ≥ 1e9 in chrono, printed as second 60 by it too.
        let (second, nanos) = match t.nanosecond() {
            n if n >= 1_000_000_000 => (t.second() + 1, n - 1_000_000_000),
            n => (t.second(), n),
        };
        put(17, 2, second);
        put(20, 3, nanos / 1_000_000);
        Some(Self(b))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and the literal's punctuation were written.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
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
        match super::WireTime::new(t) {
            Some(w) => s.serialize_str(w.as_str()),
            None => s.serialize_str(&super::format(t)),
        }
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
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_chronos_rfc3339_with_millis() {
        let chrono_form = |t: &Timestamp| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut samples: Vec<Timestamp> = vec![
            now(),
            DateTime::UNIX_EPOCH,
            parse("t", "2023-11-01T08:59:09.674Z").expect("valid"),
            parse("t", "0001-01-01T00:00:00.000Z").expect("valid"),
            parse("t", "9999-12-31T23:59:59.999Z").expect("valid"),
            parse("t", "2024-02-29T12:00:00.5Z").expect("valid"),
            parse("t", "2016-12-31T23:59:60.250Z").expect("a leap second"),
        ];
        // A spread over years 1..9999, with sub-millisecond parts that must be cut.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // 0001-01-01 to 9999-12-31, in seconds from the epoch.
            let secs = (x % 315_537_897_599) as i64 - 62_135_596_800;
            let nanos = ((x >> 3) % 1_000_000_000) as u32;
            samples.push(DateTime::from_timestamp(secs, nanos).expect("in range"));
        }
        for t in &samples {
            assert_eq!(format(t), chrono_form(t), "{t:?}");
        }
        let far = parse("t", "2023-01-01").expect("valid") + TimeDelta::days(3_000_000);
        assert!(WireTime::new(&far).is_none(), "year {}", far.year());
        assert_eq!(format(&far), chrono_form(&far));
    }

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
