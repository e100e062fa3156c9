//! Shared AWS SDK setup for the S3 and Pinpoint adapters: credentials and region from the
//! standard chain (environment, profile, container or instance role), TLS through rustls
//! with ring (the rest of the engine's TLS stack), and an optional endpoint override so
//! an S3-compatible server or a local stand-in can be used.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub(crate) async fn sdk_config(
    region: &str,
    endpoint_url: Option<&str>,
    static_keys: Option<(&str, &str)>,
) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(region.to_string()));
    if let Some((id, secret)) = static_keys {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id,
            secret,
            None,
            None,
            "metmos-config",
        ));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
