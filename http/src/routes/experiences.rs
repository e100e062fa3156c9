//! `/experiences`: posts (PUBLIC or CONTACT_ONLY) and their reactions (likes and
//! comments). An experience the caller may not see answers 404, for its reactions too.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::experiences::{
    self, Experience, ExperienceFilter, PostExperience, React, Reaction, ReactionType, Visibility,
};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::{Error, Problems};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(create_reaction)
        .service(list_reactions)
        .service(delete_reaction)
        .service(find_one)
        .service(remove);
}

fn non_empty(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateExperienceDto {
    /// The experience's text.
    pub content: Option<String>,
    #[schema(example = "CONTACT_ONLY")]
    pub visibility: Option<String>,
}

impl TryFrom<CreateExperienceDto> for PostExperience {
    type Error = Error;
    fn try_from(dto: CreateExperienceDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let content = problems.check(experiences::parse_experience_content(
            dto.content.as_deref(),
        ));
        let visibility = match non_empty(dto.visibility.as_deref()) {
            None => {
                problems
                    .push("visibility must be one of the following values: PUBLIC, CONTACT_ONLY");
                None
            }
            Some(raw) => problems.check(Visibility::parse(raw)),
        };
        let cmd = content
            .zip(visibility)
            .map(|(content, visibility)| PostExperience {
                content,
                visibility,
            });
        problems.finish_with(cmd)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateExperienceReactionDto {
    #[schema(example = "COMMENT")]
    pub reaction_type: Option<String>,
    /// A comment's text (required for COMMENT, absent for LIKE).
    pub content: Option<String>,
}

impl TryFrom<CreateExperienceReactionDto> for React {
    type Error = Error;
    fn try_from(dto: CreateExperienceReactionDto) -> Result<Self, Error> {
        let reaction_type = match non_empty(dto.reaction_type.as_deref()) {
            None => Err("reactionType must be one of the following values: COMMENT, LIKE".into()),
            Some(raw) => ReactionType::parse(raw),
        }
        .map_err(Error::validation)?;
        let content = experiences::parse_reaction_content(reaction_type, dto.content.as_deref())
            .map_err(Error::validation)?;
        Ok(Self {
            reaction_type,
            content,
        })
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceView {
    pub uuid: Uuid,
    /// The poster.
    pub person_uuid: Uuid,
    pub content: String,
    pub visibility: Visibility,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Experience> for ExperienceView {
    fn from(e: &Experience) -> Self {
        Self {
            uuid: e.uuid,
            person_uuid: e.person_uuid,
            content: e.content.clone(),
            visibility: e.visibility,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperiencesPage {
    pub experiences: Vec<ExperienceView>,
    pub after: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceReactionView {
    pub uuid: Uuid,
    pub experience_uuid: Uuid,
    /// The author.
    pub person_uuid: Uuid,
    pub reaction_type: ReactionType,
    /// A comment's text; null for a like.
    pub content: Option<String>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Reaction> for ExperienceReactionView {
    fn from(r: &Reaction) -> Self {
        Self {
            uuid: r.uuid,
            experience_uuid: r.experience_uuid,
            person_uuid: r.person_uuid,
            reaction_type: r.reaction_type,
            content: r.content.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceReactionsPage {
    pub experience_reactions: Vec<ExperienceReactionView>,
    pub after: Option<i64>,
}

/// Posts an experience. Assets are attached afterwards with `POST /assets`.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateExperienceDto,
    responses(
        (status = 201, body = ExperienceView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
#[post("/experiences")]
async fn create(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateExperienceDto>,
) -> ApiResult<HttpResponse> {
    let cmd = PostExperience::try_from(body.into_inner())?;
    let experience = state.engine.experiences.create(&caller, cmd).await?;
    Ok(HttpResponse::Created().json(ExperienceView::from(&experience)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceListQuery {
    /// ISO 8601 date or date-time, inclusive.
    created_at_start: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    created_at_end: Option<String>,
    /// Only this poster's experiences (those the caller may see).
    person_uuid: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page (absent, -1 or 0: first page).
    after: Option<String>,
}

impl TryFrom<&ExperienceListQuery> for ExperienceFilter {
    type Error = Error;
    fn try_from(q: &ExperienceListQuery) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let filter = ExperienceFilter {
            created_at_start: non_empty(q.created_at_start.as_deref())
                .and_then(|t| problems.check(time::parse("createdAtStart", t))),
            created_at_end: non_empty(q.created_at_end.as_deref())
                .and_then(|t| problems.check(time::parse("createdAtEnd", t))),
            person_uuid: non_empty(q.person_uuid.as_deref()).and_then(|u| {
                problems
                    .check(Uuid::parse_str(u).map_err(|_| "personUuid must be a UUID".to_string()))
            }),
        };
        if let (Some(start), Some(end)) = (filter.created_at_start, filter.created_at_end)
            && start > end
        {
            problems.push("createdAtStart must not be after createdAtEnd");
        }
        problems.finish_with(Some(filter))
    }
}

/// The experiences the caller may see (their own, public ones, and their contacts'
/// contact-only ones), newest first.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(ExperienceListQuery),
    responses((status = 200, body = ExperiencesPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/experiences")]
async fn list(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ExperienceListQuery>,
) -> ApiResult<web::Json<ExperiencesPage>> {
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let filters = ExperienceFilter::try_from(&q)?;
    let page = state
        .engine
        .experiences
        .list(&caller, filters, page)
        .await?;
    Ok(web::Json(ExperiencesPage {
        experiences: page.items.iter().map(ExperienceView::from).collect(),
        after: page.after,
    }))
}

/// An experience the caller may see.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Experience uuid")),
    responses(
        (status = 200, body = ExperienceView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such experience, or not visible to the caller", body = ErrorBody)
    )
)]
#[get("/experiences/{uuid}")]
async fn find_one(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ExperienceView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let experience = state.engine.experiences.get(&caller, uuid).await?;
    Ok(web::Json(ExperienceView::from(&experience)))
}

/// Deletes the caller's experience with its reactions and assets.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Experience uuid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Visible, but not the caller's", body = ErrorBody),
        (status = 404, description = "No such experience, or not visible to the caller", body = ErrorBody)
    )
)]
#[delete("/experiences/{uuid}")]
async fn remove(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid("uuid", &path)?;
    state.engine.experiences.delete(&caller, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reacts to an experience the caller can see: a COMMENT (with `content`) or a LIKE.
/// Liking is idempotent: the first like answers 201, repeating it answers 200 with the
/// same like (so a retry never makes a second one).
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(("experienceUuid" = String, Path, description = "Experience uuid")),
    request_body = CreateExperienceReactionDto,
    responses(
        (status = 201, description = "Created", body = ExperienceReactionView),
        (status = 200, description = "The caller's existing like (a repeated LIKE)", body = ExperienceReactionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such experience, or not visible to the caller", body = ErrorBody)
    )
)]
#[post("/experiences/{experienceUuid}/experience_reactions")]
async fn create_reaction(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<CreateExperienceReactionDto>,
) -> ApiResult<HttpResponse> {
    let experience_uuid = parse_uuid("experienceUuid", &path)?;
    let cmd = React::try_from(body.into_inner())?;
    let (reaction, created) = state
        .engine
        .experiences
        .react(&caller, experience_uuid, cmd)
        .await?;
    let view = ExperienceReactionView::from(&reaction);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReactionListQuery {
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page (absent, -1 or 0: first page).
    after: Option<String>,
}

/// The reactions of an experience the caller can see: all of them for its poster; the
/// caller's own and their contacts' for anyone else. Newest first.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(("experienceUuid" = String, Path, description = "Experience uuid"), ReactionListQuery),
    responses(
        (status = 200, body = ExperienceReactionsPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such experience, or not visible to the caller", body = ErrorBody)
    )
)]
#[get("/experiences/{experienceUuid}/experience_reactions")]
async fn list_reactions(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    query: web::Query<ReactionListQuery>,
) -> ApiResult<web::Json<ExperienceReactionsPage>> {
    let experience_uuid = parse_uuid("experienceUuid", &path)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .experiences
        .reactions(&caller, experience_uuid, page)
        .await?;
    Ok(web::Json(ExperienceReactionsPage {
        experience_reactions: page
            .items
            .iter()
            .map(ExperienceReactionView::from)
            .collect(),
        after: page.after,
    }))
}

/// Deletes the caller's own reaction.
#[utoipa::path(
    tag = "experiences",
    security(("bearer" = []), ("gateway" = [])),
    params(
        ("experienceUuid" = String, Path, description = "Experience uuid"),
        ("uuid" = String, Path, description = "Reaction uuid")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Visible to the caller, but not theirs", body = ErrorBody),
        (status = 404, description = "No such reaction on this experience, or not visible to the caller", body = ErrorBody)
    )
)]
#[delete("/experiences/{experienceUuid}/experience_reactions/{uuid}")]
async fn delete_reaction(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (experience, reaction) = path.into_inner();
    let experience_uuid = parse_uuid("experienceUuid", &experience)?;
    let reaction_uuid = parse_uuid("uuid", &reaction)?;
    state
        .engine
        .experiences
        .delete_reaction(&caller, experience_uuid, reaction_uuid)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
