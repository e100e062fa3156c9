//! Who is calling. Three verifiers, chosen by `auth.mode`:
//! - `dev`: HS256 tokens signed with `auth.dev_secret` (minted by `POST /dev/users`);
//! - `cognito`: RS256 access tokens of one user pool, checked against its JWKS
//!   (signature, `iss`, `exp`, `token_use == "access"`, `client_id`);
//! - `gateway`: API Gateway's authorizer already checked the token; trust the
//!   `x-cognito-user-id` header it sets.
//!
//! A verified token yields the subject (`sub` = the account's `cognitoUserId`); looking
//! the account up is the caller's business.

use crate::config::{AuthMode, AuthSettings};
use crate::error::Error;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error as ThisError;

/// An unknown `kid` triggers a JWKS refetch at most this often, so a flood of forged
/// tokens cannot turn into a flood of requests to Cognito.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, ThisError)]
pub enum AuthSetupError {
    #[error("could not load the Cognito JWKS from {url}: {reason}")]
    Jwks { url: String, reason: String },
}

/// What the request carried: the `Authorization` header and, for gateway mode, the
/// header API Gateway adds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    pub authorization: Option<&'a str>,
    pub gateway_user_id: Option<&'a str>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DevClaims {
    sub: String,
    iat: u64,
    exp: u64,
    token_use: String,
}

#[derive(Debug, Deserialize)]
struct CognitoClaims {
    sub: String,
    token_use: String,
    client_id: Option<String>,
}

pub struct Authenticator {
    mode: AuthMode,
    internal_api_key: SecretString,
    dev: Option<DevKeys>,
    cognito: Option<Arc<CognitoVerifier>>,
}

struct DevKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
}

impl Authenticator {
    /// Builds the verifier for the configured mode; in cognito mode this loads the JWKS.
    pub async fn new(settings: &AuthSettings) -> Result<Self, AuthSetupError> {
        let dev = (settings.mode == AuthMode::Dev).then(|| DevKeys {
            encoding: EncodingKey::from_secret(settings.dev_secret.expose_secret().as_bytes()),
            decoding: DecodingKey::from_secret(settings.dev_secret.expose_secret().as_bytes()),
            ttl_secs: settings.dev_token_ttl_secs,
        });
        let cognito = if settings.mode == AuthMode::Cognito {
            let c = &settings.cognito;
            let verifier = CognitoVerifier {
                jwks_url: c.jwks_url(),
                issuer: c.issuer(),
                client_id: c.client_id.clone().unwrap_or_default(),
                keys: RwLock::new(HashMap::new()),
                last_refetch: tokio::sync::Mutex::new(None),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| AuthSetupError::Jwks {
                        url: c.jwks_url(),
                        reason: e.to_string(),
                    })?,
            };
            verifier.fetch().await?;
            Some(Arc::new(verifier))
        } else {
            None
        };
        Ok(Self {
            mode: settings.mode,
            internal_api_key: settings.internal_api_key.clone(),
            dev,
            cognito,
        })
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The subject of a valid credential, or 401.
    pub async fn verify(&self, credentials: Credentials<'_>) -> Result<String, Error> {
        match self.mode {
            AuthMode::Gateway => match credentials
                .gateway_user_id
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                Some(sub) => Ok(sub.to_string()),
                None => Err(Error::unauthorized("Missing x-cognito-user-id")),
            },
            AuthMode::Dev => {
                let token = bearer(credentials.authorization)?;
                let keys = self
                    .dev
                    .as_ref()
                    .ok_or_else(|| Error::Internal("dev keys missing".into()))?;
                let mut validation = Validation::new(Algorithm::HS256);
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "sub"]);
                let data = decode::<DevClaims>(token, &keys.decoding, &validation)
                    .map_err(|e| Error::unauthorized(format!("Invalid token: {e}")))?;
                if data.claims.token_use != "access" {
                    return Err(Error::unauthorized("Invalid token: not an access token"));
                }
                Ok(data.claims.sub)
            }
            AuthMode::Cognito => {
                let token = bearer(credentials.authorization)?;
                let verifier = self
                    .cognito
                    .as_ref()
                    .ok_or_else(|| Error::Internal("cognito verifier missing".into()))?;
                verifier.verify(token).await
            }
        }
    }

    /// A dev-mode access token for `sub`; refused in other modes.
    pub fn mint_dev_token(&self, sub: &str) -> Result<String, Error> {
        let keys = self
            .dev
            .as_ref()
            .ok_or_else(|| Error::not_found("Cannot POST /dev/users"))?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = DevClaims {
            sub: sub.to_string(),
            iat: now,
            exp: now + keys.ttl_secs,
            token_use: "access".into(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// INTERNAL endpoints: the shared key, compared in constant time.
    pub fn check_internal_key(&self, presented: Option<&str>) -> Result<(), Error> {
        let ok = presented.is_some_and(|p| {
            constant_time_eq(
                p.as_bytes(),
                self.internal_api_key.expose_secret().as_bytes(),
            )
        });
        if ok {
            Ok(())
        } else {
            Err(Error::unauthorized("Missing or invalid x-internal-api-key"))
        }
    }
}

/// The token of an `Authorization` header: raw (as the app sends it) or `Bearer <jwt>`.
fn bearer(header: Option<&str>) -> Result<&str, Error> {
    let raw = header
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::unauthorized("Missing token"))?;
    let token = match raw.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ if raw.eq_ignore_ascii_case("bearer") => "",
        _ => raw,
    };
    if token.is_empty() {
        Err(Error::unauthorized("Missing token"))
    } else {
        Ok(token)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

struct CognitoVerifier {
    jwks_url: String,
    issuer: String,
    client_id: String,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When an unknown `kid` last caused a refetch (the load at start does not count);
    /// the lock also serialises fetches.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    http: reqwest::Client,
}

impl CognitoVerifier {
    async fn fetch(&self) -> Result<(), AuthSetupError> {
        let err = |reason: String| AuthSetupError::Jwks {
            url: self.jwks_url.clone(),
            reason,
        };
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| err(e.to_string()))?
            .json()
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) {
                keys.insert(kid, key);
            }
        }
        *self.keys.write() = keys;
        Ok(())
    }

    /// Refetches the JWKS unless an unknown kid already did less than the interval ago.
    async fn refetch_if_due(&self) {
        let mut last = self.last_refetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(()) => tracing::info!(url = %self.jwks_url, "JWKS refetched for an unknown kid"),
            Err(e) => tracing::warn!(error = %e, "JWKS refetch failed"),
        }
    }

    async fn verify(&self, token: &str) -> Result<String, Error> {
        let header =
            decode_header(token).map_err(|e| Error::unauthorized(format!("Invalid token: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(Error::unauthorized(
                "Invalid token: algorithm must be RS256",
            ));
        }
        let kid = header
            .kid
            .ok_or_else(|| Error::unauthorized("Invalid token: no kid"))?;
        let mut key = self.keys.read().get(&kid).cloned();
        if key.is_none() {
            self.refetch_if_due().await;
            key = self.keys.read().get(&kid).cloned();
        }
        let key = key.ok_or_else(|| Error::unauthorized("Invalid token: unknown signing key"))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false; // Cognito access tokens carry client_id, not aud.
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let data = decode::<CognitoClaims>(token, &key, &validation)
            .map_err(|e| Error::unauthorized(format!("Invalid token: {e}")))?;
        if data.claims.token_use != "access" {
            return Err(Error::unauthorized("Invalid token: not an access token"));
        }
        if data.claims.client_id.as_deref() != Some(self.client_id.as_str()) {
            return Err(Error::unauthorized(
                "Invalid token: issued for another client",
            ));
        }
        Ok(data.claims.sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_accepts_raw_and_bearer() {
        assert_eq!(bearer(Some("abc.def.ghi")).unwrap(), "abc.def.ghi");
        assert_eq!(bearer(Some("Bearer abc.def.ghi")).unwrap(), "abc.def.ghi");
        assert_eq!(bearer(Some("bearer   abc")).unwrap(), "abc");
        assert!(bearer(Some("Bearer ")).is_err());
        assert!(bearer(None).is_err());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
