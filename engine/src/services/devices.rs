//! Devices and pushes: `POST /devices` registers an app install with its push token, and
//! `push_to_person` sends one push to every enabled device of a person (what the
//! realtime Notifier does for someone offline). A dead token disables that device only.

use crate::domain::devices::{Device, NewDevice, RegisterDevice};
use crate::domain::time;
use crate::error::Result;
use crate::ports::{PushMessage, PushOutcome, Pusher, Store};
use crate::services::people::Caller;
use std::sync::Arc;
use uuid::Uuid;

/// A push goes to at most this many of a person's devices (the most recently
/// registered), so one person's pile of old installs cannot multiply the work.
pub const MAX_PUSH_DEVICES: usize = 20;

// The wire types (`CreateDeviceDto`, `DeviceView`) live in `metmos-http`'s
// `routes/devices.rs`.

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
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, caller: &Caller, cmd: RegisterDevice) -> Result<Device> {
        let me = caller.person()?;
        let RegisterDevice {
            device_type,
            platform_type,
            platform_version,
            model_name,
            push_token,
        } = cmd;
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

    /// Sends `message` to every enabled device of the person. No span of its own: the
    /// notifier calls it for every notification of an offline person, inside its span.
    /// Never fails: the push is
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
