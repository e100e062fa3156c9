//! Assets end to end, as the app does it: create (presigned PUT), upload the bytes with a
//! plain HTTP client, list (presigned GET), download the same bytes, fetch a thumbnail,
//! delete. On the embedded twin (local files served by the engine) and on a real
//! S3-compatible server that checks signatures (s3s-fs, started here), each on both
//! stores. Then the refusals: tampered, expired, wrong-method and wrong-type URLs, and
//! who may attach or read what.

use crate::harness::{Backend, TestApp, TestUser};
use crate::ws_client::{WsClient, contact_chat, new_uuid};
use serde_json::{Value, json};
use std::io::Cursor;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ACCESS_KEY: &str = "metmos-test-access";
const SECRET_KEY: &str = "metmos-test-secret-key-0123456789";
const BUCKET: &str = "metmos-assets";

/// s3s-fs on a free port with a temporary root; killed when dropped. `scripts/test`
/// installs it (`cargo install s3s-fs`); `S3S_FS` may name the binary.
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    root: PathBuf,
}

fn s3s_fs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return PathBuf::from(p);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let installed = home.join("bin/s3s-fs");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("s3s-fs")
    }
}

impl S3Server {
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let root = std::env::temp_dir().join(format!("metmos-s3-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join(BUCKET)).expect("bucket dir");
        let mut child = Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs runs (scripts/test installs it: cargo install s3s-fs)");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    endpoint,
                    root,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("s3s-fs did not start listening on {port}");
    }

    pub fn overrides(&self) -> Vec<(&'static str, String)> {
        vec![
            ("s3.bucket", BUCKET.into()),
            ("s3.region", "us-east-1".into()),
            ("s3.endpoint_url", self.endpoint.clone()),
            ("s3.force_path_style", "true".into()),
            ("s3.access_key_id", ACCESS_KEY.into()),
            ("s3.secret_access_key", SECRET_KEY.into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    Local,
    S3,
}

async fn spawn(backend: Backend, storage: Storage) -> (TestApp, Option<S3Server>) {
    match storage {
        Storage::Local => (TestApp::spawn(backend).await, None),
        Storage::S3 => {
            let s3 = S3Server::start().await;
            let owned = s3.overrides();
            let overrides: Vec<(&str, &str)> =
                owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            (TestApp::spawn_with(backend, &overrides).await, Some(s3))
        }
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn create(
    app: &TestApp,
    user: &TestUser,
    parent_type: &str,
    parent: &str,
    mime: &str,
) -> Value {
    app.post(
        "/assets",
        Some(&user.token),
        json!({"parentType": parent_type, "parentUuid": parent, "mimeType": mime}),
    )
    .await
    .expect(201)
    .body
}

async fn put(app: &TestApp, url: &str, content_type: &str, bytes: Vec<u8>) -> u16 {
    app.client
        .put(url)
        .header("Content-Type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("PUT sent")
        .status()
        .as_u16()
}

async fn fetch(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let res = app.client.get(url).send().await.expect("GET sent");
    let status = res.status().as_u16();
    (status, res.bytes().await.unwrap_or_default().to_vec())
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> crate::harness::Resp {
    app.get(&format!("/assets?{query}"), Some(&user.token))
        .await
}

/// The app's flow, and the refusals every store of bytes must make.
async fn app_flow(backend: Backend, storage: Storage) {
    let (app, _s3) = spawn(backend, storage).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    assert_eq!(
        app.engine.blobs.adapter_name(),
        match storage {
            Storage::Local => "local files",
            Storage::S3 => "s3",
        }
    );

    // Create: the key names owner, parent type and asset; the PUT URL is presigned.
    let created = create(&app, &alice, "PERSON", &alice.person_uuid, "image/png").await;
    let uuid = created["uuid"].as_str().unwrap().to_string();
    assert_eq!(
        created["s3Key"],
        format!("{}/assets/PERSON/{uuid}", alice.person_uuid)
    );
    assert_eq!(created["ownerPersonUuid"], alice.person_uuid.as_str());
    assert_eq!(created["mimeType"], "image/png");
    let upload = created["presignedUploadUrl"].as_str().unwrap().to_string();
    assert!(
        upload.starts_with("http://127.0.0.1:"),
        "absolute URL: {upload}"
    );

    // The signed content type is enforced; a tampered signature is refused by the
    // server that stores the bytes (the engine, or the S3 server).
    let bytes = png(600, 300);
    assert_eq!(put(&app, &upload, "text/html", bytes.clone()).await, 403);
    let tampered = tamper(&upload);
    assert_eq!(put(&app, &tampered, "image/png", bytes.clone()).await, 403);
    // A PUT URL is not a GET URL.
    assert_eq!(fetch(&app, &upload).await.0, 403);
    assert_eq!(put(&app, &upload, "image/png", bytes.clone()).await, 200);

    // List (another signed-in user may read a person's assets) and download.
    let page = list(
        &app,
        &bob,
        &format!("parentType=PERSON&parentUuid={}", alice.person_uuid),
    )
    .await
    .expect(200);
    let assets = page.body["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 1);
    assert_eq!(assets[0]["uuid"], uuid.as_str());
    let download = assets[0]["presignedDownloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let expires = chrono::DateTime::parse_from_rfc3339(
        assets[0]["presignedDownloadUrlExpiration"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let minutes = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((58..=60).contains(&minutes), "60 minutes, got {minutes}");
    let (status, got) = fetch(&app, &download).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes, "the same bytes come back");
    assert_eq!(fetch(&app, &tamper(&download)).await.0, 403);
    // A GET URL is not a PUT URL.
    assert_eq!(put(&app, &download, "image/png", vec![1]).await, 403);

    // A thumbnail, made on first request and stored beside the original.
    let thumb = list(
        &app,
        &bob,
        &format!(
            "parentType=PERSON&parentUuid={}&variation=thumbnail",
            alice.person_uuid
        ),
    )
    .await
    .expect(200);
    let t = &thumb.body["assets"][0];
    assert_eq!(t["variations"], json!(["thumbnail"]));
    let (status, small) = fetch(&app, t["presignedDownloadUrl"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let img = image::load_from_memory(&small).expect("thumbnail decodes");
    assert_eq!((img.width(), img.height()), (150, 75));
    // Asked again, the stored one is served.
    let again = list(
        &app,
        &alice,
        &format!(
            "parentType=PERSON&parentUuid={}&variation=thumbnail",
            alice.person_uuid
        ),
    )
    .await
    .expect(200);
    assert_eq!(again.body["assets"][0]["variations"], json!(["thumbnail"]));

    // A PDF has no variations.
    let pdf = create(
        &app,
        &alice,
        "PERSON",
        &alice.person_uuid,
        "application/pdf",
    )
    .await;
    assert_eq!(
        put(
            &app,
            pdf["presignedUploadUrl"].as_str().unwrap(),
            "application/pdf",
            b"%PDF-1.4".to_vec()
        )
        .await,
        200
    );
    let pdf_uuid = pdf["uuid"].as_str().unwrap();
    let both = list(
        &app,
        &alice,
        &format!("parentType=PERSON&parentUuid={}", alice.person_uuid),
    )
    .await
    .expect(200);
    assert_eq!(both.body["assets"][0]["uuid"], pdf_uuid, "newest first");
    app.delete(&format!("/assets/{uuid}"), Some(&alice.token))
        .await
        .expect(204);
    list(
        &app,
        &alice,
        &format!(
            "parentType=PERSON&parentUuid={}&variation=small",
            alice.person_uuid
        ),
    )
    .await
    .expect_error(404);

    // Delete: the owner only; the bytes go too.
    app.delete(&format!("/assets/{pdf_uuid}"), Some(&bob.token))
        .await
        .expect_error(403);
    app.delete(&format!("/assets/{pdf_uuid}"), Some(&alice.token))
        .await
        .expect(204);
    app.delete(&format!("/assets/{pdf_uuid}"), Some(&alice.token))
        .await
        .expect_error(404);
    let (status, _) = fetch(&app, &download).await;
    assert_eq!(status, 404, "the object is gone with its asset");
    let empty = list(
        &app,
        &alice,
        &format!("parentType=PERSON&parentUuid={}", alice.person_uuid),
    )
    .await
    .expect(200);
    assert_eq!(empty.body["assets"], json!([]));
}

/// Flips one character of the URL's signature.
fn tamper(url: &str) -> String {
    for marker in ["X-Amz-Signature=", "signature="] {
        if let Some(i) = url.find(marker) {
            let at = i + marker.len();
            let mut s = url.to_string();
            let c = &url[at..at + 1];
            s.replace_range(at..at + 1, if c == "0" { "1" } else { "0" });
            return s;
        }
    }
    panic!("no signature in {url}");
}

mod flow {
    use super::*;

    #[actix_web::test]
    async fn local_files_on_memory() {
        app_flow(Backend::Memory, Storage::Local).await;
    }
    #[actix_web::test]
    async fn local_files_on_postgres() {
        app_flow(Backend::Postgres, Storage::Local).await;
    }
    #[actix_web::test]
    async fn s3_on_memory() {
        app_flow(Backend::Memory, Storage::S3).await;
    }
    #[actix_web::test]
    async fn s3_on_postgres() {
        app_flow(Backend::Postgres, Storage::S3).await;
    }
}

/// An S3 URL past its expiry is refused by the S3 server itself: presigned by the real
/// SDK with a start time an hour ago and 60 seconds of life.
#[actix_web::test]
async fn an_expired_presigned_s3_url_is_refused_by_the_server() {
    use aws_sdk_s3::presigning::PresigningConfig;
    let s3 = S3Server::start().await;
    let creds = aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test");
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&s3.endpoint)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let presign = |start: std::time::SystemTime| {
        PresigningConfig::builder()
            .start_time(start)
            .expires_in(Duration::from_secs(60))
            .build()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let fresh = client
        .put_object()
        .bucket(BUCKET)
        .key("k/fresh")
        .content_type("image/png")
        .presigned(presign(std::time::SystemTime::now()))
        .await
        .unwrap();
    let r = http
        .put(fresh.uri())
        .header("Content-Type", "image/png")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "a fresh URL works: {}",
        r.text().await.unwrap_or_default()
    );
    let old = client
        .put_object()
        .bucket(BUCKET)
        .key("k/old")
        .content_type("image/png")
        .presigned(presign(
            std::time::SystemTime::now() - Duration::from_secs(3600),
        ))
        .await
        .unwrap();
    let r = http
        .put(old.uri())
        .header("Content-Type", "image/png")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "an expired URL is refused");
}

crate::on_both_stores! {
    async fn who_may_attach_and_read_follows_the_parent(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        // Bad input: 400 in the envelope, one message per problem.
        let r = app.post("/assets", Some(&alice.token), json!({"parentType": "WALLET", "parentUuid": "x", "mimeType": "text/html"}))
            .await.expect_error(400);
        let m = r.message();
        assert!(m.contains("parentType must be one of"), "{m}");
        assert!(m.contains("parentUuid must be a UUID"), "{m}");
        assert!(m.contains("mimeType must be one of"), "{m}");
        app.post("/assets", Some(&alice.token), json!({})).await.expect_error(400);
        app.get("/assets?parentType=PERSON", Some(&alice.token)).await.expect_error(400);
        app.get(&format!("/assets?parentType=PERSON&parentUuid={}&variation=huge", alice.person_uuid), Some(&alice.token)).await.expect_error(400);
        app.delete("/assets/not-a-uuid", Some(&alice.token)).await.expect_error(400);
        app.get(&format!("/assets?parentType=PERSON&parentUuid={}", alice.person_uuid), None).await.expect_error(401);
        // PERSON: only yourself attaches.
        let r = app.post("/assets", Some(&bob.token), json!({"parentType": "PERSON", "parentUuid": alice.person_uuid, "mimeType": "image/png"}))
            .await.expect_error(403);
        assert!(r.message().contains("the person themself"), "{}", r.message());
        app.post("/assets", Some(&bob.token), json!({"parentType": "PERSON", "parentUuid": new_uuid(), "mimeType": "image/png"}))
            .await.expect_error(404);
        // LISTING: the poster attaches; everyone signed in reads.
        let listing = crate::market::published(&app, &alice, json!({})).await;
        create(&app, &alice, "LISTING", &listing, "image/jpeg").await;
        app.post("/assets", Some(&bob.token), json!({"parentType": "LISTING", "parentUuid": listing, "mimeType": "image/png"}))
            .await.expect_error(403);
        let r = list(&app, &bob, &format!("parentType=LISTING&parentUuid={listing}")).await.expect(200);
        assert_eq!(r.body["assets"].as_array().unwrap().len(), 1);
        // CHAT: participants only; others do not learn it exists.
        let chat = contact_chat(&app, &alice, &bob).await;
        create(&app, &bob, "CHAT", &chat, "video/mp4").await;
        let r = app.post("/assets", Some(&carol.token), json!({"parentType": "CHAT", "parentUuid": chat, "mimeType": "image/png"}))
            .await.expect_error(404);
        assert_eq!(r.message(), "Chat not found");
        list(&app, &carol, &format!("parentType=CHAT&parentUuid={chat}")).await.expect_error(404);
        let r = list(&app, &alice, &format!("parentType=CHAT&parentUuid={chat}")).await.expect(200);
        let asset = r.body["assets"][0]["uuid"].as_str().unwrap().to_string();
        // Alice sees bob's chat asset but may not delete it; carol may not know it.
        app.delete(&format!("/assets/{asset}"), Some(&alice.token)).await.expect_error(403);
        app.delete(&format!("/assets/{asset}"), Some(&carol.token)).await.expect_error(404);
        // EXPERIENCE: the author attaches; readers by its visibility.
        let exp = app.post("/experiences", Some(&alice.token), json!({"content": "hi", "visibility": "CONTACT_ONLY"})).await.expect(201);
        let exp = exp.body["uuid"].as_str().unwrap().to_string();
        create(&app, &alice, "EXPERIENCE", &exp, "image/webp").await;
        app.post("/assets", Some(&bob.token), json!({"parentType": "EXPERIENCE", "parentUuid": exp, "mimeType": "image/png"}))
            .await.expect_error(403);
        list(&app, &bob, &format!("parentType=EXPERIENCE&parentUuid={exp}")).await.expect(200);
        list(&app, &carol, &format!("parentType=EXPERIENCE&parentUuid={exp}")).await.expect_error(404);
        app.post("/assets", Some(&carol.token), json!({"parentType": "EXPERIENCE", "parentUuid": exp, "mimeType": "image/png"}))
            .await.expect_error(404);
    }

    async fn a_message_takes_the_senders_chat_assets(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mine = create(&app, &alice, "CHAT", &chat, "image/png").await["uuid"].as_str().unwrap().to_string();
        let bobs = create(&app, &bob, "CHAT", &chat, "image/png").await["uuid"].as_str().unwrap().to_string();
        let mut ws = WsClient::connect(&app, &alice.token).await;
        // Naming someone else's asset is refused, and nothing is stored.
        let refused = new_uuid();
        ws.send_json(json!({"action": "sendMessage", "data": {"chatUuid": chat, "uuid": refused,
            "messageContent": "", "assetUuids": [bobs]}})).await;
        let frame = ws.next_json().await;
        assert_eq!(frame["type"], "error", "{frame}");
        assert_eq!(frame["statusCode"], 403, "{frame}");
        let message = new_uuid();
        ws.send_json(json!({"action": "sendMessage", "data": {"chatUuid": chat, "uuid": message,
            "messageContent": "", "assetUuids": [mine]}})).await;
        let ack = ws.next_json().await;
        assert_eq!(ack["type"], "ack", "{ack}");
        // The asset now hangs on the message; the chat keeps bob's only.
        let on_message = list(&app, &bob, &format!("parentType=MESSAGE&parentUuid={message}")).await.expect(200);
        let listed: Vec<&str> = on_message.body["assets"].as_array().unwrap().iter().map(|a| a["uuid"].as_str().unwrap()).collect();
        assert_eq!(listed, vec![mine.as_str()]);
        let on_chat = list(&app, &alice, &format!("parentType=CHAT&parentUuid={chat}")).await.expect(200);
        let listed: Vec<&str> = on_chat.body["assets"].as_array().unwrap().iter().map(|a| a["uuid"].as_str().unwrap()).collect();
        assert_eq!(listed, vec![bobs.as_str()]);
        // A stranger may not read a message's assets; a message cannot be attached to.
        let carol = app.user("carol").await;
        list(&app, &carol, &format!("parentType=MESSAGE&parentUuid={message}")).await.expect_error(404);
        app.post("/assets", Some(&alice.token), json!({"parentType": "MESSAGE", "parentUuid": message, "mimeType": "image/png"}))
            .await.expect_error(403);
        // An asset already on a message cannot be named by another message.
        ws.send_json(json!({"action": "sendMessage", "data": {"chatUuid": chat, "uuid": new_uuid(),
            "messageContent": "", "assetUuids": [mine]}})).await;
        let frame = ws.next_json().await;
        assert_eq!(frame["statusCode"], 403, "{frame}");
        // The app reads the history and finds the asset uuids on the message.
        let history = app.get(&format!("/chats/{chat}/messages"), Some(&bob.token)).await.expect(200);
        assert_eq!(history.body["messages"][0]["assetUuids"], json!([mine]));
    }

    async fn deleting_an_experience_or_a_listing_removes_its_assets_and_their_bytes(app) {
        let alice = app.user("alice").await;
        let exp = app.post("/experiences", Some(&alice.token), json!({"content": "hi", "visibility": "PUBLIC"})).await.expect(201);
        let exp = exp.body["uuid"].as_str().unwrap().to_string();
        let listing = crate::market::published(&app, &alice, json!({})).await;
        let keep = create(&app, &alice, "PERSON", &alice.person_uuid, "image/png").await;
        let on_exp = create(&app, &alice, "EXPERIENCE", &exp, "image/png").await;
        let on_listing = create(&app, &alice, "LISTING", &listing, "image/png").await;
        for a in [&keep, &on_exp, &on_listing] {
            assert_eq!(put(&app, a["presignedUploadUrl"].as_str().unwrap(), "image/png", png(4, 4)).await, 200);
        }
        let key = |a: &Value| a["s3Key"].as_str().unwrap().to_string();
        for a in [&keep, &on_exp, &on_listing] {
            assert!(app.engine.blobs.get(&key(a)).await.unwrap().is_some(), "uploaded");
        }
        app.delete(&format!("/experiences/{exp}"), Some(&alice.token)).await.expect(204);
        assert_eq!(app.engine.blobs.get(&key(&on_exp)).await.unwrap(), None, "the experience's object is removed");
        app.delete(&format!("/assets/{}", on_exp["uuid"].as_str().unwrap()), Some(&alice.token)).await.expect_error(404);
        app.delete(&format!("/listings/{listing}"), Some(&alice.token)).await.expect(204);
        assert_eq!(app.engine.blobs.get(&key(&on_listing)).await.unwrap(), None, "the listing's object is removed");
        app.delete(&format!("/assets/{}", on_listing["uuid"].as_str().unwrap()), Some(&alice.token)).await.expect_error(404);
        assert!(app.engine.blobs.get(&key(&keep)).await.unwrap().is_some(), "other objects stay");
        let r = list(&app, &alice, &format!("parentType=PERSON&parentUuid={}", alice.person_uuid)).await.expect(200);
        assert_eq!(r.body["assets"].as_array().unwrap().len(), 1);
    }

    async fn account_deletion_removes_the_persons_assets_and_their_bytes(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let own = create(&app, &alice, "PERSON", &alice.person_uuid, "image/png").await;
        let sent = create(&app, &alice, "CHAT", &chat, "image/png").await;
        for a in [&own, &sent] {
            assert_eq!(put(&app, a["presignedUploadUrl"].as_str().unwrap(), "image/png", png(4, 4)).await, 200);
        }
        let key = own["s3Key"].as_str().unwrap().to_string();
        assert!(app.engine.blobs.get(&key).await.unwrap().is_some());
        app.delete_json(&format!("/accounts/{}", alice.account_uuid), Some(&alice.token),
            json!({"confirm": "Permanently delete my account"})).await.expect(204);
        assert_eq!(app.engine.blobs.get(&key).await.unwrap(), None, "own object removed");
        // What alice sent into the chat stays for bob, ownerless.
        let r = list(&app, &bob, &format!("parentType=CHAT&parentUuid={chat}")).await.expect(200);
        assert_eq!(r.body["assets"][0]["uuid"], sent["uuid"]);
        assert_eq!(r.body["assets"][0]["ownerPersonUuid"], Value::Null);
        let (status, _) = fetch(&app, r.body["assets"][0]["presignedDownloadUrl"].as_str().unwrap()).await;
        assert_eq!(status, 200);
    }
}
