//! Notifications: what a person is told about (a new offer, an accepted connection...).
//! Trade and social notifications are stored, so `GET /notifications` lists them, and
//! delivered by presence: a WebSocket frame when online, a push when not.

use super::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationType {
    NewChatMessage,
    OfferReceived,
    OfferAccepted,
    PaymentConfirmed,
    ListingCompleted,
    OrderCancelled,
    ConnectionRequest,
    ConnectionAccepted,
}

impl NotificationType {
    pub const ALL: [NotificationType; 8] = [
        Self::NewChatMessage,
        Self::OfferReceived,
        Self::OfferAccepted,
        Self::PaymentConfirmed,
        Self::ListingCompleted,
        Self::OrderCancelled,
        Self::ConnectionRequest,
        Self::ConnectionAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewChatMessage => "NEW_CHAT_MESSAGE",
            Self::OfferReceived => "OFFER_RECEIVED",
            Self::OfferAccepted => "OFFER_ACCEPTED",
            Self::PaymentConfirmed => "PAYMENT_CONFIRMED",
            Self::ListingCompleted => "LISTING_COMPLETED",
            Self::OrderCancelled => "ORDER_CANCELLED",
            Self::ConnectionRequest => "CONNECTION_REQUEST",
            Self::ConnectionAccepted => "CONNECTION_ACCEPTED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// Trade outcomes that also go by email when email is on (the overview's "push
    /// notification, email or SMS whenever applicable"): money moved or was returned.
    pub fn goes_by_email(self) -> bool {
        matches!(
            self,
            Self::PaymentConfirmed | Self::ListingCompleted | Self::OrderCancelled
        )
    }

    pub fn category(self) -> NotificationCategory {
        match self {
            Self::ConnectionRequest | Self::ConnectionAccepted => NotificationCategory::Social,
            // NEW_CHAT_MESSAGE is pushed, never stored; its category matters to no list.
            _ => NotificationCategory::Trade,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotificationCategory {
    Trade,
    Social,
}

impl NotificationCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trade => "TRADE",
            Self::Social => "SOCIAL",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "TRADE" => Ok(Self::Trade),
            "SOCIAL" => Ok(Self::Social),
            _ => Err(
                "notificationCategory must be one of the following values: TRADE, SOCIAL".into(),
            ),
        }
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub notification_type: NotificationType,
    pub title: String,
    pub body: String,
    /// The uuids the app needs to open the right screen (`listingUuid`, `offerUuid`, ...).
    pub data: serde_json::Map<String, serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Notification {
    pub fn category(&self) -> NotificationCategory {
        self.notification_type.category()
    }
}

/// A notification to store as part of some change (same transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub notification_type: NotificationType,
    pub title: String,
    pub body: String,
    pub data: serde_json::Map<String, serde_json::Value>,
    pub at: Timestamp,
}

impl NewNotification {
    /// `data` from pairs of key and uuid, as API.md lists them per type.
    pub fn new(
        person_id: i64,
        person_uuid: Uuid,
        notification_type: NotificationType,
        title: impl Into<String>,
        body: impl Into<String>,
        data: &[(&str, Uuid)],
        at: Timestamp,
    ) -> Self {
        Self {
            uuid: Uuid::new_v4(),
            person_id,
            person_uuid,
            notification_type,
            title: title.into(),
            body: body.into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                .collect(),
            at,
        }
    }

    /// The stored row this becomes, given its id.
    pub fn stored(&self, id: i64) -> Notification {
        Notification {
            id,
            uuid: self.uuid,
            person_id: self.person_id,
            person_uuid: self.person_uuid,
            notification_type: self.notification_type,
            title: self.title.clone(),
            body: self.body.clone(),
            data: self.data.clone(),
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

/// Filters of `GET /notifications`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotificationFilter {
    pub category: Option<NotificationCategory>,
    pub updated_at_start: Option<Timestamp>,
    pub updated_at_end: Option<Timestamp>,
}

impl NotificationFilter {
    pub fn matches(&self, n: &Notification) -> bool {
        self.category.is_none_or(|c| n.category() == c)
            && self.updated_at_start.is_none_or(|t| n.updated_at >= t)
            && self.updated_at_end.is_none_or(|t| n.updated_at <= t)
    }
}
