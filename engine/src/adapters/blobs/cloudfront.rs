//! CloudFront signed download URLs (trusted key group, canned policy), as CloudFront
//! specifies them: the canned policy
//! `{"Statement":[{"Resource":"<url>","Condition":{"DateLessThan":{"AWS:EpochTime":<epoch>}}}]}`
//! (no whitespace: CloudFront rebuilds it byte for byte from the URL and `Expires`) is
//! signed with RSA-SHA1 (PKCS#1 v1.5), and the signature travels in the query string as
//! base64 with `+ = /` replaced by `- _ ~` (CloudFront's own URL-safe alphabet, not the
//! RFC 4648 one).

use crate::config::CloudFrontSettings;
use crate::ports::BlobError;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use secrecy::ExposeSecret;
use sha1::Sha1;

pub struct CloudFrontSigner {
    domain: String,
    key_pair_id: String,
    key: SigningKey<Sha1>,
}

impl std::fmt::Debug for CloudFrontSigner {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudFrontSigner")
            .field("domain", &self.domain)
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

impl CloudFrontSigner {
    /// `None` when `s3.cloudfront.domain` is unset. A domain without its key pair id or
    /// private key, or a key that does not parse, is refused (naming the setting): a
    /// half-configured distribution would hand out URLs CloudFront rejects.
    pub fn from_settings(settings: &CloudFrontSettings) -> Result<Option<Self>, BlobError> {
        let Some(domain) = settings.domain.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let refuse = |msg: &str| BlobError::Internal(msg.to_string());
        // A bare host name: the scheme and any trailing slash are ours to add.
        let domain = domain
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        if domain.is_empty() {
            return Err(refuse("s3.cloudfront.domain is empty"));
        }
        let key_pair_id = settings
            .key_pair_id
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                refuse("s3.cloudfront.domain is set but s3.cloudfront.key_pair_id is not")
            })?
            .to_string();
        let pem = settings.private_key_pem.as_ref().ok_or_else(|| {
            refuse("s3.cloudfront.domain is set but s3.cloudfront.private_key_pem is not")
        })?;
        let key = parse_key(pem.expose_secret()).ok_or_else(|| {
            refuse(
                "s3.cloudfront.private_key_pem is not an RSA private key in PEM (PKCS#1 or PKCS#8)",
            )
        })?;
        Ok(Some(Self {
            domain,
            key_pair_id,
            key: SigningKey::<Sha1>::new(key),
        }))
    }

    /// The signed URL of `key`, valid until `expires` (Unix seconds).
    pub fn sign(&self, key: &str, expires: i64) -> String {
        // Keys are only ever `domain::assets::s3_key` (uuids, a parent type, `/`) plus a
        // variation suffix: URL-safe as they are, so the signed resource is the URL the
        // client fetches byte for byte (a key needing escapes would break the signature:
        // checked in debug builds, so every test run would catch a new key shape).
        debug_assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b)),
            "CloudFront key needs percent-encoding: {key}"
        );
        let resource = format!("https://{}/{}", self.domain, key.trim_start_matches('/'));
        let policy = canned_policy(&resource, expires);
        let signature = self.key.sign(policy.as_bytes()).to_bytes();
        format!(
            "{resource}?Expires={expires}&Signature={}&Key-Pair-Id={}",
            cloudfront_base64(&signature),
            self.key_pair_id
        )
    }
}

fn parse_key(pem: &str) -> Option<rsa::RsaPrivateKey> {
    // Environment variables often carry the PEM with literal `\n`s.
    let pem = pem.trim().replace("\\n", "\n");
    rsa::RsaPrivateKey::from_pkcs1_pem(&pem)
        .ok()
        .or_else(|| rsa::RsaPrivateKey::from_pkcs8_pem(&pem).ok())
}

pub(crate) fn canned_policy(resource: &str, expires: i64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

pub(crate) fn cloudfront_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use secrecy::SecretString;

    const PEM: &str = include_str!("testdata/cloudfront_test_key.pem");

    fn settings(pem: &str) -> CloudFrontSettings {
        CloudFrontSettings {
            domain: Some("d111111abcdef8.cloudfront.net".into()),
            key_pair_id: Some("K2JCJMDEHXQW5F".into()),
            private_key_pem: Some(SecretString::from(pem.to_string())),
        }
    }

    fn query<'a>(url: &'a str, name: &str) -> &'a str {
        let (_, q) = url.split_once('?').expect("has a query");
        q.split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {url}"))
    }

    #[test]
    fn signed_url_verifies_with_the_public_key() {
        let signer = CloudFrontSigner::from_settings(&settings(PEM))
            .unwrap()
            .expect("configured");
        let url = signer.sign("assets/abc/photo.jpg", 1_767_290_400);
        let resource = "https://d111111abcdef8.cloudfront.net/assets/abc/photo.jpg";
        assert!(url.starts_with(&format!("{resource}?Expires=1767290400&Signature=")));
        assert!(url.ends_with("&Key-Pair-Id=K2JCJMDEHXQW5F"), "{url}");
        let sig = query(&url, "Signature");
        // CloudFront's alphabet: none of `+ = /` may remain, only their substitutes.
        assert!(!sig.contains(['+', '=', '/']), "{sig}");
        assert!(
            sig.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_~".contains(c))
        );
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig.replace('-', "+").replace('_', "=").replace('~', "/"))
            .expect("decodes back");
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(PEM).unwrap();
        let verifying = VerifyingKey::<Sha1>::new(private.to_public_key());
        let policy = format!(
            r#"{{"Statement":[{{"Resource":"{resource}","Condition":{{"DateLessThan":{{"AWS:EpochTime":1767290400}}}}}}]}}"#
        );
        assert_eq!(canned_policy(resource, 1_767_290_400), policy);
        let signature = Signature::try_from(raw.as_slice()).unwrap();
        verifying
            .verify(policy.as_bytes(), &signature)
            .expect("the signature is over the canned policy");
        // …and over nothing else: another expiry does not verify.
        assert!(
            verifying
                .verify(
                    canned_policy(resource, 1_767_290_401).as_bytes(),
                    &signature
                )
                .is_err()
        );
    }

    #[test]
    fn base64_uses_cloudfronts_substitutes() {
        // 0xfb 0xff -> "+/8=" in standard base64.
        assert_eq!(cloudfront_base64(&[0xfb, 0xff]), "-~8_");
    }

    #[test]
    fn key_in_pkcs8_or_with_escaped_newlines_parses() {
        use rsa::pkcs8::EncodePrivateKey;
        let private = rsa::RsaPrivateKey::from_pkcs1_pem(PEM).unwrap();
        let pkcs8 = private.to_pkcs8_pem(Default::default()).unwrap();
        assert!(
            CloudFrontSigner::from_settings(&settings(&pkcs8))
                .unwrap()
                .is_some()
        );
        let escaped = PEM.replace('\n', "\\n");
        assert!(
            CloudFrontSigner::from_settings(&settings(&escaped))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn bad_or_missing_key_is_refused_naming_the_setting() {
        let err = CloudFrontSigner::from_settings(&settings("-----BEGIN nonsense")).unwrap_err();
        assert!(
            err.to_string().contains("s3.cloudfront.private_key_pem"),
            "{err}"
        );
        let mut s = settings(PEM);
        s.key_pair_id = None;
        let err = CloudFrontSigner::from_settings(&s).unwrap_err();
        assert!(
            err.to_string().contains("s3.cloudfront.key_pair_id"),
            "{err}"
        );
        s = settings(PEM);
        s.private_key_pem = None;
        let err = CloudFrontSigner::from_settings(&s).unwrap_err();
        assert!(
            err.to_string().contains("s3.cloudfront.private_key_pem"),
            "{err}"
        );
        assert!(
            CloudFrontSigner::from_settings(&CloudFrontSettings::default())
                .unwrap()
                .is_none()
        );
    }

    /// The S3 adapter hands out CloudFront URLs for downloads once configured (no S3
    /// request is made to presign, so no server is needed), and refuses a bad key.
    #[tokio::test]
    async fn s3_adapter_downloads_through_cloudfront() {
        use crate::ports::Blobs;
        let mut s3 = crate::config::S3Settings {
            bucket: Some("metmos-assets".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
            access_key_id: Some("id".into()),
            secret_access_key: Some(SecretString::from("secret".to_string())),
            ..Default::default()
        };
        s3.cloudfront = settings(PEM);
        let blobs = crate::adapters::blobs::s3::S3Blobs::new("metmos-assets", &s3)
            .await
            .unwrap();
        let got = blobs
            .presign_get("assets/x/y.png", std::time::Duration::from_secs(60))
            .await
            .unwrap();
        assert!(
            got.url
                .starts_with("https://d111111abcdef8.cloudfront.net/assets/x/y.png?Expires="),
            "{}",
            got.url
        );
        assert_eq!(
            query(&got.url, "Expires"),
            got.expires_at.timestamp().to_string()
        );
        s3.cloudfront.private_key_pem = Some(SecretString::from("not a key".to_string()));
        let err = crate::adapters::blobs::s3::S3Blobs::new("metmos-assets", &s3)
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("s3.cloudfront.private_key_pem"),
            "{err}"
        );
    }
}
