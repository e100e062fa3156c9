//! Accounts and persons: the identity half of the People API.

use super::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountStatus {
    Pending,
    Active,
    Blocked,
    Disabled,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Pending => "PENDING",
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Blocked => "BLOCKED",
            AccountStatus::Disabled => "DISABLED",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "PENDING" => Ok(Self::Pending),
            "ACTIVE" => Ok(Self::Active),
            "BLOCKED" => Ok(Self::Blocked),
            "DISABLED" => Ok(Self::Disabled),
            _ => Err("accountStatus must be one of the following values: PENDING, ACTIVE, BLOCKED, DISABLED".into()),
        }
    }
    /// Blocked and disabled accounts keep their data but may not use the API.
    pub fn may_sign_in(self) -> bool {
        matches!(self, AccountStatus::Pending | AccountStatus::Active)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: i64,
    pub uuid: Uuid,
    pub cognito_user_id: String,
    pub account_status: AccountStatus,
    pub verification_status: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: i64,
    pub uuid: Uuid,
    pub account_id: i64,
    pub account_uuid: Uuid,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub contact_number: Option<String>,
    pub birth_date: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Person {
    /// "First Last", or the username when no name is set: what pushes and notifications
    /// call this person.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.username.clone()
        } else {
            name
        }
    }
}

/// A new account, ready to store (the service chose its uuid and time).
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub uuid: Uuid,
    pub cognito_user_id: String,
    pub account_status: AccountStatus,
    pub at: Timestamp,
}

/// A new person, every field already parsed.
#[derive(Debug, Clone)]
pub struct NewPerson {
    pub uuid: Uuid,
    pub account_uuid: Uuid,
    /// What sign-up gave: the same fields `POST /people` and `POST /dev/users` parse.
    pub fields: PersonFields,
    pub at: Timestamp,
}

impl NewAccount {
    /// The stored row this becomes, given its id.
    pub fn stored(&self, id: i64) -> Account {
        Account {
            id,
            uuid: self.uuid,
            cognito_user_id: self.cognito_user_id.clone(),
            account_status: self.account_status,
            verification_status: None,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

impl NewPerson {
    /// The stored row this becomes, given its id and its account.
    pub fn stored(&self, id: i64, account: &Account) -> Person {
        let f = &self.fields;
        Person {
            id,
            uuid: self.uuid,
            account_id: account.id,
            account_uuid: account.uuid,
            username: f.username.as_str().to_string(),
            first_name: f.first_name.clone(),
            last_name: f.last_name.clone(),
            email: f.email.as_str().to_string(),
            contact_number: f.contact_number.clone(),
            birth_date: f.birth_date.clone(),
            location: f.location.clone(),
            bio: f.bio.clone(),
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

/// Longest first or last name.
pub const MAX_NAME: usize = 100;
/// Longest location.
pub const MAX_LOCATION: usize = 200;
/// Longest bio.
pub const MAX_BIO: usize = 1000;

/// `POST /accounts` (INTERNAL, the sign-up trigger), parsed at the edge.
#[derive(Debug, Clone)]
pub struct CreateAccount {
    pub cognito_user_id: String,
    pub account_status: AccountStatus,
}

/// A Cognito user id: 1 to 128 characters, no white space or control characters.
pub fn parse_cognito_user_id(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("cognitoUserId must be 1 to 128 characters without spaces".into())
    } else {
        Ok(s.to_string())
    }
}

/// A person's sign-up fields, parsed: the body of `POST /dev/users`, and (with an
/// account) of `POST /people`.
#[derive(Debug, Clone)]
pub struct PersonFields {
    pub username: Username,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub contact_number: Option<String>,
    pub birth_date: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
}

impl PersonFields {
    /// Just a username and an email (the CLI's `dev-user`, tests).
    pub fn named(username: Username, email: Email) -> Self {
        Self {
            username,
            email,
            first_name: None,
            last_name: None,
            contact_number: None,
            birth_date: None,
            location: None,
            bio: None,
        }
    }

    /// The new person these fields make for `account_uuid`, with a fresh uuid.
    pub fn into_new(self, account_uuid: Uuid, at: Timestamp) -> NewPerson {
        NewPerson {
            uuid: Uuid::new_v4(),
            account_uuid,
            fields: self,
            at,
        }
    }
}

/// `POST /people` (INTERNAL): the person of an existing account.
#[derive(Debug, Clone)]
pub struct CreatePerson {
    pub account_uuid: Uuid,
    pub person: PersonFields,
}

/// Who someone is, without their profile: what per-connection state keeps (a socket
/// holds this, not a `Person`, to stay small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonIds {
    pub id: i64,
    pub uuid: Uuid,
}

impl From<&Person> for PersonIds {
    fn from(p: &Person) -> Self {
        Self {
            id: p.id,
            uuid: p.uuid,
        }
    }
}

/// The fields `PATCH /people/me` may change. `None` leaves a field alone;
/// `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonPatch {
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub contact_number: Option<Option<String>>,
    pub birth_date: Option<Option<String>>,
    pub location: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    /// false: send no read receipts and see nobody's (one's own devices still sync).
    /// A setting stored apart from the profile; `apply` leaves it alone.
    pub read_receipts: Option<bool>,
}

impl PersonPatch {
    pub fn apply(&self, p: &mut Person) {
        let set = |field: &mut Option<String>, v: &Option<Option<String>>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut p.first_name, &self.first_name);
        set(&mut p.last_name, &self.last_name);
        set(&mut p.contact_number, &self.contact_number);
        set(&mut p.birth_date, &self.birth_date);
        set(&mut p.location, &self.location);
        set(&mut p.bio, &self.bio);
    }
}

/// What `GET /people?q=` looks for. Names and username match by case-insensitive
/// substring; email and contact number only by exact match, so search can find a person
/// by their phone number without ever revealing anyone's number.
#[derive(Debug, Clone, PartialEq)]
pub struct PeopleQuery {
    pub q: Option<String>,
}

impl PeopleQuery {
    pub fn needle(&self) -> Option<String> {
        self.q
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase)
    }
}

/// Does `p` match the search text `needle` (already lowercased)? The in-memory store uses
/// this; the PostgreSQL store says the same in SQL (`ILIKE`, `lower(email) =`).
pub fn person_matches(p: &Person, needle: &str) -> bool {
    let contains = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.to_lowercase().contains(needle))
    };
    let full_name = format!(
        "{} {}",
        p.first_name.as_deref().unwrap_or(""),
        p.last_name.as_deref().unwrap_or("")
    )
    .to_lowercase();
    p.username.to_lowercase().contains(needle)
        || contains(&p.first_name)
        || contains(&p.last_name)
        || full_name.contains(needle)
        || p.email.to_lowercase() == needle
        || p.contact_number.as_deref().is_some_and(|c| {
            let n = normalize_phone(needle);
            !n.is_empty() && normalize_phone(c) == n
        })
}

/// Digits and a leading `+`: `+61 423 945 163` and `+61423945163` are one number.
pub fn normalize_phone(raw: &str) -> String {
    let trimmed = raw.trim();
    let mut out = String::new();
    if trimmed.starts_with('+') {
        out.push('+');
    }
    out.extend(trimmed.chars().filter(|c| c.is_ascii_digit()));
    out
}

/// A username: 3 to 30 characters of letters, digits, `.`, `_` or `-`, starting with a
/// letter or digit. Unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let ok_len = (3..=30).contains(&s.chars().count());
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        let ok_start = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if ok_len && ok_chars && ok_start {
            Ok(Self(s.to_string()))
        } else {
            Err("username must be 3 to 30 letters, digits, '.', '_' or '-', starting with a letter or digit".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, trimmed; unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let err = || "email must be an email address".to_string();
        if s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(err());
        }
        let (local, domain) = s.split_once('@').ok_or_else(err)?;
        if local.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(err());
        }
        Ok(Self(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's optional profile field: what sign-up and `PATCH /people/me` both parse, so
/// the two never disagree on a field's rule (its length limit, or its own parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    FirstName,
    LastName,
    ContactNumber,
    BirthDate,
    Location,
    Bio,
}

impl ProfileField {
    /// Parses this field's raw text: `Ok(None)` for nothing (absent, or blank once
    /// trimmed), else the cleaned value, or the problem in the API's words.
    pub fn parse(self, raw: Option<&str>) -> Result<Option<String>, String> {
        match self {
            ProfileField::FirstName => parse_text("firstName", raw, MAX_NAME),
            ProfileField::LastName => parse_text("lastName", raw, MAX_NAME),
            ProfileField::ContactNumber => parse_contact_number(raw),
            ProfileField::BirthDate => parse_birth_date(raw),
            ProfileField::Location => parse_text("location", raw, MAX_LOCATION),
            ProfileField::Bio => parse_text("bio", raw, MAX_BIO),
        }
    }
}

/// Optional free text with a length limit; empty strings are stored as absent.
pub fn parse_text(
    field: &str,
    raw: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max_chars => {
            Err(format!("{field} must be at most {max_chars} characters"))
        }
        Some(s) => Ok(Some(
            super::text::check(field, s, super::text::TextKind::Free)?.to_string(),
        )),
    }
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and parentheses; 6 to 15
/// digits (E.164's limit).
pub fn parse_contact_number(raw: Option<&str>) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => {
            let digits = s.chars().filter(char::is_ascii_digit).count();
            let ok_chars = s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_digit()
                    || matches!(c, ' ' | '-' | '.' | '(' | ')')
                    || (c == '+' && i == 0)
            });
            if ok_chars && (6..=15).contains(&digits) {
                Ok(Some(s.to_string()))
            } else {
                Err(
                    "contactNumber must be a phone number (6 to 15 digits, optional leading +)"
                        .into(),
                )
            }
        }
    }
}

/// A birth date `YYYY-MM-DD`, not in the future.
pub fn parse_birth_date(raw: Option<&str>) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if d <= chrono::Utc::now().date_naive() && d.year_ce().1 >= 1900 => {
                Ok(Some(d.to_string()))
            }
            _ => Err("birthDate must be a past date in the form YYYY-MM-DD".into()),
        },
    }
}

use chrono::Datelike;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("zackross").is_ok());
        assert!(Username::parse("mary.jane_2").is_ok());
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("_alice").is_err());
        assert!(Username::parse("al ice").is_err());
        assert!(Username::parse(&"a".repeat(31)).is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("Zack.Ross@metmos.io").is_ok());
        for bad in ["", "no-at", "a@b", "a@@b.c", "@b.co", "a b@c.de", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_and_dates() {
        assert_eq!(
            parse_contact_number(Some("+61 423 945 163"))
                .unwrap()
                .as_deref(),
            Some("+61 423 945 163")
        );
        assert!(parse_contact_number(Some("call me")).is_err());
        assert!(parse_contact_number(Some("12+345678")).is_err());
        assert_eq!(normalize_phone("+61 (423) 945-163"), "+61423945163");
        assert_eq!(
            parse_birth_date(Some("1981-11-29")).unwrap().as_deref(),
            Some("1981-11-29")
        );
        assert!(parse_birth_date(Some("29/11/1981")).is_err());
        assert!(parse_birth_date(Some("2999-01-01")).is_err());
    }

    #[test]
    fn search_matches_names_by_substring_and_contacts_exactly() {
        let p = Person {
            id: 1,
            uuid: Uuid::nil(),
            account_id: 1,
            account_uuid: Uuid::nil(),
            username: "maryjane".into(),
            first_name: Some("Mary".into()),
            last_name: Some("Watson".into()),
            email: "mary@example.com".into(),
            contact_number: Some("+61 400 000 001".into()),
            birth_date: None,
            location: None,
            bio: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        assert!(person_matches(&p, "mary"));
        assert!(person_matches(&p, "y wat"));
        assert!(person_matches(&p, "mary@example.com"));
        assert!(
            !person_matches(&p, "example.com"),
            "email matches only exactly"
        );
        assert!(person_matches(&p, "+61400000001"));
        assert!(!person_matches(&p, "400"), "phone matches only exactly");
        assert_eq!(p.display_name(), "Mary Watson");
    }
}
