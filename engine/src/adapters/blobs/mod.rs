//! Blobs adapters: S3 or any S3-compatible server (production) and local files served by
//! the engine on HMAC-signed URLs (embedded default). `from_settings` picks one:
//! `s3.bucket` set means S3.

pub mod cloudfront;
pub mod local;
pub mod s3;

use crate::config::Settings;
use crate::ports::{BlobError, Blobs};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The adapter the settings select, and the local one when that is it (the HTTP layer
/// serves its signed URLs).
pub async fn from_settings(
    settings: &Settings,
) -> Result<(Arc<dyn Blobs>, Option<Arc<local::LocalBlobs>>), BlobError> {
    match &settings.s3.bucket {
        Some(bucket) => Ok((
            Arc::new(s3::S3Blobs::new(bucket, &settings.s3).await?),
            None,
        )),
        None => {
            let local = Arc::new(local::LocalBlobs::new(
                settings.data_dir.join("blobs"),
                &settings.http.public_url(),
                settings.auth.dev_secret.expose_secret().as_bytes(),
            )?);
            Ok((local.clone(), Some(local)))
        }
    }
}
