//! Server → client frames of the WebSocket channel (API.md "WebSocket"). A frame sent
//! to many connections is serialized once and shared ([`Frame`]).

use metmos_engine::domain::chat::Message;
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::services::notifications::NotificationView;
use serde::Serialize;
use uuid::Uuid;

/// A serialized text frame, cheap to hand to every receiver: cloning it bumps a
/// reference count, and actix-ws `Session::text` takes it as it is, without copying.
pub type Frame = bytestring::ByteString;

/// Where a chat message frame sits in its chat: receivers drop a frame whose seq is
/// not above the last one they passed on for that chat (a duplicate, or one overtaken
/// by a later message delivered through another node); the app fills such a gap from
/// history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatSeq {
    pub chat: Uuid,
    pub seq: i64,
}

#[derive(Debug, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerFrame<'a> {
    /// The overview's fields unchanged (note `senderPersonUuId`, which the app reads),
    /// plus `type`, `seq` and `createdAt`.
    ChatMessage {
        chat_uuid: Uuid,
        #[serde(rename = "senderPersonUuId")]
        sender_person_uuid: Uuid,
        message_uuid: Uuid,
        message_content: &'a str,
        asset_uuids: &'a [Uuid],
        seq: i64,
        #[serde(with = "time::millis")]
        created_at: Timestamp,
    },
    /// To the sending connection, once the message is stored (again for a resend).
    Ack {
        message_uuid: Uuid,
        chat_uuid: Uuid,
        seq: i64,
    },
    /// A stored notification, with the fields `GET /notifications` lists.
    Notification(&'a NotificationView),
    Error {
        status_code: u16,
        message: String,
        /// The message uuid the error is about, when there was one.
        #[serde(rename = "ref")]
        reference: Option<Uuid>,
    },
    Pong,
    /// `personUuid` has read `chatUuid` up to `seq` (issue 15): to the other participants
    /// (when both share receipts) and to the reader's other devices.
    Read {
        chat_uuid: Uuid,
        person_uuid: Uuid,
        seq: i64,
    },
    /// `personUuid` is typing in `chatUuid`: to the other participants online; clients
    /// show it for 5 seconds unless another one comes.
    Typing {
        chat_uuid: Uuid,
        person_uuid: Uuid,
    },
}

impl ServerFrame<'_> {
    pub fn to_frame(&self) -> Frame {
        // Plain data (strings, numbers, uuids): serialization cannot fail.
        Frame::from(serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }

    pub fn chat_message(m: &Message) -> ServerFrame<'_> {
        ServerFrame::ChatMessage {
            chat_uuid: m.chat_uuid,
            sender_person_uuid: m.sender_uuid,
            message_uuid: m.uuid,
            message_content: &m.message_content,
            asset_uuids: &m.asset_uuids,
            seq: m.seq,
            created_at: m.created_at,
        }
    }

    pub fn ack(m: &Message) -> ServerFrame<'static> {
        ServerFrame::Ack {
            message_uuid: m.uuid,
            chat_uuid: m.chat_uuid,
            seq: m.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_spelled_as_the_app_reads_them() {
        let err = ServerFrame::Error {
            status_code: 409,
            message: "taken".into(),
            reference: None,
        };
        assert_eq!(
            &*err.to_frame(),
            r#"{"type":"error","statusCode":409,"message":"taken","ref":null}"#
        );
        assert_eq!(&*ServerFrame::Pong.to_frame(), r#"{"type":"pong"}"#);
        let read = ServerFrame::Read {
            chat_uuid: Uuid::nil(),
            person_uuid: Uuid::nil(),
            seq: 2,
        };
        let nil = Uuid::nil();
        assert_eq!(
            &*read.to_frame(),
            format!(r#"{{"type":"read","chatUuid":"{nil}","personUuid":"{nil}","seq":2}}"#)
        );
        let typing = ServerFrame::Typing {
            chat_uuid: nil,
            person_uuid: nil,
        };
        assert_eq!(
            &*typing.to_frame(),
            format!(r#"{{"type":"typing","chatUuid":"{nil}","personUuid":"{nil}"}}"#)
        );
        let at = time::parse("t", "2024-01-02T03:04:05.678Z").unwrap();
        let m = Message {
            id: 1,
            uuid: Uuid::nil(),
            chat_id: 1,
            chat_uuid: Uuid::nil(),
            sender_id: Some(1),
            sender_uuid: Uuid::nil(),
            message_content: "Hello".into(),
            asset_uuids: vec![],
            seq: 3,
            created_at: at,
            updated_at: at,
        };
        let v: serde_json::Value =
            serde_json::from_str(&ServerFrame::chat_message(&m).to_frame()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut keys = keys;
        keys.sort();
        assert_eq!(
            keys,
            [
                "assetUuids",
                "chatUuid",
                "createdAt",
                "messageContent",
                "messageUuid",
                "senderPersonUuId",
                "seq",
                "type"
            ]
        );
        assert_eq!(v["type"], "chatMessage");
        assert_eq!(v["createdAt"], "2024-01-02T03:04:05.678Z");
    }
}
