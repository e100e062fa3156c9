//! Local blobs: objects are files under `{data_dir}/blobs/{key}`, and the engine itself
//! serves them (`PUT`/`GET /blobs/{key}`, http/src/routes/blobs.rs) on URLs signed with
//! HMAC-SHA256 over (method, key, expiry, content type). A URL is good for one method on
//! one object until it expires; a PUT only with the content type it was signed for.
//! The signing key is derived from `auth.dev_secret`, so URLs survive a restart.

use crate::domain::time::{self, Timestamp};
use crate::ports::{BlobError, Blobs, PresignedUrl};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Largest object a signed PUT may upload (video included).
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

/// Why a signed URL is refused (every one answers 403: the holder learns nothing more).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignedUrlRefusal {
    #[error("Signed URL is malformed")]
    Malformed,
    #[error("Signed URL does not match")]
    BadSignature,
    #[error("Signed URL has expired")]
    Expired,
    #[error("Content-Type does not match the signed URL")]
    WrongContentType,
}

/// The query of a signed URL, as the route received it.
#[derive(Debug, Clone, Default)]
pub struct SignedQuery {
    pub expires: Option<i64>,
    pub content_type: Option<String>,
    pub signature: Option<String>,
}

pub struct LocalBlobs {
    root: PathBuf,
    /// `http.public_url`; set again once the server knows its port (port 0 in tests).
    base_url: parking_lot::RwLock<String>,
    key: [u8; 32],
}

/// Keys are our own (`{uuid}/assets/{TYPE}/{uuid}[_variation]`), but the route hands
/// in whatever the URL says: only plain segments, never `..` or absolute paths.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        })
}

/// Percent-encodes a query value (content types hold `/` and `+`).
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Internal(e.to_string())
}

impl LocalBlobs {
    pub fn new(root: PathBuf, public_url: &str, secret: &[u8]) -> Result<Self, BlobError> {
        std::fs::create_dir_all(&root).map_err(io)?;
        let mut h = Sha256::new();
        h.update(b"metmos-local-blobs:");
        h.update(secret);
        Ok(Self {
            root,
            base_url: parking_lot::RwLock::new(public_url.trim_end_matches('/').to_string()),
            key: h.finalize().into(),
        })
    }

    pub fn set_base_url(&self, url: &str) {
        *self.base_url.write() = url.trim_end_matches('/').to_string();
    }

    fn sign(&self, method: &str, key: &str, expires: i64, content_type: &str) -> String {
        // Newlines cannot appear in a valid key or content type, so fields cannot shift.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("{method}\n{key}\n{expires}\n{content_type}").as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    fn url(&self, method: &str, key: &str, ttl: Duration, content_type: &str) -> PresignedUrl {
        let expires_at = time::now() + chrono::Duration::seconds(ttl.as_secs() as i64);
        let expires = expires_at.timestamp();
        let signature = self.sign(method, key, expires, content_type);
        let mut url = format!("{}/blobs/{key}?expires={expires}", self.base_url.read());
        if !content_type.is_empty() {
            url.push_str(&format!("&contentType={}", encode(content_type)));
        }
        url.push_str(&format!("&signature={signature}"));
        PresignedUrl {
            url,
            expires_at: Utc.timestamp_opt(expires, 0).single().unwrap_or(expires_at),
        }
    }

    /// Checks a signed URL for `method` on `key` at `now`. For a PUT, `sent_type` is the
    /// request's Content-Type, which must be the one signed.
    pub fn verify(
        &self,
        method: &str,
        key: &str,
        query: &SignedQuery,
        sent_type: Option<&str>,
        now: Timestamp,
    ) -> Result<(), SignedUrlRefusal> {
        let (Some(expires), Some(signature)) = (query.expires, query.signature.as_deref()) else {
            return Err(SignedUrlRefusal::Malformed);
        };
        if !valid_key(key) {
            return Err(SignedUrlRefusal::Malformed);
        }
        let content_type = query.content_type.as_deref().unwrap_or("");
        // Constant time: the comparison must not tell how much of a guess was right.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("{method}\n{key}\n{expires}\n{content_type}").as_bytes());
        let Ok(given) = decode_hex(signature) else {
            return Err(SignedUrlRefusal::BadSignature);
        };
        if mac.verify_slice(&given).is_err() {
            return Err(SignedUrlRefusal::BadSignature);
        }
        if now.timestamp() > expires {
            return Err(SignedUrlRefusal::Expired);
        }
        if method == "PUT" {
            let sent = sent_type
                .map(|t| {
                    t.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            if sent != content_type {
                return Err(SignedUrlRefusal::WrongContentType);
            }
        }
        Ok(())
    }

    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        if !valid_key(key) {
            return Err(BlobError::Internal(format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn type_path(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".content-type");
        PathBuf::from(p)
    }

    /// The object and the content type it was stored with.
    pub async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, BlobError> {
        let path = self.path(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let content_type = tokio::fs::read_to_string(Self::type_path(&path))
                    .await
                    .unwrap_or_else(|_| "application/octet-stream".into());
                Ok(Some((bytes, content_type)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// Writes through a temporary file and a rename, so a reader never sees half an
    /// object and a failed upload leaves the previous one.
    pub async fn write(
        &self,
        key: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<(), BlobError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::write(Self::type_path(&path), content_type)
            .await
            .map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        Ok(())
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) {
        return Err(());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).ok_or(())?, 16).map_err(|_| ()))
        .collect()
}

#[async_trait]
impl Blobs for LocalBlobs {
    fn adapter_name(&self) -> &'static str {
        "local files"
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedUrl, BlobError> {
        self.path(key)?;
        Ok(self.url("PUT", key, ttl, content_type))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<PresignedUrl, BlobError> {
        self.path(key)?;
        Ok(self.url("GET", key, ttl, ""))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        Ok(self.read(key).await?.map(|(bytes, _)| bytes))
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.write(key, content_type, &bytes).await
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        for key in keys {
            let path = self.path(key)?;
            for p in [Self::type_path(&path), path] {
                match tokio::fs::remove_file(&p).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(e)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> (LocalBlobs, PathBuf) {
        let dir = std::env::temp_dir().join(format!("metmos-blobs-{}", uuid::Uuid::new_v4()));
        (
            LocalBlobs::new(dir.clone(), "http://h:1/", b"secret-secret-secret").unwrap(),
            dir,
        )
    }

    fn query(url: &str) -> SignedQuery {
        let q = url.split_once('?').unwrap().1;
        let mut out = SignedQuery::default();
        for pair in q.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "expires" => out.expires = v.parse().ok(),
                "contentType" => out.content_type = Some(v.replace("%2F", "/")),
                "signature" => out.signature = Some(v.to_string()),
                _ => {}
            }
        }
        out
    }

    #[tokio::test]
    async fn signed_urls_bind_method_key_type_and_expiry() {
        let (b, dir) = blobs();
        let key = "p/assets/CHAT/a";
        let put = b
            .presign_put(key, "image/png", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(put.url.starts_with("http://h:1/blobs/p/assets/CHAT/a?"));
        let q = query(&put.url);
        let now = time::now();
        assert_eq!(b.verify("PUT", key, &q, Some("image/png"), now), Ok(()));
        assert_eq!(
            b.verify("PUT", key, &q, Some("text/html"), now),
            Err(SignedUrlRefusal::WrongContentType)
        );
        assert_eq!(
            b.verify("GET", key, &q, None, now),
            Err(SignedUrlRefusal::BadSignature)
        );
        assert_eq!(
            b.verify("PUT", "p/assets/CHAT/b", &q, Some("image/png"), now),
            Err(SignedUrlRefusal::BadSignature)
        );
        let later = now + chrono::Duration::seconds(120);
        assert_eq!(
            b.verify("PUT", key, &q, Some("image/png"), later),
            Err(SignedUrlRefusal::Expired)
        );
        let mut tampered = q.clone();
        tampered.expires = q.expires.map(|e| e + 3600);
        assert_eq!(
            b.verify("PUT", key, &tampered, Some("image/png"), now),
            Err(SignedUrlRefusal::BadSignature)
        );
        assert_eq!(
            b.verify("GET", "../etc/passwd", &q, None, now),
            Err(SignedUrlRefusal::Malformed)
        );
        b.put(key, "image/png", vec![1, 2, 3]).await.unwrap();
        assert_eq!(b.get(key).await.unwrap(), Some(vec![1, 2, 3]));
        b.delete(&[key.to_string()]).await.unwrap();
        assert_eq!(b.get(key).await.unwrap(), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
