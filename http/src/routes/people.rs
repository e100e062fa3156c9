//! `/people`: the caller's profile, other people's profiles, search, and the INTERNAL
//! create used by sign-up. The bodies are parsed here into the domain's commands
//! (`CreatePerson`, `PersonFields`, `PersonPatch`); the service never sees a raw string.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, Internal, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::people::{
    CreatePerson, Email, PersonFields, PersonPatch, ProfileField, Username,
};
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::double_option;
use metmos_engine::services::people::{Closeness, PersonView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/people/me` before `/people/{uuid}`: the first matching route wins.
    cfg.service(my_person)
        .service(update_my_person)
        .service(create_person)
        .service(search)
        .service(find_one);
}

/// A person's sign-up fields: the body of `POST /dev/users`, and (with `accountUuid`)
/// of `POST /people`. Unknown fields are refused where it is the whole body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PersonDetails {
    pub username: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub contact_number: Option<String>,
    pub birth_date: Option<String>,
    pub location: Option<String>,
    pub bio: Option<String>,
}

impl PersonDetails {
    /// Parses every field, recording each problem; `None` when any field failed. The
    /// caller reports the problems (with its own before them, as `accountUuid`).
    fn parse(&self, problems: &mut Problems) -> Option<PersonFields> {
        let username = problems.check(Username::parse(&self.username));
        let email = problems.check(Email::parse(&self.email));
        let mut field =
            |f: ProfileField, value: &Option<String>| problems.check(f.parse(value.as_deref()));
        let first_name = field(ProfileField::FirstName, &self.first_name);
        let last_name = field(ProfileField::LastName, &self.last_name);
        let contact_number = field(ProfileField::ContactNumber, &self.contact_number);
        let birth_date = field(ProfileField::BirthDate, &self.birth_date);
        let location = field(ProfileField::Location, &self.location);
        let bio = field(ProfileField::Bio, &self.bio);
        Some(PersonFields {
            username: username?,
            email: email?,
            first_name: first_name?,
            last_name: last_name?,
            contact_number: contact_number?,
            birth_date: birth_date?,
            location: location?,
            bio: bio?,
        })
    }
}

impl TryFrom<PersonDetails> for PersonFields {
    type Error = Error;
    fn try_from(dto: PersonDetails) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let fields = dto.parse(&mut problems);
        problems.finish_with(fields)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePersonDto {
    pub account_uuid: String,
    #[serde(flatten)]
    pub person: PersonDetails,
}

impl TryFrom<CreatePersonDto> for CreatePerson {
    type Error = Error;
    fn try_from(dto: CreatePersonDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let account_uuid = problems.check(
            Uuid::parse_str(dto.account_uuid.trim())
                .map_err(|_| "accountUuid must be a UUID".to_string()),
        );
        let person = dto.person.parse(&mut problems);
        let cmd = account_uuid
            .zip(person)
            .map(|(account_uuid, person)| CreatePerson {
                account_uuid,
                person,
            });
        problems.finish_with(cmd)
    }
}

/// The fields a person may change; anything else in the body is refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePersonDto {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub contact_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "1981-11-29")]
    pub birth_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    /// false: send no read receipts and see nobody's (one's own devices still sync).
    #[serde(default)]
    pub read_receipts: Option<bool>,
}

impl TryFrom<UpdatePersonDto> for PersonPatch {
    type Error = Error;
    fn try_from(dto: UpdatePersonDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        // `Some(None)` (an explicit null, or text that trims to nothing) clears the field.
        let mut field = |f: ProfileField, v: Option<Option<String>>| {
            v.map(|inner| problems.check(f.parse(inner.as_deref())).flatten())
        };
        let patch = PersonPatch {
            first_name: field(ProfileField::FirstName, dto.first_name),
            last_name: field(ProfileField::LastName, dto.last_name),
            contact_number: field(ProfileField::ContactNumber, dto.contact_number),
            birth_date: field(ProfileField::BirthDate, dto.birth_date),
            location: field(ProfileField::Location, dto.location),
            bio: field(ProfileField::Bio, dto.bio),
            read_receipts: dto.read_receipts,
        };
        problems.finish()?;
        Ok(patch)
    }
}

/// `{"people": [...], "after": cursor}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeoplePage {
    pub people: Vec<PersonView>,
    pub after: Option<i64>,
}

/// INTERNAL: creates the person of an account (sign-up).
#[utoipa::path(
    tag = "people",
    security(("internal" = [])),
    request_body = CreatePersonDto,
    responses(
        (status = 201, body = PersonView),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Username or email taken, or the account has a person", body = ErrorBody)
    )
)]
#[post("/people")]
async fn create_person(
    state: web::Data<AppState>,
    _: Internal,
    body: web::Json<CreatePersonDto>,
) -> ApiResult<HttpResponse> {
    let cmd = CreatePerson::try_from(body.into_inner())?;
    let person = state.engine.people.create_person(cmd).await?;
    Ok(HttpResponse::Created().json(PersonView::new(&person, Closeness::Myself)))
}

/// The caller's person, every field included.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    responses((status = 200, body = PersonView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/people/me")]
async fn my_person(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
) -> ApiResult<web::Json<PersonView>> {
    let me = caller.person()?;
    let mut view = PersonView::new(me, Closeness::Myself);
    view.read_receipts = Some(state.engine.read_state.receipts(me.id).await?);
    Ok(web::Json(view))
}

/// Updates the caller's profile. Only the listed fields; `null` clears one; any other
/// field is refused with 400.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    request_body = UpdatePersonDto,
    responses((status = 200, body = PersonView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[patch("/people/me")]
async fn update_my_person(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<UpdatePersonDto>,
) -> ApiResult<web::Json<PersonView>> {
    // A caller without a person is 404 before the body is looked at, as before.
    caller.person()?;
    let patch = PersonPatch::try_from(body.into_inner())?;
    let person = state.engine.people.update_me(&caller, patch).await?;
    let mut view = PersonView::new(&person, Closeness::Myself);
    view.read_receipts = Some(state.engine.read_state.receipts(person.id).await?);
    Ok(web::Json(view))
}

/// Paging parameters of every list (`after` absent, -1 or 0 = first page).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Names and username by substring; email and contact number by exact match.
    q: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

/// Searches people. An exact username match comes first; results never show email or
/// contact number, even when they matched.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    params(SearchQuery),
    responses((status = 200, body = PeoplePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/people")]
async fn search(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<SearchQuery>,
) -> ApiResult<web::Json<PeoplePage>> {
    let query = query.into_inner();
    let page = PageRequest::parse_or_400(query.limit.as_deref(), query.after.as_deref())?;
    let page = state.engine.people.search(&caller, query.q, page).await?;
    Ok(web::Json(PeoplePage {
        people: page.items,
        after: page.after,
    }))
}

/// A person. `email` and `contactNumber` only for the person themself and their contacts.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Person uuid")),
    responses((status = 200, body = PersonView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/people/{uuid}")]
async fn find_one(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<PersonView>> {
    let uuid = parse_uuid("uuid", &path)?;
    Ok(web::Json(state.engine.people.view(&caller, uuid).await?))
}
