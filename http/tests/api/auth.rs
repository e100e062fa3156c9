//! Authentication in all three modes. Cognito is tested for real: the test generates an
//! RSA key, serves its JWKS over HTTP, and signs tokens the way a user pool does.

use crate::harness::{Backend, TestApp};
use crate::on_both_stores;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

on_both_stores! {
    async fn dev_tokens_raw_bearer_and_bad_ones(app) {
        let alice = app.user("alice").await;
        app.get("/people/me", Some(&alice.token)).await.expect(200);
        app.get("/people/me", Some(&format!("Bearer {}", alice.token))).await.expect(200);
        let r = app.get("/people/me", None).await.expect_error(401);
        assert_eq!(r.message(), "Missing token");
        app.get("/people/me", Some("Bearer")).await.expect_error(401);
        app.get("/people/me", Some("not.a.jwt")).await.expect_error(401);
        // Tampered payload: same signature, other subject.
        let parts: Vec<&str> = alice.token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "dev-someone-else", "exp": 4_000_000_000u64, "token_use": "access"}).to_string());
        app.get("/people/me", Some(&format!("{}.{}.{}", parts[0], forged, parts[2]))).await.expect_error(401);
        // Signed with another secret.
        let other = encode(&Header::new(Algorithm::HS256), &json!({"sub": "x", "exp": 4_000_000_000u64, "token_use": "access"}), &EncodingKey::from_secret(b"another-secret-another-secret")).unwrap();
        app.get("/people/me", Some(&other)).await.expect_error(401);
        // Expired, with the right secret.
        let secret = secrecy::ExposeSecret::expose_secret(&app.engine.settings.auth.dev_secret).to_string();
        let sub = app.get("/accounts/me", Some(&alice.token)).await.body["cognitoUserId"].as_str().unwrap().to_string();
        let expired = encode(&Header::new(Algorithm::HS256), &json!({"sub": sub, "iat": 1, "exp": 2, "token_use": "access"}), &EncodingKey::from_secret(secret.as_bytes())).unwrap();
        app.get("/people/me", Some(&expired)).await.expect_error(401);
        // The gateway header means nothing outside gateway mode.
        app.send(app.client.get(app.url("/people/me")).header("x-cognito-user-id", sub)).await.expect_error(401);
    }
}

/// Gateway mode trusts `x-cognito-user-id`, and has no dev endpoints.
#[actix_web::test]
async fn gateway_mode_trusts_the_authorizer_header() {
    let app = TestApp::spawn_with(Backend::Memory, &[("auth.mode", "gateway")]).await;
    let key = app.internal_key();
    let account = app
        .send(
            app.client
                .post(app.url("/accounts"))
                .header("x-internal-api-key", &key)
                .json(&json!({"cognitoUserId": "gw-user", "accountStatus": "ACTIVE"})),
        )
        .await
        .expect(201);
    app.send(app.client.post(app.url("/people")).header("x-internal-api-key", &key).json(&json!({"username": "gwuser", "email": "gw@example.com", "accountUuid": account.body["uuid"]})))
        .await
        .expect(201);
    let me = app
        .send(
            app.client
                .get(app.url("/people/me"))
                .header("x-cognito-user-id", "gw-user"),
        )
        .await
        .expect(200);
    assert_eq!(me.body["username"], "gwuser");
    app.get("/people/me", None).await.expect_error(401);
    app.send(
        app.client
            .get(app.url("/people/me"))
            .header("x-cognito-user-id", "unknown-user"),
    )
    .await
    .expect_error(401);
    app.post(
        "/dev/users",
        None,
        json!({"username": "x", "email": "x@example.com"}),
    )
    .await
    .expect_error(404);
}

/// Blocked accounts keep their data but cannot use the API.
#[actix_web::test]
async fn blocked_accounts_are_forbidden() {
    let app = TestApp::spawn_with(Backend::Memory, &[("auth.mode", "gateway")]).await;
    let key = app.internal_key();
    app.send(
        app.client
            .post(app.url("/accounts"))
            .header("x-internal-api-key", &key)
            .json(&json!({"cognitoUserId": "blocked-user", "accountStatus": "BLOCKED"})),
    )
    .await
    .expect(201);
    let r = app
        .send(
            app.client
                .get(app.url("/accounts/me"))
                .header("x-cognito-user-id", "blocked-user"),
        )
        .await
        .expect_error(403);
    assert_eq!(r.message(), "Account is BLOCKED");
}

/// A user pool stand-in: an RSA key pair, the JWKS served over HTTP (counting fetches),
/// and a signer for tokens with any claims.
struct UserPool {
    keys: Arc<parking_lot::Mutex<Vec<(String, rsa::RsaPrivateKey)>>>,
    fetches: Arc<AtomicUsize>,
    jwks_url: String,
    _server: actix_web::dev::ServerHandle,
}

const REGION: &str = "ap-southeast-2";
const POOL: &str = "ap-southeast-2_TestPool";
const CLIENT: &str = "test-client-id";

fn issuer(pool: &str) -> String {
    format!("https://cognito-idp.{REGION}.amazonaws.com/{pool}")
}

fn jwk(kid: &str, key: &rsa::RsaPrivateKey) -> Value {
    json!({
        "kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

impl UserPool {
    async fn start() -> Self {
        let key = rsa::RsaPrivateKey::new(&mut rand08::thread_rng(), 2048).unwrap();
        let keys = Arc::new(parking_lot::Mutex::new(vec![("kid-1".to_string(), key)]));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (k, f) = (k.clone(), f.clone());
            App::new().route(
                "/jwks.json",
                web::get().to(move || {
                    let (k, f) = (k.clone(), f.clone());
                    async move {
                        f.fetch_add(1, Ordering::SeqCst);
                        let keys: Vec<Value> =
                            k.lock().iter().map(|(kid, key)| jwk(kid, key)).collect();
                        HttpResponse::Ok().json(json!({"keys": keys}))
                    }
                }),
            )
        })
        .workers(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            keys,
            fetches,
            jwks_url: format!("http://127.0.0.1:{port}/jwks.json"),
            _server: handle,
        }
    }

    fn sign(&self, kid: &str, claims: Value) -> String {
        let keys = self.keys.lock();
        let key = &keys.iter().find(|(k, _)| k == kid).expect("kid").1;
        let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    /// Signs with a key of this kid that the JWKS does not list (yet).
    fn sign_with_new_key(&self, kid: &str, claims: Value, publish: bool) -> String {
        let key = rsa::RsaPrivateKey::new(&mut rand08::thread_rng(), 2048).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        let token = encode(
            &header,
            &claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap();
        if publish {
            self.keys.lock().push((kid.to_string(), key));
        }
        token
    }
}

fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "iss": issuer(POOL), "client_id": CLIENT, "token_use": "access",
        "exp": jsonwebtoken::get_current_timestamp() + 600, "iat": jsonwebtoken::get_current_timestamp(),
        "scope": "aws.cognito.signin.user.admin", "username": sub,
    })
}

#[actix_web::test]
async fn cognito_access_tokens_are_verified_against_the_jwks() {
    let pool = UserPool::start().await;
    let app = TestApp::spawn_with(
        Backend::Memory,
        &[
            ("auth.mode", "cognito"),
            ("auth.cognito.region", REGION),
            ("auth.cognito.user_pool_id", POOL),
            ("auth.cognito.client_id", CLIENT),
            ("auth.cognito.jwks_url", pool.jwks_url.as_str()),
        ],
    )
    .await;
    assert_eq!(
        pool.fetches.load(Ordering::SeqCst),
        1,
        "JWKS loaded at start"
    );
    let key = app.internal_key();
    app.send(
        app.client
            .post(app.url("/accounts"))
            .header("x-internal-api-key", &key)
            .json(&json!({"cognitoUserId": "user-1", "accountStatus": "ACTIVE"})),
    )
    .await
    .expect(201);

    let good = pool.sign("kid-1", claims("user-1"));
    let me = app.get("/accounts/me", Some(&good)).await.expect(200);
    assert_eq!(me.body["cognitoUserId"], "user-1");
    app.get("/accounts/me", Some(&format!("Bearer {good}")))
        .await
        .expect(200);

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims("user-1");
        f(&mut c);
        pool.sign("kid-1", c)
    };
    let rejected = [
        (
            "expired",
            with(&|c| c["exp"] = json!(jsonwebtoken::get_current_timestamp() - 3600)),
        ),
        ("id token", with(&|c| c["token_use"] = json!("id"))),
        (
            "other pool",
            with(&|c| c["iss"] = json!(issuer("ap-southeast-2_OtherPool"))),
        ),
        (
            "other client",
            with(&|c| c["client_id"] = json!("someone-else")),
        ),
        (
            "no client",
            with(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
            }),
        ),
    ];
    for (what, token) in &rejected {
        let r = app.get("/accounts/me", Some(token)).await;
        assert_eq!(r.status, 401, "{what} must be refused: {}", r.text);
    }
    // Tampered: the payload of another user under a valid signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(claims("user-2").to_string());
    app.get(
        "/accounts/me",
        Some(&format!("{}.{}.{}", parts[0], forged_payload, parts[2])),
    )
    .await
    .expect_error(401);
    // HS256 re-sign with the public key as the secret (the classic algorithm confusion).
    let public_n = pool.keys.lock()[0].1.n().to_bytes_be();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("kid-1".into());
    let confused = encode(
        &header,
        &claims("user-1"),
        &EncodingKey::from_secret(&public_n),
    )
    .unwrap();
    app.get("/accounts/me", Some(&confused))
        .await
        .expect_error(401);

    // An unknown kid refetches the JWKS once; another unknown kid within 10 s does not.
    let before = pool.fetches.load(Ordering::SeqCst);
    let rotated = pool.sign_with_new_key("kid-2", claims("user-1"), true);
    app.get("/accounts/me", Some(&rotated)).await.expect(200);
    assert_eq!(
        pool.fetches.load(Ordering::SeqCst),
        before + 1,
        "rotation picked up by one refetch"
    );
    let stranger = pool.sign_with_new_key("kid-3", claims("user-1"), false);
    app.get("/accounts/me", Some(&stranger))
        .await
        .expect_error(401);
    app.get("/accounts/me", Some(&stranger))
        .await
        .expect_error(401);
    assert_eq!(
        pool.fetches.load(Ordering::SeqCst),
        before + 1,
        "refetch throttled"
    );
}

/// Cognito mode without a reachable JWKS does not start: one clear error.
#[actix_web::test]
async fn cognito_without_jwks_fails_to_start() {
    let settings = crate::harness::test_settings(&[
        ("auth.mode", "cognito"),
        ("auth.cognito.region", REGION),
        ("auth.cognito.user_pool_id", POOL),
        ("auth.cognito.client_id", CLIENT),
        ("auth.cognito.jwks_url", "http://127.0.0.1:9/jwks.json"),
    ]);
    let err = match metmos_engine::Engine::start(settings).await {
        Ok(_) => panic!("must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("could not load the Cognito JWKS from http://127.0.0.1:9/jwks.json"),
        "{err}"
    );
}

/// Invalid configuration stops the binary with one line naming the key, not a panic.
#[test]
fn invalid_config_stops_start_up_with_a_clear_message() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_metmos"))
        .env("METMOS__AUTH__MODE", "cognito")
        .env("METMOS__HTTP__PORT", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("auth.cognito.user_pool_id"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
