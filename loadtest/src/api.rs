//! The engine's REST API as the harness uses it: fixtures (users, contacts, chats, listings,
//! wallets) and the calls scenarios time. Failures keep their cause (status, 429 with its
//! Retry-After, transport) so reports count errors by cause, never as one lump.

use futures_util::{StreamExt, stream};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use std::time::Duration;

/// A fresh wallet address: wallet addresses are unique across people, so every virtual
/// user gets its own. All lowercase carries no EIP-55 checksum and is accepted as it is.
pub fn random_address() -> String {
    let bytes: [u8; 20] = rand::random();
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path} answered {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: StatusCode,
        message: String,
        retry_after: Option<String>,
    },
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {path}: the answer lacks `{field}`: {body}")]
    Shape {
        method: Method,
        path: String,
        field: &'static str,
        body: String,
    },
}

impl ApiError {
    /// The cause as reports count it: "429", "404", "timeout", "connect", ...
    pub fn cause(&self) -> String {
        match self {
            ApiError::Status { status, .. } => status.as_u16().to_string(),
            ApiError::Transport { source, .. } => transport_cause(source).to_string(),
            ApiError::Shape { .. } => "unexpected body".to_string(),
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One HTTP answer, read in full.
struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    bytes: bytes::Bytes,
}

impl Answer {
    /// A 2xx's JSON body (`Null` when empty); anything else its `refusal`.
    fn into_json(self, method: Method, path: &str) -> Result<Value, ApiError> {
        if self.status.is_success() {
            Ok(parse_body(&self.bytes))
        } else {
            Err(self.refusal(method, path))
        }
    }

    /// The error for a non-2xx answer, with the envelope's `message` when it has one.
    fn refusal(self, method: Method, path: &str) -> ApiError {
        let value = parse_body(&self.bytes);
        let message = match &value["message"] {
            Value::String(s) => s.clone(),
            Value::Null => value.to_string(),
            other => other.to_string(),
        };
        ApiError::Status {
            method,
            path: path.to_string(),
            status: self.status,
            message,
            retry_after: self.retry_after,
        }
    }
}

/// The body as JSON: `Null` when empty, the text as a string when it is not JSON.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}

pub fn transport_cause(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
}

/// A user the harness created: enough to call the API and open sockets as them.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub person_uuid: String,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
    /// Fixtures only: a 429 waits its Retry-After and tries again (the clock has not
    /// started). Measured calls never retry: a 429 there is an error, counted by cause.
    retry_429: bool,
}

impl Api {
    pub fn new(base: Url) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(1024)
            // Below actix-web's 5 s keep-alive: a connection idle that long is closed by
            // the server, and one reused just as it closes fails its request ("error
            // sending request"), which once ended a run while seeding.
            .pool_idle_timeout(Duration::from_secs(4))
            .build()
            .expect("a TLS-less reqwest client always builds");
        Self {
            base,
            http,
            retry_429: false,
        }
    }

    /// The same client for fixtures: 429s are waited out (Retry-After) and retried.
    pub fn for_setup(&self) -> Self {
        Self {
            retry_429: true,
            ..self.clone()
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// ws:// (or wss://) URL of the WebSocket endpoint at `/`.
    pub fn ws_url(&self) -> String {
        let mut u = self.base.clone();
        let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
        // Infallible for http(s) URLs, which check_target guarantees.
        let _ = u.set_scheme(scheme);
        u.set_path("/");
        u.to_string()
    }

    /// One call; 2xx answers the JSON body (Null when empty), anything else an error.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra_header: Option<(&str, &str)>,
    ) -> Result<Value, ApiError> {
        let mut tries = 0;
        loop {
            let r = self
                .send_once(method.clone(), path, token, body.clone(), extra_header)
                .await
                .and_then(|answer| answer.into_json(method.clone(), path));
            match r {
                Err(ApiError::Status {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    ref retry_after,
                    ..
                }) if self.retry_429 && tries < 60 => {
                    tries += 1;
                    let secs = retry_after
                        .as_deref()
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .unwrap_or(1.0)
                        .clamp(0.05, 10.0);
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                other => return other,
            }
        }
    }

    /// A measured read: a 2xx whose body is well-formed JSON answers its length, anything
    /// else an error. The body is checked with `IgnoredAny`, which builds nothing: the
    /// client shares the machine with the engine, and building a `Value` of a 50-message
    /// page cost it more CPU than the engine spent serving it.
    pub async fn get_checked(&self, path: &str, token: &str) -> Result<usize, ApiError> {
        let answer = self
            .send_once(Method::GET, path, Some(token), None, None)
            .await?;
        if !answer.status.is_success() {
            return Err(answer.refusal(Method::GET, path));
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&answer.bytes) {
            Ok(_) => Ok(answer.bytes.len()),
            Err(_) => Err(ApiError::Shape {
                method: Method::GET,
                path: path.to_string(),
                field: "a JSON body",
                body: String::from_utf8_lossy(&answer.bytes).into_owned(),
            }),
        }
    }

    /// Sends one request and reads its whole answer; only transport failures are errors.
    async fn send_once(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        extra_header: Option<(&str, &str)>,
    ) -> Result<Answer, ApiError> {
        let url = self.base.join(path).map_err(|_| ApiError::Shape {
            method: method.clone(),
            path: path.to_string(),
            field: "valid path",
            body: String::new(),
        })?;
        let mut req = self.http.request(method.clone(), url);
        if let Some(t) = token {
            req = req.header("authorization", t);
        }
        if let Some((k, v)) = extra_header {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let transport = |source| ApiError::Transport {
            method: method.clone(),
            path: path.to_string(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(transport)?;
        Ok(Answer {
            status,
            retry_after,
            bytes,
        })
    }

    pub async fn get(&self, path: &str, token: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, path, Some(token), None, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Result<Value, ApiError> {
        self.call(Method::POST, path, Some(token), Some(body), None)
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        self.call(Method::PATCH, path, Some(token), body, None)
            .await
    }

    /// `GET /health`: the engine is up (200), whatever its dependencies say.
    pub async fn health(&self) -> Result<Value, ApiError> {
        self.call(Method::GET, "/health", None, None, None).await
    }

    /// `POST /dev/users`: an ACTIVE account and its person in one step (dev mode).
    pub async fn dev_user(&self, username: &str) -> Result<User, ApiError> {
        let body = json!({"username": username, "email": format!("{username}@load.example.com")});
        let v = self
            .call(Method::POST, "/dev/users", None, Some(body), None)
            .await?;
        Ok(User {
            username: username.to_string(),
            person_uuid: field(&v, "personUuid", "POST", "/dev/users")?,
            token: field(&v, "accessToken", "POST", "/dev/users")?,
        })
    }

    /// Makes `a` and `b` contacts: a asks, b accepts.
    pub async fn make_contacts(&self, a: &User, b: &User) -> Result<(), ApiError> {
        let v = self
            .post(
                "/connections",
                &a.token,
                json!({"personUuid": b.person_uuid}),
            )
            .await?;
        let uuid = field(&v, "uuid", "POST", "/connections")?;
        self.patch(&format!("/connections/{uuid}/accept"), &b.token, None)
            .await?;
        Ok(())
    }

    /// Opens (or finds) the CONTACT chat of `a` and `b`; its uuid.
    pub async fn contact_chat(&self, a: &User, b: &User) -> Result<String, ApiError> {
        let v = self
            .post(
                "/chats",
                &a.token,
                json!({"chatType": "CONTACT", "receiverPersonUuid": b.person_uuid}),
            )
            .await?;
        field(&v, "uuid", "POST", "/chats")
    }

    /// A GROUP chat of `owner` and `others` (the baseline server has them; the engine
    /// answers 400 until it does).
    pub async fn group_chat(&self, owner: &User, others: &[User]) -> Result<String, ApiError> {
        let members: Vec<&str> = others.iter().map(|u| u.person_uuid.as_str()).collect();
        let v = self
            .post(
                "/chats",
                &owner.token,
                json!({"chatType": "GROUP", "participantPersonUuids": members}),
            )
            .await?;
        field(&v, "uuid", "POST", "/chats")
    }

    /// The first ITEM category's uuid.
    pub async fn item_category(&self, user: &User) -> Result<String, ApiError> {
        let v = self
            .get("/categories?categoryType=ITEM&limit=100", &user.token)
            .await?;
        v["categories"][0]["uuid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ApiError::Shape {
                method: Method::GET,
                path: "/categories".into(),
                field: "categories[0].uuid",
                body: v.to_string(),
            })
    }

    /// A PUBLISHED ITEM_SALE listing; its uuid.
    pub async fn published_listing(
        &self,
        user: &User,
        category: &str,
        title: &str,
        description: &str,
        price: &str,
    ) -> Result<String, ApiError> {
        let body = json!({
            "listingType": "ITEM_SALE",
            "title": title,
            "description": description,
            "price": price,
            "currencyType": "CRYPTO",
            "currency": "ETH",
            "categoryUuid": category,
            "additionalFields": {"condition": "Used"},
            "location": {"suburb": "Ryde", "state_region": "NSW", "country": "Australia"}
        });
        let v = self.post("/listings", &user.token, body).await?;
        let uuid = field(&v, "uuid", "POST", "/listings")?;
        self.patch(&format!("/listings/{uuid}/publish"), &user.token, None)
            .await?;
        Ok(uuid)
    }

    pub async fn wallet(&self, user: &User, address: &str) -> Result<(), ApiError> {
        self.post(
            "/wallets",
            &user.token,
            json!({"chain": "ETHEREUM", "walletType": "METAMASK", "network": "Sepolia",
                   "balance": "1", "currency": "ETH", "address": address}),
        )
        .await
        .map(|_| ())
    }

    /// Creates `n` users named `{prefix}{i}` with at most `concurrency` requests in flight,
    /// calling `progress` after each.
    pub async fn users(
        &self,
        prefix: &str,
        n: u32,
        concurrency: u32,
        progress: &(dyn Fn() + Sync),
    ) -> Result<Vec<User>, ApiError> {
        let mut made: Vec<(u32, User)> = stream::iter(0..n)
            .map(|i| async move {
                let u = self.dev_user(&format!("{prefix}{i}")).await;
                progress();
                u.map(|u| (i, u))
            })
            .buffer_unordered(concurrency as usize)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        made.sort_by_key(|(i, _)| *i);
        Ok(made.into_iter().map(|(_, u)| u).collect())
    }
}

/// A string field of an answer, or a Shape error naming it.
pub fn field(v: &Value, name: &'static str, method: &str, path: &str) -> Result<String, ApiError> {
    v[name]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Shape {
            method: method.parse().unwrap_or(Method::GET),
            path: path.to_string(),
            field: name,
            body: v.to_string(),
        })
}

/// A short random tag so that usernames of successive runs against one store never collide.
pub fn run_tag() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}
