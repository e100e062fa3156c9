//! Small parsers every body and query shares: trimmed text, required enums and uuids.
//! The http edge builds commands with them; each returns the message a client sees.

use uuid::Uuid;

/// A query or body value, trimmed; `None` when absent or blank.
pub fn non_blank(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// Optional text, trimmed; `None` for absent or blank. Longer than `max` is a problem.
pub fn optional_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> std::result::Result<Option<String>, String> {
    super::people::parse_text(field, raw, max)
}

/// Required text, trimmed, 1 to `max` characters.
pub fn required_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> std::result::Result<String, String> {
    optional_text(field, raw, max)?.ok_or_else(|| format!("{field} should not be empty"))
}

/// A required wire enum.
pub fn required_enum<T>(
    field: &str,
    raw: Option<&str>,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    match raw {
        None => Err(format!("{field} should not be empty")),
        Some(s) => parse(s.trim()),
    }
}

/// A uuid in a body or query field.
pub fn parse_uuid_field(field: &str, raw: &str) -> std::result::Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| format!("{field} must be a UUID"))
}
