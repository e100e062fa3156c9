//! The recording pusher: keeps what it would have sent, in memory and bounded, so dev
//! runs and tests can see every push (`GET /dev/pushes` in dev mode). A push token that
//! starts with [`DEAD_TOKEN_PREFIX`] is answered as Pinpoint answers an unregistered
//! token, so the "dead token disables the device" path runs without AWS.

use crate::domain::devices::Device;
use crate::domain::notifications::NotificationType;
use crate::domain::time::{self, Timestamp};
use crate::ports::{PushMessage, PushOutcome, Pusher};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::VecDeque;
use uuid::Uuid;

/// The oldest pushes are forgotten past this many.
const KEEP: usize = 10_000;
pub const DEAD_TOKEN_PREFIX: &str = "dead:";

#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPush {
    pub notification_type: NotificationType,
    pub person_uuid: Uuid,
    pub device_uuid: Uuid,
    pub title: String,
    pub body: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub sent_at: Timestamp,
}

#[derive(Default)]
pub struct RecordingPusher {
    log: Mutex<VecDeque<RecordedPush>>,
}

impl RecordingPusher {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was sent, oldest first, optionally to one person only.
    pub fn recorded(&self, person_uuid: Option<Uuid>) -> Vec<RecordedPush> {
        self.log
            .lock()
            .iter()
            .filter(|p| person_uuid.is_none_or(|u| p.person_uuid == u))
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Pusher for RecordingPusher {
    fn adapter_name(&self) -> &'static str {
        "recording"
    }

    async fn push(&self, devices: &[Device], message: &PushMessage) -> Vec<PushOutcome> {
        let mut log = self.log.lock();
        devices
            .iter()
            .map(|device| {
                if device.push_token.starts_with(DEAD_TOKEN_PREFIX) {
                    return PushOutcome::DeadToken;
                }
                if log.len() == KEEP {
                    log.pop_front();
                }
                log.push_back(RecordedPush {
                    notification_type: message.notification_type,
                    person_uuid: device.person_uuid,
                    device_uuid: device.uuid,
                    title: message.title.clone(),
                    body: message.body.clone(),
                    data: message.data.clone(),
                    sent_at: time::now(),
                });
                PushOutcome::Sent
            })
            .collect()
    }
}
