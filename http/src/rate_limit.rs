//! REST rate limits (API.md: 429 with `Retry-After`): GCRA token buckets from the
//! `governor` crate, one keyed limiter per route group.
//!
//! - `reads` (GET, HEAD) and `writes` (every other method) are keyed by the verified
//!   token subject, so one person's phone and browser share their budget;
//! - `anonymous` is keyed by the TCP peer's address and takes every request without a
//!   valid credential: sign-ups (`/dev/users`), INTERNAL calls, and failed sign-ins, so
//!   guessing tokens is as slow as the tightest bucket. The peer address, not
//!   `X-Forwarded-For`, which a client writes itself.
//!
//! `/health`, `/metrics` and the API documentation are never limited (load balancers
//! and scrapers poll them). Buckets of keys idle long enough to be full again are
//! dropped every [`PRUNE_EVERY`] checks, so memory follows the active callers.

use crate::error::ApiError;
use crate::extract::GATEWAY_USER_HEADER;
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use metmos_engine::auth::Credentials;
use metmos_engine::config::{BucketSettings, RateLimitSettings};
use metmos_engine::error::Error;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many checks between two sweeps of idle keys.
const PRUNE_EVERY: u64 = 4096;

/// The three limiters of one app (shared by its workers).
pub struct RateLimits {
    reads: DefaultKeyedRateLimiter<String>,
    writes: DefaultKeyedRateLimiter<String>,
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
    clock: DefaultClock,
}

fn quota(b: BucketSettings) -> Quota {
    // Validated at load (both at least 1); `MIN` only keeps this total.
    let per_minute = NonZeroU32::new(b.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(b.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl RateLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            reads: DefaultKeyedRateLimiter::keyed(quota(settings.reads)),
            writes: DefaultKeyedRateLimiter::keyed(quota(settings.writes)),
            anonymous: DefaultKeyedRateLimiter::keyed(quota(settings.anonymous)),
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` or the whole seconds to wait (at least 1, as `Retry-After` counts seconds).
    fn check(&self, who: &Who, write: bool) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.reads.retain_recent();
            self.writes.retain_recent();
            self.anonymous.retain_recent();
        }
        let outcome = match who {
            Who::Subject(sub) if write => self.writes.check_key(sub),
            Who::Subject(sub) => self.reads.check_key(sub),
            Who::Address(ip) => self.anonymous.check_key(ip),
        };
        outcome.map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Rounded up: a client that waits exactly this long is let through.
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

/// Whose bucket a request draws from.
enum Who {
    Subject(String),
    Address(IpAddr),
}

fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/metrics" | "/openapi.json") || path.starts_with("/docs")
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limits = req.app_data::<web::Data<RateLimits>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(limits), Some(state)) = (limits, state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if exempt(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    // The WebSocket upgrade may carry its token in the query (browsers).
    let query_token =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| q.get("token").cloned());
    let credentials = Credentials {
        authorization: header("authorization").or(query_token.as_deref()),
        gateway_user_id: header(GATEWAY_USER_HEADER),
    };
    let who = match state.engine.auth.verify(credentials).await {
        Ok(sub) if !req.path().starts_with("/dev/") => Who::Subject(sub),
        _ => Who::Address(
            req.peer_addr()
                .map(|a| a.ip())
                .unwrap_or(IpAddr::from([0, 0, 0, 0])),
        ),
    };
    let write = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    match limits.check(&who, write) {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body),
        Err(retry_after_secs) => {
            if let Who::Address(ip) = &who {
                tracing::info!(%ip, retry_after_secs, "rate limited (by address)");
            } else {
                tracing::info!(retry_after_secs, write, "rate limited (by person)");
            }
            let response = ApiError(Error::RateLimited { retry_after_secs }).error_response();
            Ok(req.into_response(response))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tight() -> RateLimitSettings {
        let b = BucketSettings {
            per_minute: 60,
            burst: 3,
        };
        RateLimitSettings {
            enabled: true,
            reads: BucketSettings {
                per_minute: 60,
                burst: 5,
            },
            writes: b,
            anonymous: b,
        }
    }

    #[test]
    fn a_burst_then_429_with_a_wait_in_whole_seconds_per_key_and_group() {
        let limits = RateLimits::new(&tight());
        let alice = Who::Subject("alice".into());
        for _ in 0..3 {
            assert!(limits.check(&alice, true).is_ok());
        }
        let wait = limits.check(&alice, true).unwrap_err();
        assert_eq!(wait, 1, "one token a second");
        // Reads have their own bucket; bob and an address have theirs.
        assert!(limits.check(&alice, false).is_ok());
        assert!(limits.check(&Who::Subject("bob".into()), true).is_ok());
        assert!(
            limits
                .check(&Who::Address([10, 0, 0, 1].into()), true)
                .is_ok()
        );
    }
}
