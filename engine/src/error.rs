//! The engine's error type. Every use case answers with one of these; the HTTP layer maps
//! each variant to a status code in exactly one place (`metmos_http::error`).

use crate::domain::refusal::Refusal;
use thiserror::Error;

/// What went wrong, phrased for the caller. Messages are shown to API clients, so they
/// name the problem ("Listing not found") and never leak internals.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// Input that does not parse or breaks a field rule; one message per problem.
    #[error("validation failed: {}", .0.join("; "))]
    Validation(Vec<String>),
    /// No token, or a token that does not verify.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this to this object.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No such object, or one the caller may not know exists.
    #[error("not found: {0}")]
    NotFound(String),
    /// A duplicate, or a transition the lifecycle forbids.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A rule of the engine said no: 404 or 409 by [`Refusal::is_not_found`], worded by
    /// the refusal itself.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// Too many requests; retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency (database, broker) is down; nothing was half-written.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an invariant broken inside the engine. Logged in full, shown as 500.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(message: impl Into<String>) -> Self {
        Error::Validation(vec![message.into()])
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Error::Forbidden(message.into())
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict(message.into())
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Error::Unauthorized(message.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the Store port. Adapters translate their driver's errors into these, so that
/// services can tell "duplicate" from "database down" without knowing which store runs.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness or state constraint refused the change.
    #[error("{0}")]
    Conflict(String),
    /// A rule (checked by the adapter or a constraint mapped to it) refused the change.
    #[error("{0}")]
    Refused(Refusal),
    /// The store cannot be reached or timed out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Error::NotFound(m),
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::Refused(r) => Error::Refused(r),
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::Internal(m) => Error::Internal(m),
        }
    }
}

impl From<Refusal> for StoreError {
    fn from(r: Refusal) -> Self {
        StoreError::Refused(r)
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}

pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// Collects every field problem of one request, so a client sees them all at once
/// (the NestJS `message` array) instead of fixing them one round trip at a time.
#[derive(Debug, Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }
    /// Records the error of a parse, keeping the value when it parsed.
    pub fn check<T>(&mut self, result: std::result::Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(m) => {
                self.0.push(m);
                None
            }
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The messages so far, for a command that carries its problems to the service
    /// (which adds those that need the store and reports them all at once).
    pub fn into_messages(self) -> Vec<String> {
        self.0
    }
    /// The parsed value when nothing was wrong, else the validation error with every
    /// message. Parsers build `value` from the `Option`s `check` returned, so a missing
    /// part always comes with its message: no "parsed fields missing" branch is needed.
    pub fn finish_with<T>(self, value: Option<T>) -> Result<T> {
        match value {
            Some(v) if self.0.is_empty() => Ok(v),
            _ => Err(Error::Validation(self.0)),
        }
    }
    /// `Ok(())` when nothing was wrong, else the validation error with every message.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(self.0))
        }
    }
}
