//! Experiences (posts) and their reactions (likes and comments), and who may see them:
//!
//! - an experience: its owner always; everyone signed in when PUBLIC; the owner's
//!   contacts when CONTACT_ONLY ([`Visibility::visible_to`]);
//! - a reaction, on an experience the viewer can see: the experience's owner sees all of
//!   them; anyone else sees their own and their contacts' ([`ReactionScope`]).

use super::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const MAX_EXPERIENCE_CHARS: usize = 5000;
pub const MAX_COMMENT_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Visibility {
    Public,
    ContactOnly,
}

impl Visibility {
    pub const ALL: [Visibility; 2] = [Self::Public, Self::ContactOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::ContactOnly => "CONTACT_ONLY",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == raw)
            .ok_or_else(|| {
                "visibility must be one of the following values: PUBLIC, CONTACT_ONLY".into()
            })
    }

    /// Whether a viewer who is `relation` to the owner may see an experience with this
    /// visibility.
    pub fn visible_to(self, relation: Relation) -> bool {
        match (self, relation) {
            (_, Relation::Owner) => true,
            (Self::Public, _) => true,
            (Self::ContactOnly, Relation::Contact) => true,
            (Self::ContactOnly, Relation::Stranger) => false,
        }
    }
}

/// Who the viewer is to a person (here: an experience's owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Owner,
    Contact,
    Stranger,
}

impl Relation {
    pub const ALL: [Relation; 3] = [Self::Owner, Self::Contact, Self::Stranger];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReactionType {
    Comment,
    Like,
}

impl ReactionType {
    pub const ALL: [ReactionType; 2] = [Self::Comment, Self::Like];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Comment => "COMMENT",
            Self::Like => "LIKE",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| "reactionType must be one of the following values: COMMENT, LIKE".into())
    }
}

/// Which reactions of an experience a viewer (who can see the experience) sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionScope {
    /// The experience's owner: every reaction on it.
    All,
    /// Anyone else: their own reactions and their contacts'.
    OwnAndContacts,
}

impl ReactionScope {
    pub fn for_viewer(viewer_owns_experience: bool) -> Self {
        if viewer_owns_experience {
            Self::All
        } else {
            Self::OwnAndContacts
        }
    }

    /// Whether the viewer sees a reaction by someone who is `author` to them.
    pub fn shows(self, author: Relation) -> bool {
        match (self, author) {
            (Self::All, _) => true,
            (Self::OwnAndContacts, Relation::Owner | Relation::Contact) => true,
            (Self::OwnAndContacts, Relation::Stranger) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Experience {
    pub id: i64,
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub content: String,
    pub visibility: Visibility,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewExperience {
    pub uuid: Uuid,
    pub person_id: i64,
    pub content: String,
    pub visibility: Visibility,
    pub at: Timestamp,
}

/// `POST /experiences`, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct PostExperience {
    pub content: String,
    pub visibility: Visibility,
}

/// `POST /experiences/{uuid}/experience_reactions`, parsed at the edge: a LIKE (no
/// content) or a COMMENT (with its text), as `parse_reaction_content` decided.
#[derive(Debug, Clone, PartialEq)]
pub struct React {
    pub reaction_type: ReactionType,
    pub content: Option<String>,
}

/// The filters of `GET /experiences` (visibility is applied on top, always).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExperienceFilter {
    /// Inclusive.
    pub created_at_start: Option<Timestamp>,
    /// Inclusive.
    pub created_at_end: Option<Timestamp>,
    /// Only this poster's experiences.
    pub person_uuid: Option<Uuid>,
}

impl ExperienceFilter {
    pub fn matches(&self, e: &Experience) -> bool {
        self.created_at_start.is_none_or(|t| e.created_at >= t)
            && self.created_at_end.is_none_or(|t| e.created_at <= t)
            && self.person_uuid.is_none_or(|p| e.person_uuid == p)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub id: i64,
    pub uuid: Uuid,
    pub person_id: i64,
    pub person_uuid: Uuid,
    pub experience_id: i64,
    pub experience_uuid: Uuid,
    pub reaction_type: ReactionType,
    /// A comment's text; `None` for a like.
    pub content: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewReaction {
    pub uuid: Uuid,
    pub person_id: i64,
    pub experience_id: i64,
    pub reaction_type: ReactionType,
    pub content: Option<String>,
    pub at: Timestamp,
}

/// An experience's text: required, at most [`MAX_EXPERIENCE_CHARS`].
pub fn parse_experience_content(raw: Option<&str>) -> Result<String, String> {
    match raw.map(str::trim) {
        None | Some("") => Err("content must not be empty".into()),
        Some(s) if s.chars().count() > MAX_EXPERIENCE_CHARS => Err(format!(
            "content must be at most {MAX_EXPERIENCE_CHARS} characters"
        )),
        Some(s) => Ok(s.to_string()),
    }
}

/// A reaction's content for its type: a COMMENT needs text (at most
/// [`MAX_COMMENT_CHARS`]); a LIKE carries none.
pub fn parse_reaction_content(
    reaction_type: ReactionType,
    raw: Option<&str>,
) -> Result<Option<String>, String> {
    let text = raw.map(str::trim).filter(|s| !s.is_empty());
    match (reaction_type, text) {
        (ReactionType::Comment, None) => Err("content must not be empty for a COMMENT".into()),
        (ReactionType::Comment, Some(s)) if s.chars().count() > MAX_COMMENT_CHARS => Err(format!(
            "content must be at most {MAX_COMMENT_CHARS} characters"
        )),
        (ReactionType::Comment, Some(s)) => Ok(Some(s.to_string())),
        (ReactionType::Like, None) => Ok(None),
        (ReactionType::Like, Some(_)) => Err("content must be empty for a LIKE".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_matrix() {
        use Relation::*;
        use Visibility::*;
        for v in Visibility::ALL {
            for r in Relation::ALL {
                let expected = matches!((v, r), (_, Owner) | (Public, _) | (ContactOnly, Contact));
                assert_eq!(v.visible_to(r), expected, "{v:?} to {r:?}");
            }
        }
        assert!(!ContactOnly.visible_to(Stranger));
        assert!(Public.visible_to(Stranger));
    }

    #[test]
    fn reaction_scope_matrix() {
        use Relation::*;
        assert_eq!(ReactionScope::for_viewer(true), ReactionScope::All);
        assert_eq!(
            ReactionScope::for_viewer(false),
            ReactionScope::OwnAndContacts
        );
        for r in Relation::ALL {
            assert!(
                ReactionScope::All.shows(r),
                "the owner sees {r:?}'s reactions"
            );
        }
        assert!(ReactionScope::OwnAndContacts.shows(Owner), "own reactions");
        assert!(ReactionScope::OwnAndContacts.shows(Contact));
        assert!(!ReactionScope::OwnAndContacts.shows(Stranger));
    }

    #[test]
    fn enums_parse_as_spelled() {
        for v in Visibility::ALL {
            assert_eq!(Visibility::parse(v.as_str()), Ok(v));
        }
        for t in ReactionType::ALL {
            assert_eq!(ReactionType::parse(t.as_str()), Ok(t));
        }
        assert!(Visibility::parse("public").is_err());
        assert_eq!(
            ReactionType::parse("LOVE").unwrap_err(),
            "reactionType must be one of the following values: COMMENT, LIKE"
        );
    }

    #[test]
    fn contents() {
        assert_eq!(
            parse_experience_content(Some("  My post ")).unwrap(),
            "My post"
        );
        assert!(parse_experience_content(None).is_err());
        assert!(parse_experience_content(Some("   ")).is_err());
        assert!(parse_experience_content(Some(&"x".repeat(MAX_EXPERIENCE_CHARS))).is_ok());
        assert!(parse_experience_content(Some(&"x".repeat(MAX_EXPERIENCE_CHARS + 1))).is_err());

        use ReactionType::*;
        assert_eq!(
            parse_reaction_content(Comment, Some("Clay 2"))
                .unwrap()
                .as_deref(),
            Some("Clay 2")
        );
        assert_eq!(
            parse_reaction_content(Comment, Some(" ")).unwrap_err(),
            "content must not be empty for a COMMENT"
        );
        assert!(parse_reaction_content(Comment, None).is_err());
        assert!(parse_reaction_content(Comment, Some(&"x".repeat(MAX_COMMENT_CHARS + 1))).is_err());
        assert_eq!(parse_reaction_content(Like, None).unwrap(), None);
        assert_eq!(parse_reaction_content(Like, Some("")).unwrap(), None);
        assert_eq!(
            parse_reaction_content(Like, Some("yay")).unwrap_err(),
            "content must be empty for a LIKE"
        );
    }

    #[test]
    fn filter_bounds_are_inclusive() {
        let t = chrono::Utc::now();
        let owner = Uuid::new_v4();
        let e = Experience {
            id: 1,
            uuid: Uuid::nil(),
            person_id: 1,
            person_uuid: owner,
            content: "x".into(),
            visibility: Visibility::Public,
            created_at: t,
            updated_at: t,
        };
        let f = ExperienceFilter {
            created_at_start: Some(t),
            created_at_end: Some(t),
            person_uuid: Some(owner),
        };
        assert!(f.matches(&e));
        let later = ExperienceFilter {
            created_at_start: Some(t + chrono::TimeDelta::milliseconds(1)),
            ..Default::default()
        };
        assert!(!later.matches(&e));
        let other = ExperienceFilter {
            person_uuid: Some(Uuid::new_v4()),
            ..Default::default()
        };
        assert!(!other.matches(&e));
    }
}
