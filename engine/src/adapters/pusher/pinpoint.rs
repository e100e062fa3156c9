//! Pushes and email through Amazon Pinpoint's `SendMessages` (aws-sdk-pinpoint).
//!
//! Pinpoint's engagement features reached end of support on 2026-10-30; the send path
//! continues under AWS End User Messaging, while endpoints are among what goes away. So
//! messages are addressed straight to device tokens (`Addresses`: APNS, or APNS_SANDBOX
//! when `pinpoint.apns_sandbox`, for iOS; GCM for Android), never to endpoint ids, and
//! no endpoint is registered. One request carries a notification to all of a person's
//! devices; the per-address `Result` map decides each device's outcome: PERMANENT_FAILURE
//! is a dead token (the device gets disabled), THROTTLED and TEMPORARY_FAILURE are
//! retried with exponential backoff, anything else is reported as a failure.

use crate::config::PinpointSettings;
use crate::domain::devices::{Device, PlatformType};
use crate::ports::{PushMessage, PushOutcome, Pusher};
use async_trait::async_trait;
use aws_sdk_pinpoint::Client;
use aws_sdk_pinpoint::error::DisplayErrorContext;
use aws_sdk_pinpoint::types::{
    AddressConfiguration, ApnsMessage, ChannelType, DeliveryStatus, DirectMessageConfiguration,
    EmailMessage, GcmMessage, MessageRequest, MessageResult, SimpleEmail, SimpleEmailPart,
};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::time::Duration;

/// Retries of addresses Pinpoint throttled, with the first wait; each wait doubles.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

pub struct PinpointPusher {
    client: Client,
    application_id: String,
    apns_sandbox: bool,
    email_from: Option<String>,
}

/// What one address's result means for its device.
enum Verdict {
    Done(PushOutcome),
    Retry(String),
}

fn verdict(result: Option<&MessageResult>) -> Verdict {
    let Some(r) = result else {
        return Verdict::Done(PushOutcome::Failed("no result for the address".into()));
    };
    let detail = || {
        format!(
            "{} {}",
            r.status_code.unwrap_or_default(),
            r.status_message.as_deref().unwrap_or_default()
        )
    };
    match &r.delivery_status {
        Some(DeliveryStatus::Successful) => Verdict::Done(PushOutcome::Sent),
        Some(DeliveryStatus::PermanentFailure) => Verdict::Done(PushOutcome::DeadToken),
        Some(DeliveryStatus::Throttled) | Some(DeliveryStatus::TemporaryFailure) => {
            Verdict::Retry(format!("{:?}: {}", r.delivery_status, detail()))
        }
        other => Verdict::Done(PushOutcome::Failed(format!("{other:?}: {}", detail()))),
    }
}

fn string_data(message: &PushMessage) -> HashMap<String, String> {
    message
        .data
        .iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

impl PinpointPusher {
    pub async fn new(application_id: &str, settings: &PinpointSettings) -> Self {
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
        Self {
            client: Client::new(&shared),
            application_id: application_id.to_string(),
            apns_sandbox: settings.apns_sandbox,
            email_from: settings.email_from.clone(),
        }
    }

    fn channel(&self, platform: PlatformType) -> Option<ChannelType> {
        match platform {
            PlatformType::Ios if self.apns_sandbox => Some(ChannelType::ApnsSandbox),
            PlatformType::Ios => Some(ChannelType::Apns),
            PlatformType::Android => Some(ChannelType::Gcm),
            _ => None,
        }
    }

    fn push_configuration(message: &PushMessage) -> DirectMessageConfiguration {
        let data = string_data(message);
        let mut apns = ApnsMessage::builder()
            .title(&message.title)
            .body(&message.body)
            .sound("default");
        // The app icon's badge (chat pushes carry the recipient's total unread); Android
        // reads the same number from the data key `badge`.
        if let Some(badge) = message
            .data
            .get("badge")
            .and_then(serde_json::Value::as_i64)
            .and_then(|b| i32::try_from(b).ok())
        {
            apns = apns.badge(badge);
        }
        let mut gcm = GcmMessage::builder()
            .title(&message.title)
            .body(&message.body);
        for (k, v) in &data {
            apns = apns.data(k, v);
            gcm = gcm.data(k, v);
        }
        DirectMessageConfiguration::builder()
            .apns_message(apns.build())
            .gcm_message(gcm.build())
            .build()
    }

    /// One SendMessages call to `addresses`; the per-address results, or the error
    /// that failed the whole request.
    async fn send(
        &self,
        addresses: &[(String, ChannelType)],
        configuration: DirectMessageConfiguration,
    ) -> Result<HashMap<String, MessageResult>, String> {
        let mut request = MessageRequest::builder().message_configuration(configuration);
        for (address, channel) in addresses {
            request = request.addresses(
                address,
                AddressConfiguration::builder()
                    .channel_type(channel.clone())
                    .build(),
            );
        }
        let out = self
            .client
            .send_messages()
            .application_id(&self.application_id)
            .message_request(request.build())
            .send()
            .await
            .map_err(|e| DisplayErrorContext(&e).to_string())?;
        Ok(out
            .message_response
            .and_then(|r| r.result)
            .unwrap_or_default())
    }

    /// Sends to every address, retrying those throttled; the outcome per address.
    async fn send_with_retries(
        &self,
        addresses: Vec<(String, ChannelType)>,
        configuration: DirectMessageConfiguration,
    ) -> HashMap<String, PushOutcome> {
        let mut outcomes = HashMap::new();
        let mut pending = addresses;
        let mut backoff = FIRST_BACKOFF;
        for attempt in 0..=RETRIES {
            if pending.is_empty() {
                break;
            }
            let results = match self.send(&pending, configuration.clone()).await {
                Ok(results) => results,
                Err(error) => {
                    for (address, _) in &pending {
                        outcomes.insert(address.clone(), PushOutcome::Failed(error.clone()));
                    }
                    return outcomes;
                }
            };
            let mut again = Vec::new();
            for (address, channel) in pending {
                match verdict(results.get(&address)) {
                    Verdict::Done(outcome) => {
                        outcomes.insert(address, outcome);
                    }
                    Verdict::Retry(reason) if attempt == RETRIES => {
                        outcomes.insert(address, PushOutcome::Failed(reason));
                    }
                    Verdict::Retry(_) => again.push((address, channel)),
                }
            }
            pending = again;
            if !pending.is_empty() && attempt < RETRIES {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        outcomes
    }
}

#[async_trait]
impl Pusher for PinpointPusher {
    fn adapter_name(&self) -> &'static str {
        "pinpoint"
    }

    async fn push(&self, devices: &[Device], message: &PushMessage) -> Vec<PushOutcome> {
        let addresses: Vec<(String, ChannelType)> = devices
            .iter()
            .filter_map(|d| {
                self.channel(d.platform_type)
                    .map(|c| (d.push_token.clone(), c))
            })
            .collect();
        let mut outcomes = if addresses.is_empty() {
            HashMap::new()
        } else {
            self.send_with_retries(addresses, Self::push_configuration(message))
                .await
        };
        devices
            .iter()
            .map(|d| {
                outcomes.remove(&d.push_token).unwrap_or_else(|| {
                    PushOutcome::Failed(format!(
                        "no push channel for platform {}",
                        d.platform_type.as_str()
                    ))
                })
            })
            .collect()
    }

    fn sends_email(&self) -> bool {
        self.email_from.is_some()
    }

    async fn email(&self, address: &str, message: &PushMessage) -> PushOutcome {
        let Some(from) = &self.email_from else {
            return PushOutcome::Failed("email is off (pinpoint.email_from unset)".into());
        };
        let part = |text: &str| {
            SimpleEmailPart::builder()
                .charset("UTF-8")
                .data(text)
                .build()
        };
        let email = EmailMessage::builder()
            .from_address(from)
            .simple_email(
                SimpleEmail::builder()
                    .subject(part(&message.title))
                    .text_part(part(&message.body))
                    .build(),
            )
            .build();
        let configuration = DirectMessageConfiguration::builder()
            .email_message(email)
            .build();
        let mut outcomes = self
            .send_with_retries(
                vec![(address.to_string(), ChannelType::Email)],
                configuration,
            )
            .await;
        outcomes
            .remove(address)
            .unwrap_or_else(|| PushOutcome::Failed("no result for the address".into()))
    }
}
