//! Bad input of every kind gets the NestJS envelope with the right 4xx, never a 500.

use crate::harness::{Backend, TestApp};
use crate::on_both_stores;
use serde_json::json;

on_both_stores! {
    async fn malformed_and_mistyped_bodies_are_400(app) {
        let alice = app.user("alice").await;
        let send = |body: &'static str, content_type: &'static str| {
            app.send(app.client.patch(app.url("/people/me")).header("Authorization", &alice.token).header("content-type", content_type).body(body))
        };
        let r = send("{bad", "application/json").await.expect_error(400);
        assert!(r.message().starts_with("Malformed JSON"), "{}", r.text);
        let r = send(r#"{"bio": 5}"#, "application/json").await.expect_error(400);
        assert!(r.body["message"].is_array(), "type errors are validation errors: {}", r.text);
        assert!(r.message().contains("invalid type: integer `5`, expected a string"), "{}", r.text);
        let r = send(r#"{"bio": "x"}"#, "text/plain").await.expect_error(400);
        assert_eq!(r.message(), "Content-Type must be application/json");
        send("", "application/json").await.expect_error(400);
        // Missing required fields are named.
        let r = app.post("/dev/users", None, json!({"email": "a@b.co"})).await.expect_error(400);
        assert!(r.message().contains("missing field `username`"), "{}", r.text);
    }

    async fn bad_paths_and_queries_are_400_and_unknown_routes_404(app) {
        let alice = app.user("alice").await;
        let r = app.get("/people/1234", Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.message(), "uuid must be a UUID");
        let r = app.get("/nowhere", None).await.expect_error(404);
        assert_eq!(r.message(), "Cannot GET /nowhere");
        let r = app.delete("/people/me", Some(&alice.token)).await.expect_error(404);
        assert_eq!(r.message(), "Cannot DELETE /people/me", "wrong method answers as NestJS does");
        app.get("/people?limit=abc", Some(&alice.token)).await.expect_error(400);
        app.get("/people?after=1.5", Some(&alice.token)).await.expect_error(400);
        let long = "x".repeat(101);
        app.get(&format!("/people?q={long}"), Some(&alice.token)).await.expect_error(400);
        let r = app.get("/notifications?notificationCategory=FUN&updatedAtStart=yesterday", Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.body["message"].as_array().unwrap().len(), 2, "{}", r.text);
    }
}

#[actix_web::test]
async fn bodies_over_the_limit_are_413() {
    let app = TestApp::spawn_with(Backend::Memory, &[("http.max_body_bytes", "2048")]).await;
    let alice = app.user("alice").await;
    let r = app
        .patch(
            "/people/me",
            Some(&alice.token),
            json!({"bio": "x".repeat(5000)}),
        )
        .await
        .expect_error(413);
    assert_eq!(r.body["error"], "Payload Too Large");
    // Under the limit still works.
    app.patch("/people/me", Some(&alice.token), json!({"bio": "fits"}))
        .await
        .expect(200);
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn(Backend::Memory).await;
    let r = app.get("/health", None).await.expect(200);
    let id = r
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "x-request-id: {id:?}");
    let other = app.get("/health", None).await;
    assert_ne!(
        other.headers.get("x-request-id").unwrap().to_str().unwrap(),
        id
    );
}

#[actix_web::test]
async fn health_reports_the_store_and_bus() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let r = app.get("/health", None).await.expect(200);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["info"]["database"]["status"], "up");
    assert_eq!(r.body["info"]["bus"]["status"], "up");
    assert_eq!(r.body["details"]["database"]["status"], "up");
    assert_eq!(r.body["error"], json!({}));
    let alice = app.user("alice").await;

    // The database goes away: health is 503, requests are 503 in the envelope, never 500.
    let name = app.db.as_ref().unwrap().name.clone();
    let (admin, conn) =
        tokio_postgres::connect(&metmos_engine::testing::admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    actix_web::rt::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
    let r = app.get("/health", None).await.expect(503);
    assert_eq!(r.body["status"], "error");
    // `down`, without the driver's text (hosts, users, versions): that goes to the log.
    assert_eq!(r.body["error"]["database"], json!({"status": "down"}));
    assert_eq!(r.body["details"]["database"], json!({"status": "down"}));
    assert_eq!(r.body["details"]["bus"]["status"], "up");
    let r = app
        .get("/people/me", Some(&alice.token))
        .await
        .expect_error(503);
    assert_eq!(r.message(), "Service unavailable, try again shortly");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = TestApp::spawn(Backend::Memory).await;
    let alice = app.user("alice").await;
    app.get(
        &format!("/people/{}", alice.person_uuid),
        Some(&alice.token),
    )
    .await
    .expect(200);
    app.get("/people/not-a-uuid", Some(&alice.token))
        .await
        .expect(400);
    let text = app.get("/metrics", None).await.expect(200).text;
    assert!(
        text.contains(
            r#"metmos_http_requests_total{method="GET",route="/people/{uuid}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"metmos_http_requests_total{method="GET",route="/people/{uuid}",status="400"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("metmos_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(text.contains("metmos_ws_connections_open"), "{text}");
    assert!(text.contains("metmos_outbox_backlog"), "{text}");
    assert!(text.contains("metmos_db_pool_max"), "{text}");
}
