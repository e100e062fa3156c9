//! S3 blobs through aws-sdk-s3: presigned PUT (bound to the content type: it is a signed
//! header) and GET, server-side get/put for image variations, and batch delete. Works
//! with any S3-compatible server (`s3.endpoint_url`, `s3.force_path_style`). When
//! `s3.cloudfront.*` is configured, download URLs are CloudFront signed URLs of that
//! distribution (canned policy, `cloudfront.rs`) instead of presigned S3 GETs; uploads
//! stay presigned S3 PUTs (CloudFront only serves reads).

use super::cloudfront::CloudFrontSigner;
use crate::config::S3Settings;
use crate::domain::time;
use crate::ports::{BlobError, Blobs, PresignedUrl};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use secrecy::ExposeSecret;
use std::time::Duration;

pub struct S3Blobs {
    client: Client,
    bucket: String,
    cloudfront: Option<CloudFrontSigner>,
}

fn sdk_err<E: std::error::Error + 'static, R: std::fmt::Debug>(e: SdkError<E, R>) -> BlobError {
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            BlobError::Unavailable(DisplayErrorContext(&e).to_string())
        }
        _ => BlobError::Internal(DisplayErrorContext(&e).to_string()),
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, BlobError> {
    PresigningConfig::expires_in(ttl).map_err(|e| BlobError::Internal(e.to_string()))
}

impl S3Blobs {
    pub async fn new(bucket: &str, settings: &S3Settings) -> Result<Self, BlobError> {
        // First: a bad CloudFront key refuses start-up before any network set-up.
        let cloudfront = CloudFrontSigner::from_settings(&settings.cloudfront)?;
        let keys = match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => Some((id.as_str(), secret.expose_secret())),
            _ => None,
        };
        let shared = crate::adapters::aws::sdk_config(
            &settings.region,
            settings.endpoint_url.as_deref(),
            keys,
        )
        .await;
        // WhenRequired: otherwise the SDK signs the CRC32 of an empty body into a presigned
        // PUT (it has no body when signing), and every real upload would be refused.
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build();
        Ok(Self {
            client: Client::from_conf(config),
            bucket: bucket.to_string(),
            cloudfront,
        })
    }
}

#[async_trait]
impl Blobs for S3Blobs {
    fn adapter_name(&self) -> &'static str {
        "s3"
    }

    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedUrl, BlobError> {
        let expires_at = time::now() + chrono::Duration::seconds(ttl.as_secs() as i64);
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_err)?;
        Ok(PresignedUrl {
            url: req.uri().to_string(),
            expires_at,
        })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<PresignedUrl, BlobError> {
        let expires_at = time::now() + chrono::Duration::seconds(ttl.as_secs() as i64);
        if let Some(signer) = &self.cloudfront {
            return Ok(PresignedUrl {
                url: signer.sign(key, expires_at.timestamp()),
                expires_at,
            });
        }
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(ttl)?)
            .await
            .map_err(sdk_err)?;
        Ok(PresignedUrl {
            url: req.uri().to_string(),
            expires_at,
        })
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| BlobError::Unavailable(e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        // DeleteObjects takes at most 1000 keys per request.
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BlobError::Internal(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BlobError::Internal(e.to_string()))?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(sdk_err)?;
            if let Some(err) = out.errors().first() {
                return Err(BlobError::Internal(format!(
                    "delete {}: {}",
                    err.key().unwrap_or_default(),
                    err.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}
