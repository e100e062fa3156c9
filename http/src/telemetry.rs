//! Logs: `tracing` with one root span per request carrying its request id and, once
//! authenticated, the account and person ids, so every line a request causes names who
//! and which request.
//!
//! The span records the path and a redacted query: a browser's WebSocket upgrade carries
//! its access token as `?token=`, and search filters (`q`, `username`, `email`) say what a
//! person looked for. Neither belongs in a log.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use metmos_engine::config::LogSettings;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests start many apps) do nothing.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    // Logs go to stderr, so that what a command prints on stdout (a token, a count) stays
    // machine-readable; colours only when a person is watching.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if settings.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Query parameters whose values are logged as they are: paging, sorting and ids, which
/// say nothing about a person. Every other value (tokens, search terms, emails, and any
/// parameter added later) is replaced, so a new filter is private until listed here.
const LOGGABLE_PARAMS: &[&str] = &[
    "page",
    "pageSize",
    "limit",
    "after",
    "offset",
    "skip",
    "take",
    "sort",
    "sortBy",
    "order",
    "orderBy",
    "status",
    "type",
    "personUuid",
    "chatUuid",
    "listingUuid",
    "categoryUuid",
];

/// The request target as logged: the path, and the query with every value not in
/// [`LOGGABLE_PARAMS`] replaced by `[redacted]`.
pub fn redacted_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if LOGGABLE_PARAMS.contains(&key) => format!("{key}={value}"),
            Some((key, _)) => format!("{key}=[redacted]"),
            None => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// Is this the opening handshake of a WebSocket (`Upgrade: websocket`)?
fn is_websocket_upgrade(request: &ServiceRequest) -> bool {
    request
        .headers()
        .get(actix_web::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The root span of a request: tracing-actix-web's fields (with a redacted target) plus
/// ours. Built by hand rather than with `root_span!`, which records the raw query.
pub struct MetmosRootSpan;

impl RootSpanBuilder for MetmosRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // tracing-actix-web keeps the root span alive with a streamed response body, and
        // a WebSocket's body lives as long as the socket: about 1 KB of recorded fields
        // per open socket, for a span that logs nothing after the upgrade (issue 14's
        // memory per connection). The upgrade logs its own lines with the request id
        // instead (`ws::upgrade`).
        if is_websocket_upgrade(request) {
            return Span::none();
        }
        // Not routed yet: `match_pattern` here would walk every route's pattern a second
        // time per request (issue 14's REST profile). The route is recorded once the
        // request is routed (the caller extractor, then `on_request_end`).
        let method = request.method().as_str().to_string();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let target = redacted_target(request.path(), request.query_string());
        let client_ip = request
            .connection_info()
            .realip_remote_addr()
            .unwrap_or("")
            .to_string();
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = tracing::field::Empty,
            http.target = %target,
            http.client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.name = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
            account_id = tracing::field::Empty,
            person_id = tracing::field::Empty
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome {
            let request = response.request();
            let route = request
                .match_pattern()
                .unwrap_or_else(|| "default".to_string());
            span.record("otel.name", format!("{} {route}", request.method()));
            span.record("http.route", route.as_str());
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_search_terms_are_redacted_paging_is_kept() {
        assert_eq!(redacted_target("/people", ""), "/people");
        assert_eq!(
            redacted_target("/", "token=eyJhbGc.secret.sig"),
            "/?token=[redacted]"
        );
        assert_eq!(
            redacted_target("/people/search", "q=alice%20smith&page=2&pageSize=10"),
            "/people/search?q=[redacted]&page=2&pageSize=10"
        );
        assert_eq!(
            redacted_target("/x", "email=a@b.c&newFilter=private&flag"),
            "/x?email=[redacted]&newFilter=[redacted]&flag"
        );
    }
}
