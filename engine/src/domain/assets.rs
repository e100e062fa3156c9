//! Assets: files the app uploads (profile pictures, chat attachments, listing photos).
//! The row lives in the store; the bytes live in the Blobs port (S3 or local files) under
//! `s3Key` = `{ownerPersonUuid}/assets/{PARENT_TYPE}/{assetUuid}`. Who may attach, read or
//! delete follows the parent: [`decide`] is that rule, a pure function of what the service
//! read about the parent.

use super::Timestamp;
use serde::Serialize;
use std::fmt;
use thiserror::Error;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ParentType {
    Person,
    Chat,
    Message,
    Experience,
    Listing,
}

impl ParentType {
    pub const ALL: [ParentType; 5] = [
        Self::Person,
        Self::Chat,
        Self::Message,
        Self::Experience,
        Self::Listing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "PERSON",
            Self::Chat => "CHAT",
            Self::Message => "MESSAGE",
            Self::Experience => "EXPERIENCE",
            Self::Listing => "LISTING",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw.trim())
            .ok_or_else(|| {
                "parentType must be one of the following values: PERSON, CHAT, MESSAGE, EXPERIENCE, LISTING"
                    .to_string()
            })
    }
}

/// The mime types an asset may have: images, video and PDF. Anything else is refused
/// (400), so the presigned PUT cannot be used to host arbitrary content.
pub const ALLOWED_MIME_TYPES: [&str; 9] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "application/pdf",
];

/// A mime type from [`ALLOWED_MIME_TYPES`], lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MimeType(String);

impl MimeType {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let lower = raw.trim().to_ascii_lowercase();
        if ALLOWED_MIME_TYPES.contains(&lower.as_str()) {
            Ok(Self(lower))
        } else {
            Err(format!(
                "mimeType must be one of the following values: {}",
                ALLOWED_MIME_TYPES.join(", ")
            ))
        }
    }

    /// A stored value (already checked when it was created).
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Images the variation maker can decode (jpeg, png, webp). GIF and HEIC are kept
    /// as uploaded: no variations.
    pub fn has_variations(&self) -> bool {
        matches!(self.0.as_str(), "image/jpeg" | "image/png" | "image/webp")
    }
}

impl fmt::Display for MimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Image variations, as the spec's `variation` parameter names them. Each is the
/// original scaled down (aspect kept) to fit a square of [`Variation::max_side`] pixels;
/// an image already smaller is not enlarged. Stored beside the original under
/// `{s3Key}_{name}` as JPEG (PNG keeps its transparency).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Variation {
    /// 150 px.
    Thumbnail,
    /// 320 px.
    Small,
    /// 640 px.
    Medium,
    /// 1280 px.
    Large,
}

impl Variation {
    pub const ALL: [Variation; 4] = [Self::Thumbnail, Self::Small, Self::Medium, Self::Large];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Thumbnail => "thumbnail",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
        }
    }

    pub fn max_side(self) -> u32 {
        match self {
            Self::Thumbnail => 150,
            Self::Small => 320,
            Self::Medium => 640,
            Self::Large => 1280,
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == raw.trim())
            .ok_or_else(|| {
                "variation must be one of the following values: thumbnail, small, medium, large"
                    .to_string()
            })
    }

    /// Where this variation of the object at `key` is stored.
    pub fn key(self, key: &str) -> String {
        format!("{key}_{}", self.as_str())
    }

    /// The mime type of the stored variation: PNG stays PNG (transparency), the rest
    /// becomes JPEG.
    pub fn output_mime(original: &MimeType) -> &'static str {
        if original.as_str() == "image/png" {
            "image/png"
        } else {
            "image/jpeg"
        }
    }
}

/// `{ownerPersonUuid}/assets/{PARENT_TYPE}/{assetUuid}` (API.md).
pub fn s3_key(owner: Uuid, parent_type: ParentType, asset: Uuid) -> String {
    format!("{owner}/assets/{}/{asset}", parent_type.as_str())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub id: i64,
    pub uuid: Uuid,
    pub parent_type: ParentType,
    pub parent_uuid: Uuid,
    /// `None` once the owner's account is deleted (their chat attachments stay).
    pub owner_person_uuid: Option<Uuid>,
    pub s3_key: String,
    pub mime_type: MimeType,
    /// Variations already made and stored.
    pub variations: Vec<Variation>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAsset {
    pub uuid: Uuid,
    pub parent_type: ParentType,
    pub parent_uuid: Uuid,
    pub owner_person_id: i64,
    pub s3_key: String,
    pub mime_type: MimeType,
    pub at: Timestamp,
}

/// `POST /assets`, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateAsset {
    pub parent_type: ParentType,
    pub parent_uuid: Uuid,
    pub mime_type: MimeType,
}

/// `GET /assets`, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetQuery {
    pub parent_type: ParentType,
    pub parent_uuid: Uuid,
    pub variation: Option<Variation>,
}

/// What the service read about a parent, for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentFacts {
    /// No such parent.
    Missing,
    /// A person; `is_self` when it is the caller.
    Person { is_self: bool },
    /// A chat, or the chat a message is in.
    Chat { participant: bool },
    /// An experience the caller may (`visible`) or may not see by its visibility.
    Experience { visible: bool, is_author: bool },
    /// A listing: every signed-in user reads it.
    Listing { is_poster: bool },
}

/// What the caller wants to do with the parent's assets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetAction {
    /// Create an asset on the parent.
    Attach,
    /// List the parent's assets and download them.
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AssetRefusal {
    /// The parent does not exist or the caller may not know it does (404).
    #[error("{0} not found")]
    ParentNotFound(&'static str),
    /// The caller sees the parent but may not attach to it (403).
    #[error("Only {0} may attach assets here")]
    MayNotAttach(&'static str),
    #[error("Asset not found")]
    AssetNotFound,
    /// The caller sees the asset but it is not theirs (403).
    #[error("Only the owner may delete an asset")]
    NotOwner,
    #[error("Variation not found")]
    NoVariation,
}

fn parent_name(t: ParentType) -> &'static str {
    match t {
        ParentType::Person => "Person",
        ParentType::Chat => "Chat",
        ParentType::Message => "Message",
        ParentType::Experience => "Experience",
        ParentType::Listing => "Listing",
    }
}

/// The rule of who may attach and read, from API.md: PERSON (only yourself attaches; any
/// signed-in user reads), CHAT and MESSAGE (participants do both; others do not know the
/// chat exists), EXPERIENCE (the author attaches; readers by its visibility), LISTING
/// (the poster attaches; everyone signed in reads). An invisible parent is 404, a visible
/// one you may not change is 403. Messages get their assets by linking, never by attach.
pub fn decide(
    parent_type: ParentType,
    facts: ParentFacts,
    action: AssetAction,
) -> Result<(), AssetRefusal> {
    let hidden = AssetRefusal::ParentNotFound(parent_name(parent_type));
    let (visible, may_attach, who) = match facts {
        ParentFacts::Missing => return Err(hidden),
        ParentFacts::Person { is_self } => (true, is_self, "the person themself"),
        ParentFacts::Chat { participant } => (
            participant,
            participant && parent_type == ParentType::Chat,
            "participants, through the chat",
        ),
        ParentFacts::Experience { visible, is_author } => (visible, is_author, "the author"),
        ParentFacts::Listing { is_poster } => (true, is_poster, "the poster"),
    };
    match (visible, action) {
        (false, _) => Err(hidden),
        (true, AssetAction::Read) => Ok(()),
        (true, AssetAction::Attach) if may_attach => Ok(()),
        (true, AssetAction::Attach) => Err(AssetRefusal::MayNotAttach(who)),
    }
}

/// Deleting an asset: the caller must be able to read it (else 404) and own it (else 403).
pub fn decide_delete(readable: bool, is_owner: bool) -> Result<(), AssetRefusal> {
    match (readable, is_owner) {
        (false, _) => Err(AssetRefusal::AssetNotFound),
        (true, false) => Err(AssetRefusal::NotOwner),
        (true, true) => Ok(()),
    }
}

/// Why a message may not name an asset.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkRefusal {
    #[error("assetUuids must name assets uploaded to this chat by the sender")]
    NotSendersChatAsset,
}

/// A message may only name assets its sender uploaded to that chat (parent CHAT, the
/// same chat) that no message has taken yet. Re-sending the same message finds them
/// already on it (parent MESSAGE, this message), which is fine.
pub fn check_message_link(
    asset: Option<&Asset>,
    sender: Uuid,
    chat: Uuid,
    message: Uuid,
) -> Result<(), LinkRefusal> {
    match asset {
        Some(a) if a.owner_person_uuid == Some(sender) => {
            let ok = (a.parent_type == ParentType::Chat && a.parent_uuid == chat)
                || (a.parent_type == ParentType::Message && a.parent_uuid == message);
            if ok {
                Ok(())
            } else {
                Err(LinkRefusal::NotSendersChatAsset)
            }
        }
        _ => Err(LinkRefusal::NotSendersChatAsset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time;

    #[test]
    fn parses_parent_types_mime_types_and_variations() {
        assert_eq!(ParentType::parse("CHAT"), Ok(ParentType::Chat));
        assert!(ParentType::parse("chat").is_err());
        assert!(ParentType::parse("WALLET").is_err());
        assert_eq!(
            MimeType::parse("Image/JPEG").unwrap().as_str(),
            "image/jpeg"
        );
        assert!(MimeType::parse("text/html").is_err());
        assert!(MimeType::parse("application/x-sh").is_err());
        assert!(MimeType::parse("image/png").unwrap().has_variations());
        assert!(!MimeType::parse("application/pdf").unwrap().has_variations());
        assert!(!MimeType::parse("image/gif").unwrap().has_variations());
        assert_eq!(Variation::parse("thumbnail"), Ok(Variation::Thumbnail));
        assert!(Variation::parse("huge").is_err());
        assert_eq!(Variation::Small.key("a/b"), "a/b_small");
    }

    #[test]
    fn key_shape() {
        let (o, a) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            s3_key(o, ParentType::Listing, a),
            format!("{o}/assets/LISTING/{a}")
        );
    }

    #[test]
    fn access_matrix() {
        use AssetAction::*;
        use ParentFacts as F;
        use ParentType as P;
        let hidden = |n| Err(AssetRefusal::ParentNotFound(n));
        assert_eq!(decide(P::Person, F::Missing, Read), hidden("Person"));
        assert_eq!(
            decide(P::Person, F::Person { is_self: false }, Read),
            Ok(())
        );
        assert!(matches!(
            decide(P::Person, F::Person { is_self: false }, Attach),
            Err(AssetRefusal::MayNotAttach(_))
        ));
        assert_eq!(
            decide(P::Person, F::Person { is_self: true }, Attach),
            Ok(())
        );
        assert_eq!(
            decide(P::Chat, F::Chat { participant: false }, Read),
            hidden("Chat")
        );
        assert_eq!(
            decide(P::Chat, F::Chat { participant: false }, Attach),
            hidden("Chat")
        );
        assert_eq!(
            decide(P::Chat, F::Chat { participant: true }, Attach),
            Ok(())
        );
        assert_eq!(
            decide(P::Message, F::Chat { participant: true }, Read),
            Ok(())
        );
        assert!(matches!(
            decide(P::Message, F::Chat { participant: true }, Attach),
            Err(AssetRefusal::MayNotAttach(_))
        ));
        let exp = |visible, is_author| F::Experience { visible, is_author };
        assert_eq!(
            decide(P::Experience, exp(false, false), Read),
            hidden("Experience")
        );
        assert_eq!(decide(P::Experience, exp(true, false), Read), Ok(()));
        assert!(matches!(
            decide(P::Experience, exp(true, false), Attach),
            Err(AssetRefusal::MayNotAttach(_))
        ));
        assert_eq!(decide(P::Experience, exp(true, true), Attach), Ok(()));
        assert_eq!(
            decide(P::Listing, F::Listing { is_poster: false }, Read),
            Ok(())
        );
        assert!(matches!(
            decide(P::Listing, F::Listing { is_poster: false }, Attach),
            Err(AssetRefusal::MayNotAttach(_))
        ));
        assert_eq!(
            decide(P::Listing, F::Listing { is_poster: true }, Attach),
            Ok(())
        );
        assert_eq!(decide_delete(false, true), Err(AssetRefusal::AssetNotFound));
        assert_eq!(decide_delete(true, false), Err(AssetRefusal::NotOwner));
        assert_eq!(decide_delete(true, true), Ok(()));
    }

    #[test]
    fn message_links_only_the_senders_chat_assets() {
        let (sender, chat, message) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mk = |owner, parent_type, parent_uuid| Asset {
            id: 1,
            uuid: Uuid::new_v4(),
            parent_type,
            parent_uuid,
            owner_person_uuid: Some(owner),
            s3_key: "k".into(),
            mime_type: MimeType::from_stored("image/png".into()),
            variations: vec![],
            created_at: time::now(),
            updated_at: time::now(),
        };
        let ok = mk(sender, ParentType::Chat, chat);
        assert_eq!(check_message_link(Some(&ok), sender, chat, message), Ok(()));
        let linked = mk(sender, ParentType::Message, message);
        assert_eq!(
            check_message_link(Some(&linked), sender, chat, message),
            Ok(())
        );
        let refused = [
            mk(Uuid::new_v4(), ParentType::Chat, chat),
            mk(sender, ParentType::Chat, Uuid::new_v4()),
            mk(sender, ParentType::Person, sender),
            mk(sender, ParentType::Message, Uuid::new_v4()),
        ];
        for a in &refused {
            assert!(check_message_link(Some(a), sender, chat, message).is_err());
        }
        assert!(check_message_link(None, sender, chat, message).is_err());
    }
}
