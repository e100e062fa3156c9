#![allow(dead_code)] // shared helpers; not every test module uses every one
//! The test harness: the real app (the same `startup` as `metmos`) on a random port, on
//! the in-memory store or on a fresh PostgreSQL database of its own, and a small HTTP
//! client. `on_both_stores!` runs each test against both.

use metmos_engine::Engine;
use metmos_engine::config::Settings;
use metmos_engine::testing::ScratchDatabase;
use metmos_http::startup::Application;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Postgres,
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub engine: Arc<Engine>,
    /// The app's OrderSupervisor.
    pub orders: actix::Addr<metmos_actors::order_supervisor::OrderSupervisor>,
    pub backend: Backend,
    handle: actix_web::dev::ServerHandle,
    /// Declared last: the database is dropped after the server has stopped using it.
    pub db: Option<ScratchDatabase>,
}

/// A signed-up person with a token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub token: String,
    pub person_uuid: String,
    pub account_uuid: String,
    pub username: String,
}

/// An HTTP answer, body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts an error in the NestJS envelope with this status.
    #[track_caller]
    pub fn expect_error(self, status: u16) -> Self {
        let r = self.expect(status);
        assert_eq!(
            r.body["statusCode"], status,
            "envelope statusCode: {}",
            r.text
        );
        assert!(r.body["error"].is_string(), "envelope error: {}", r.text);
        assert!(
            r.body["message"].is_string() || r.body["message"].is_array(),
            "envelope message: {}",
            r.text
        );
        r
    }

    /// The envelope's messages as one string (validation arrays joined), for `contains`.
    pub fn message(&self) -> String {
        match &self.body["message"] {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

pub fn test_settings(overrides: &[(&str, &str)]) -> Settings {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/test.toml");
    Settings::load_with(Some(&file), overrides).expect("test settings load")
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, overrides: &[(&str, &str)]) -> Self {
        let db = match backend {
            Backend::Memory => None,
            Backend::Postgres => Some(ScratchDatabase::create().await.expect("scratch database")),
        };
        let url = db.as_ref().map(|d| d.url.clone());
        let mut all: Vec<(&str, &str)> = overrides.to_vec();
        if let Some(url) = &url {
            all.push(("database.url", url.as_str()));
        }
        Self::spawn_on(backend, db, &all).await
    }

    /// Spawns on given settings; `db` is kept alive with the app.
    pub async fn spawn_on(
        backend: Backend,
        db: Option<ScratchDatabase>,
        overrides: &[(&str, &str)],
    ) -> Self {
        Self::spawn_on_chain(backend, db, overrides, None).await
    }

    /// As [`TestApp::spawn_on`], on a simulated ledger that outlives the app (restarts).
    pub async fn spawn_on_chain(
        backend: Backend,
        db: Option<ScratchDatabase>,
        overrides: &[(&str, &str)],
        chain: Option<Arc<metmos_engine::adapters::chain::simulated::SimulatedChain>>,
    ) -> Self {
        let settings = test_settings(overrides);
        let engine = Engine::start_on_chain(settings, chain)
            .await
            .expect("engine starts");
        let app = Application::build(engine.clone()).await.expect("app binds");
        let port = app.port();
        let handle = app.handle();
        let orders = app.orders().supervisor.clone();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            engine,
            orders,
            backend,
            handle,
            db,
        }
    }

    /// Another node on adapters shared with other apps of the test (several engines
    /// in one process: one memory store, one in-process bus).
    pub async fn spawn_sharing(
        store: Arc<dyn metmos_engine::ports::Store>,
        bus: Arc<dyn metmos_engine::ports::Bus>,
        overrides: &[(&str, &str)],
    ) -> Self {
        let engine = Engine::assemble(test_settings(overrides), store, bus)
            .await
            .expect("engine starts");
        let app = Application::build(engine.clone()).await.expect("app binds");
        let port = app.port();
        let handle = app.handle();
        let orders = app.orders().supervisor.clone();
        actix_web::rt::spawn(app.run_until_stopped());
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::new(),
            engine,
            orders,
            backend: Backend::Memory,
            handle,
            db: None,
        }
    }

    /// Stops the server and hands back its database, for restart tests.
    pub async fn stop(mut self) -> Option<ScratchDatabase> {
        self.handle.stop(true).await;
        self.engine.shutdown();
        self.db.take()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            text,
            headers,
        }
    }

    fn with_token(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
        match token {
            Some(t) => req.header("Authorization", t),
            None => req,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Self::with_token(self.client.get(self.url(path)), token))
            .await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Self::with_token(self.client.delete(self.url(path)), token))
            .await
    }

    pub async fn delete_json(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Self::with_token(self.client.delete(self.url(path)), token).json(&body))
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Self::with_token(self.client.post(self.url(path)), token).json(&body))
            .await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Self::with_token(self.client.patch(self.url(path)), token).json(&body))
            .await
    }

    /// PATCH without a body (state changes such as `/accept`).
    pub async fn patch_empty(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Self::with_token(self.client.patch(self.url(path)), token))
            .await
    }

    pub fn internal_key(&self) -> String {
        secrecy::ExposeSecret::expose_secret(&self.engine.settings.auth.internal_api_key)
            .to_string()
    }

    /// `POST /dev/users` with just a username (email derived).
    pub async fn user(&self, username: &str) -> TestUser {
        self.user_with(json!({"username": username, "email": format!("{username}@example.com")}))
            .await
    }

    pub async fn user_with(&self, body: Value) -> TestUser {
        let r = self
            .post("/dev/users", None, body.clone())
            .await
            .expect(201);
        TestUser {
            token: r.body["accessToken"].as_str().expect("token").to_string(),
            person_uuid: r.body["personUuid"].as_str().expect("person").to_string(),
            account_uuid: r.body["accountUuid"].as_str().expect("account").to_string(),
            username: body["username"].as_str().unwrap_or_default().to_string(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting; the future is not needed, sending the command is enough.
        drop(self.handle.stop(false));
        self.engine.shutdown();
    }
}

/// Runs each test body once on the in-memory store and once on PostgreSQL:
///
/// ```ignore
/// on_both_stores! {
///     async fn me_works(app) { ... }
/// }
/// ```
#[macro_export]
macro_rules! on_both_stores {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[actix_web::test]
                async fn memory() {
                    let $app = $crate::harness::TestApp::spawn($crate::harness::Backend::Memory).await;
                    $body
                }
                #[actix_web::test]
                async fn postgres() {
                    let $app = $crate::harness::TestApp::spawn($crate::harness::Backend::Postgres).await;
                    $body
                }
            }
        )*
    };
}
