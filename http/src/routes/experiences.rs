//! `/experiences`: posts (PUBLIC or CONTACT_ONLY) and their reactions (likes and
//! comments). An experience the caller may not see answers 404, for its reactions too.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::experiences::{
    CreateExperienceDto, CreateExperienceReactionDto, ExperienceQuery, ExperienceReactionView,
    ExperienceReactionsPage, ExperienceView, ExperiencesPage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(create_reaction)
        .service(list_reactions)
        .service(delete_reaction)
        .service(find_one)
        .service(remove);
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateExperienceDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let experience = state
        .engine
        .experiences
        .create(&caller, body.into_inner())
        .await?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ExperienceListQuery>,
) -> ApiResult<web::Json<ExperiencesPage>> {
    let state = state(&req)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let filters = ExperienceQuery {
        created_at_start: q.created_at_start.as_deref(),
        created_at_end: q.created_at_end.as_deref(),
        person_uuid: q.person_uuid.as_deref(),
    };
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ExperienceView>> {
    let state = state(&req)?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<CreateExperienceReactionDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let experience_uuid = parse_uuid("experienceUuid", &path)?;
    let (reaction, created) = state
        .engine
        .experiences
        .react(&caller, experience_uuid, body.into_inner())
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    query: web::Query<ReactionListQuery>,
) -> ApiResult<web::Json<ExperienceReactionsPage>> {
    let state = state(&req)?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
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
