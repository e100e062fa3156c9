//! The OpenAPI 3 document, generated from the handlers' annotations (utoipa), served at
//! `/openapi.json`, with Swagger UI at `/docs`. The UI's files are vendored from the
//! `swagger-ui-dist` npm package (`http/static/`), so the engine builds and serves them
//! offline.

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Metmos Engine API",
        description = "People API, Listing API and the realtime channel of Metmos Social, served by one engine.",
        version = env!("CARGO_PKG_VERSION")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(crate::error::ErrorBody))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The access token, raw or as `Bearer <token>` (dev: HS256; cognito: the pool's RS256 access token)",
            ))),
        );
        components.add_security_scheme(
            "gateway",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-cognito-user-id",
                "Only with auth.mode = gateway: the user id API Gateway's authorizer verified",
            ))),
        );
        components.add_security_scheme(
            "internal",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-internal-api-key",
                "INTERNAL endpoints: the key in auth.internal_api_key",
            ))),
        );
        components.add_security_scheme(
            "alchemy",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-alchemy-signature",
                "Alchemy webhooks: hex HMAC-SHA256 of the raw body with chain.alchemy_signing_key",
            ))),
        );
    }
}

const SWAGGER_JS: &[u8] = include_bytes!("../static/swagger-ui-bundle.js");
const SWAGGER_CSS: &[u8] = include_bytes!("../static/swagger-ui.css");
const DOCS_HTML: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Metmos Engine API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"##;

/// The document and UI routes. They describe the API rather than belong to it, so they
/// are the only routes outside the document.
pub fn routes(cfg: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    let json = document.to_json().unwrap_or_else(|_| "{}".into());
    cfg.route(
        "/openapi.json",
        web::get().to(move || {
            let json = json.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(json)
            }
        }),
    )
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(DOCS_HTML)
        }),
    )
    .route(
        "/docs/",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(DOCS_HTML)
        }),
    )
    .route(
        "/docs/swagger-ui-bundle.js",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("application/javascript")
                .insert_header(("cache-control", "public, max-age=86400"))
                .body(SWAGGER_JS)
        }),
    )
    .route(
        "/docs/swagger-ui.css",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type("text/css")
                .insert_header(("cache-control", "public, max-age=86400"))
                .body(SWAGGER_CSS)
        }),
    );
}
