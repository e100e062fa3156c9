//! Devices and pushes: `POST /devices` registers an app install with its push token, and
//! `push_to_person` sends one push to every enabled device of a person (what the
//! realtime Notifier does for someone offline). A dead token disables that device only.

use crate::domain::devices::{
    Device, DeviceType, NewDevice, PlatformType, parse_label, parse_push_token,
};
use crate::domain::time::{self, Timestamp};
use crate::error::{Error, Problems, Result};
use crate::ports::{PushMessage, PushOutcome, Pusher, Store};
use crate::services::people::Caller;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

/// A push goes to at most this many of a person's devices (the most recently
/// registered), so one person's pile of old installs cannot multiply the work.
pub const MAX_PUSH_DEVICES: usize = 20;

/// `POST /devices`. Every field is required; each missing or bad one is reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDeviceDto {
    #[schema(example = "PHONE")]
    pub device_type: Option<String>,
    #[schema(example = "IOS")]
    pub platform_type: Option<String>,
    #[schema(example = "iOS 17")]
    pub platform_version: Option<String>,
    #[schema(example = "iPhone 15")]
    pub model_name: Option<String>,
    /// Assigned by APNs or FCM to the app on this device.
    pub push_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub device_type: DeviceType,
    pub platform_type: PlatformType,
    pub platform_version: String,
    pub model_name: String,
    pub push_token: String,
    pub pinpoint_endpoint_id: Option<String>,
    /// Set when the push service reported the token dead.
    #[serde(with = "time::millis::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            uuid: d.uuid,
            person_uuid: d.person_uuid,
            device_type: d.device_type,
            platform_type: d.platform_type,
            platform_version: d.platform_version.clone(),
            model_name: d.model_name.clone(),
            push_token: d.push_token.clone(),
            pinpoint_endpoint_id: d.pinpoint_endpoint_id.clone(),
            disabled_at: d.disabled_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// What one `push_to_person` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushReport {
    pub sent: usize,
    pub disabled: usize,
    pub failed: usize,
}

#[derive(Clone)]
pub struct DeviceService {
    store: Arc<dyn Store>,
    pusher: Arc<dyn Pusher>,
}

fn required<'a>(problems: &mut Problems, field: &str, raw: Option<&'a str>) -> Option<&'a str> {
    if raw.is_none() {
        problems.push(format!("{field} is required"));
    }
    raw
}

impl DeviceService {
    /// Trade notifications by email, to the person's address (when the pusher has an
    /// email channel). Best effort like pushes: problems are logged.
    async fn email(&self, person_uuid: Uuid, message: &PushMessage) {
        let person = match self.store.person_by_uuid(person_uuid).await {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(person = %person_uuid, error = %e, "cannot read person; email skipped");
                return;
            }
        };
        match self.pusher.email(&person.email, message).await {
            PushOutcome::Sent => {
                tracing::debug!(person = %person_uuid, kind = message.notification_type.as_str(), "emailed")
            }
            other => {
                tracing::warn!(person = %person_uuid, outcome = ?other, "email not sent")
            }
        }
    }

    pub fn new(store: Arc<dyn Store>, pusher: Arc<dyn Pusher>) -> Self {
        Self { store, pusher }
    }

    /// `POST /devices`: registers the caller's device, or takes over the device that
    /// already has this push token.
    pub async fn register(&self, caller: &Caller, dto: CreateDeviceDto) -> Result<Device> {
        let me = caller.person()?;
        let mut p = Problems::new();
        let device_type = required(&mut p, "deviceType", dto.device_type.as_deref())
            .and_then(|raw| p.check(DeviceType::parse(raw.trim())));
        let platform_type = required(&mut p, "platformType", dto.platform_type.as_deref())
            .and_then(|raw| p.check(PlatformType::parse(raw.trim())));
        let platform_version = required(&mut p, "platformVersion", dto.platform_version.as_deref())
            .and_then(|raw| p.check(parse_label("platformVersion", raw)));
        let model_name = required(&mut p, "modelName", dto.model_name.as_deref())
            .and_then(|raw| p.check(parse_label("modelName", raw)));
        let push_token = required(&mut p, "pushToken", dto.push_token.as_deref())
            .and_then(|raw| p.check(parse_push_token(raw)));
        p.finish()?;
        let (
            Some(device_type),
            Some(platform_type),
            Some(platform_version),
            Some(model_name),
            Some(push_token),
        ) = (
            device_type,
            platform_type,
            platform_version,
            model_name,
            push_token,
        )
        else {
            return Err(Error::Internal("parsed fields missing".into()));
        };
        let device = self
            .store
            .upsert_device(&NewDevice {
                uuid: Uuid::new_v4(),
                person_id: me.id,
                device_type,
                platform_type,
                platform_version,
                model_name,
                push_token,
                at: time::now(),
            })
            .await?;
        tracing::info!(device = %device.uuid, person = %me.uuid, "device registered");
        Ok(device)
    }

    /// Sends `message` to every enabled device of the person. Never fails: the push is
    /// best effort after the fact (the message is stored; the app resyncs), so problems
    /// are logged and counted.
    pub async fn push_to_person(&self, person_uuid: Uuid, message: &PushMessage) -> PushReport {
        let mut report = PushReport::default();
        let list = match self.store.push_devices(person_uuid, MAX_PUSH_DEVICES).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(person = %person_uuid, error = %e, "cannot read devices; push skipped");
                report.failed += 1;
                return report;
            }
        };
        if !list.is_empty() {
            let outcomes = self.pusher.push(&list, message).await;
            for (device, outcome) in list.iter().zip(outcomes) {
                match outcome {
                    PushOutcome::Sent => report.sent += 1,
                    PushOutcome::DeadToken => {
                        report.disabled += 1;
                        match self
                            .store
                            .disable_device(device.id, &device.push_token, time::now())
                            .await
                        {
                            Ok(_) => {
                                tracing::info!(device = %device.uuid, "push token dead; device disabled")
                            }
                            Err(e) => {
                                tracing::warn!(device = %device.uuid, error = %e, "push token dead; could not disable device")
                            }
                        }
                    }
                    PushOutcome::Failed(reason) => {
                        report.failed += 1;
                        tracing::warn!(device = %device.uuid, %reason, "push failed");
                    }
                }
            }
        }
        if message.notification_type.goes_by_email() && self.pusher.sends_email() {
            self.email(person_uuid, message).await;
        }
        tracing::debug!(person = %person_uuid, kind = message.notification_type.as_str(), ?report, "pushed");
        report
    }
}
