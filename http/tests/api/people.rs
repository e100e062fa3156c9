//! People and accounts: sign-up (INTERNAL), me, privacy, search and paging.

use crate::harness::{Backend, TestApp};
use crate::on_both_stores;
use serde_json::json;

on_both_stores! {
    async fn dev_user_then_me(app) {
        let alice = app.user("alice").await;
        let me = app.get("/people/me", Some(&alice.token)).await.expect(200);
        assert_eq!(me.body["uuid"], alice.person_uuid.as_str());
        assert_eq!(me.body["username"], "alice");
        assert_eq!(me.body["email"], "alice@example.com");
        assert_eq!(me.body["accountUuid"], alice.account_uuid.as_str());
        let created = me.body["createdAt"].as_str().unwrap();
        assert!(created.ends_with('Z') && created.len() == 24, "millisecond RFC 3339: {created}");
        // Bearer works as well as the raw token.
        app.get("/people/me", Some(&format!("Bearer {}", alice.token))).await.expect(200);
        let account = app.get("/accounts/me", Some(&alice.token)).await.expect(200);
        assert_eq!(account.body["uuid"], alice.account_uuid.as_str());
        assert_eq!(account.body["accountStatus"], "ACTIVE");
        assert_eq!(account.body["personUuid"], alice.person_uuid.as_str());
    }

    async fn internal_sign_up_flow(app) {
        let key = app.internal_key();
        let post = |path: &'static str, body: serde_json::Value, key: Option<String>| {
            let mut req = app.client.post(app.url(path)).json(&body);
            if let Some(k) = key {
                req = req.header("x-internal-api-key", k);
            }
            app.send(req)
        };
        post("/accounts", json!({"cognitoUserId": "cc51ff25"}), None).await.expect_error(401);
        post("/accounts", json!({"cognitoUserId": "cc51ff25"}), Some("wrong-key-wrong-key".into())).await.expect_error(401);
        let account = post("/accounts", json!({"cognitoUserId": "cc51ff25", "accountStatus": "PENDING"}), Some(key.clone()))
            .await
            .expect(201);
        assert_eq!(account.body["accountStatus"], "PENDING");
        post("/accounts", json!({"cognitoUserId": "cc51ff25"}), Some(key.clone())).await.expect_error(409);
        let bad = post("/accounts", json!({"cognitoUserId": "", "accountStatus": "WEIRD"}), Some(key.clone())).await.expect_error(400);
        assert_eq!(bad.body["message"].as_array().unwrap().len(), 2, "{}", bad.text);

        let account_uuid = account.body["uuid"].as_str().unwrap().to_string();
        let person = post(
            "/people",
            json!({"username": "zackross", "email": "Zack.Ross@metmos.io", "accountUuid": account_uuid}),
            Some(key.clone()),
        )
        .await
        .expect(201);
        assert_eq!(person.body["email"], "Zack.Ross@metmos.io");
        // One person per account; usernames and emails unique regardless of case.
        post("/people", json!({"username": "other", "email": "o@metmos.io", "accountUuid": account_uuid}), Some(key.clone()))
            .await
            .expect_error(409);
        let dup = post("/dev/users", json!({"username": "ZACKROSS", "email": "z2@metmos.io"}), None).await.expect_error(409);
        assert_eq!(dup.message(), "username is already taken");
        let dup = post("/dev/users", json!({"username": "zack2", "email": "zack.ross@METMOS.io"}), None).await.expect_error(409);
        assert_eq!(dup.message(), "email is already in use");
        post(
            "/people",
            json!({"username": "ghost", "email": "g@metmos.io", "accountUuid": uuid::Uuid::new_v4().to_string()}),
            Some(key.clone()),
        )
        .await
        .expect_error(404);
        let bad = post("/people", json!({"username": "x", "email": "nope", "accountUuid": "nope"}), Some(key)).await.expect_error(400);
        assert_eq!(bad.body["message"].as_array().unwrap().len(), 3, "{}", bad.text);
    }

    async fn patch_me_changes_only_dto_fields(app) {
        let alice = app.user("alice").await;
        let r = app
            .patch(
                "/people/me",
                Some(&alice.token),
                json!({"contactNumber": "+61 423 945 163", "location": "Waterloo", "bio": "I am a funny guy. Yay!",
                       "firstName": "Not important", "lastName": "Guy", "birthDate": "1981-11-29"}),
            )
            .await
            .expect(200);
        assert_eq!(r.body["firstName"], "Not important");
        assert_eq!(r.body["birthDate"], "1981-11-29");
        assert_eq!(r.body["contactNumber"], "+61 423 945 163");
        // null clears, absent keeps.
        let r = app.patch("/people/me", Some(&alice.token), json!({"bio": null})).await.expect(200);
        assert!(r.body["bio"].is_null());
        assert_eq!(r.body["location"], "Waterloo");
        // Fields outside the DTO are refused, and nothing changes.
        let r = app.patch("/people/me", Some(&alice.token), json!({"username": "mallory", "bio": "x"})).await.expect_error(400);
        assert!(r.message().contains("unknown field `username`"), "{}", r.text);
        let r = app.patch("/people/me", Some(&alice.token), json!({"birthDate": "tomorrow", "firstName": "x".repeat(101)})).await.expect_error(400);
        assert_eq!(r.body["message"].as_array().unwrap().len(), 2);
        let me = app.get("/people/me", Some(&alice.token)).await.expect(200);
        assert_eq!(me.body["username"], "alice");
        assert_eq!(me.body["firstName"], "Not important");
    }

    async fn strangers_do_not_see_private_fields(app) {
        let alice = app.user_with(json!({"username": "alice", "email": "alice@example.com", "contactNumber": "+61 400 000 001", "birthDate": "1990-01-02"})).await;
        let bob = app.user("bob").await;
        let seen = app.get(&format!("/people/{}", alice.person_uuid), Some(&bob.token)).await.expect(200);
        assert_eq!(seen.body["username"], "alice");
        for private in ["email", "contactNumber", "birthDate", "accountUuid"] {
            assert!(seen.body.get(private).is_none(), "{private} leaked: {}", seen.text);
        }
        let own = app.get(&format!("/people/{}", alice.person_uuid), Some(&alice.token)).await.expect(200);
        assert_eq!(own.body["email"], "alice@example.com");
        app.get(&format!("/people/{}", uuid::Uuid::new_v4()), Some(&bob.token)).await.expect_error(404);
        app.get("/people/not-a-uuid", Some(&bob.token)).await.expect_error(400);
    }

    async fn search_ranks_exact_username_and_never_leaks(app) {
        let mary = app.user_with(json!({"username": "mary", "email": "mary@example.com", "contactNumber": "+61 400 000 009"})).await;
        app.user_with(json!({"username": "rosemary", "email": "rose@example.com"})).await;
        app.user_with(json!({"username": "maryanne", "email": "ma@example.com", "firstName": "Mary"})).await;
        let bob = app.user_with(json!({"username": "bob", "email": "bob@example.com", "lastName": "Marymount"})).await;
        let r = app.get("/people?q=mary&limit=20&after=-1", Some(&bob.token)).await.expect(200);
        let names: Vec<&str> = r.body["people"].as_array().unwrap().iter().map(|p| p["username"].as_str().unwrap()).collect();
        assert_eq!(names[0], "mary", "exact username first: {names:?}");
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(r.body["after"].is_null());
        for p in r.body["people"].as_array().unwrap() {
            assert!(p.get("email").is_none() && p.get("contactNumber").is_none(), "leak: {p}");
        }
        // Email and phone match only exactly, and still reveal nothing.
        let r = app.get("/people?q=mary@example.com", Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["people"][0]["uuid"], mary.person_uuid.as_str());
        assert!(r.body["people"][0].get("email").is_none());
        let r = app.get("/people?q=%2B61400000009", Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["people"].as_array().unwrap().len(), 1);
        let r = app.get("/people?q=example.com", Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["people"].as_array().unwrap().len(), 0, "no substring match on email");
        // LIKE wildcards in q are literal.
        let r = app.get("/people?q=%25", Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["people"].as_array().unwrap().len(), 0);
    }

    async fn search_pages_with_cursor(app) {
        let viewer = app.user("viewer").await;
        for i in 0..7 {
            app.user(&format!("pager{i}")).await;
        }
        let mut seen = Vec::new();
        let mut after = "-1".to_string();
        loop {
            let r = app.get(&format!("/people?q=pager&limit=3&after={after}"), Some(&viewer.token)).await.expect(200);
            let people = r.body["people"].as_array().unwrap();
            assert!(people.len() <= 3);
            seen.extend(people.iter().map(|p| p["username"].as_str().unwrap().to_string()));
            match r.body["after"].as_i64() {
                Some(next) => after = next.to_string(),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7).rev().map(|i| format!("pager{i}")).collect();
        assert_eq!(seen, expected, "newest first, each once");
        // The exact match leads page one only, even with a tiny page.
        let r = app.get("/people?q=pager3&limit=1", Some(&viewer.token)).await.expect(200);
        assert_eq!(r.body["people"][0]["username"], "pager3");
        app.get("/people?after=abc", Some(&viewer.token)).await.expect_error(400);
        app.get("/people?limit=0", Some(&viewer.token)).await.expect_error(400);
    }

    async fn account_without_person_is_404_on_people_me(app) {
        let key = app.internal_key();
        app.send(app.client.post(app.url("/accounts")).header("x-internal-api-key", key).json(&json!({"cognitoUserId": "lonely"})))
            .await
            .expect(201);
        // Gateway-free check through the engine: the account exists, the person not yet.
        let caller = app.engine.people.caller("lonely").await.unwrap();
        assert!(caller.person.is_none());
    }
}

/// With PostgreSQL, what was created survives an engine restart, token included.
#[actix_web::test]
async fn data_survives_restart_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let alice = app.user("alice").await;
    app.patch(
        "/people/me",
        Some(&alice.token),
        json!({"bio": "still here"}),
    )
    .await
    .expect(200);
    let db = app.stop().await.expect("database");
    let url = db.url.clone();
    let again = TestApp::spawn_on(
        Backend::Postgres,
        Some(db),
        &[("database.url", url.as_str())],
    )
    .await;
    let me = again
        .get("/people/me", Some(&alice.token))
        .await
        .expect(200);
    assert_eq!(me.body["bio"], "still here");
}
