//! Devices: app installs with their push token. One push token is one device, whoever
//! registers it last owns it (a phone handed over, a user signing in as someone else).
//! A token the push service reports dead disables the device, never the person.

use super::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_TOKEN_CHARS: usize = 4096;
const MAX_TEXT_CHARS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeviceType {
    Phone,
    Tablet,
    Wearable,
    Browser,
    Desktop,
    Other,
}

impl DeviceType {
    pub const ALL: [DeviceType; 6] = [
        Self::Phone,
        Self::Tablet,
        Self::Wearable,
        Self::Browser,
        Self::Desktop,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "PHONE",
            Self::Tablet => "TABLET",
            Self::Wearable => "WEARABLE",
            Self::Browser => "BROWSER",
            Self::Desktop => "DESKTOP",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| "deviceType must be one of the following values: PHONE, TABLET, WEARABLE, BROWSER, DESKTOP, OTHER".into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlatformType {
    Ios,
    Android,
    Web,
    Windows,
    Macos,
    Linux,
    Other,
}

impl PlatformType {
    pub const ALL: [PlatformType; 7] = [
        Self::Ios,
        Self::Android,
        Self::Web,
        Self::Windows,
        Self::Macos,
        Self::Linux,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "IOS",
            Self::Android => "ANDROID",
            Self::Web => "WEB",
            Self::Windows => "WINDOWS",
            Self::Macos => "MACOS",
            Self::Linux => "LINUX",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| "platformType must be one of the following values: IOS, ANDROID, WEB, WINDOWS, MACOS, LINUX, OTHER".into())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: i64,
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub device_type: DeviceType,
    pub platform_type: PlatformType,
    pub platform_version: String,
    pub model_name: String,
    pub push_token: String,
    pub pinpoint_endpoint_id: Option<String>,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A registration: stored as a new device, or, when the push token is known, as an
/// update of that device (moved to this person, enabled again).
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub uuid: Uuid,
    pub person_id: i64,
    pub device_type: DeviceType,
    pub platform_type: PlatformType,
    pub platform_version: String,
    pub model_name: String,
    pub push_token: String,
    pub at: Timestamp,
}

/// `POST /devices`, parsed at the edge: the install the caller registers.
#[derive(Debug, Clone)]
pub struct RegisterDevice {
    pub device_type: DeviceType,
    pub platform_type: PlatformType,
    pub platform_version: String,
    pub model_name: String,
    pub push_token: String,
}

/// A push token: opaque to us, but bounded and without whitespace (APNs tokens are hex,
/// FCM tokens are URL-safe text).
pub fn parse_push_token(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > MAX_TOKEN_CHARS || s.chars().any(char::is_whitespace) {
        Err(format!(
            "pushToken must be 1 to {MAX_TOKEN_CHARS} characters without spaces"
        ))
    } else {
        Ok(s.to_string())
    }
}

/// `platformVersion` and `modelName`: required, at most 100 characters.
pub fn parse_label(field: &str, raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > MAX_TEXT_CHARS {
        Err(format!("{field} must be 1 to {MAX_TEXT_CHARS} characters"))
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for t in DeviceType::ALL {
            assert_eq!(DeviceType::parse(t.as_str()), Ok(t));
        }
        for p in PlatformType::ALL {
            assert_eq!(PlatformType::parse(p.as_str()), Ok(p));
        }
        assert!(DeviceType::parse("phone").is_err());
        assert!(PlatformType::parse("SYMBIAN").is_err());
    }

    #[test]
    fn tokens_and_labels() {
        assert_eq!(parse_push_token(" abc:DEF_1 ").unwrap(), "abc:DEF_1");
        assert!(parse_push_token("").is_err());
        assert!(parse_push_token("a b").is_err());
        assert!(parse_push_token(&"x".repeat(4097)).is_err());
        assert_eq!(parse_label("modelName", "iPhone 15").unwrap(), "iPhone 15");
        assert!(parse_label("modelName", " ").is_err());
    }
}
