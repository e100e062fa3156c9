//! `POST /assets`, `GET /assets`, `DELETE /assets/{uuid}`: the wire side of assets. DTOs
//! are parsed here into the domain's commands (`CreateAsset`, `AssetQuery`); the
//! service never sees a raw string.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::assets::{
    Asset, AssetQuery, CreateAsset, MimeType, ParentType, Variation,
};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::assets::{AssetCreated, AssetDownload};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(list).service(remove);
}

fn required<'a>(p: &mut Problems, field: &str, raw: &'a Option<String>) -> Option<&'a str> {
    match raw.as_deref() {
        None => {
            p.push(format!("{field} is required"));
            None
        }
        Some(s) => Some(s),
    }
}

fn uuid_field(field: &str, raw: &str) -> Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| format!("{field} must be a UUID"))
}

/// `POST /assets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAssetDto {
    /// PERSON, CHAT, MESSAGE, EXPERIENCE or LISTING.
    #[schema(example = "CHAT")]
    pub parent_type: Option<String>,
    /// The uuid of the parent the asset is attached to.
    pub parent_uuid: Option<String>,
    /// One of: image/jpeg, image/png, image/webp, image/gif, image/heic, video/mp4,
    /// video/quicktime, video/webm, application/pdf.
    #[schema(example = "image/jpeg")]
    pub mime_type: Option<String>,
}

impl TryFrom<CreateAssetDto> for CreateAsset {
    type Error = Error;
    fn try_from(dto: CreateAssetDto) -> Result<Self, Error> {
        let mut p = Problems::new();
        let parent_type = required(&mut p, "parentType", &dto.parent_type)
            .and_then(|raw| p.check(ParentType::parse(raw)));
        let parent_uuid = required(&mut p, "parentUuid", &dto.parent_uuid)
            .and_then(|raw| p.check(uuid_field("parentUuid", raw)));
        let mime_type = required(&mut p, "mimeType", &dto.mime_type)
            .and_then(|raw| p.check(MimeType::parse(raw)));
        p.finish()?;
        match (parent_type, parent_uuid, mime_type) {
            (Some(parent_type), Some(parent_uuid), Some(mime_type)) => Ok(CreateAsset {
                parent_type,
                parent_uuid,
                mime_type,
            }),
            _ => Err(Error::Internal("parsed fields missing".into())),
        }
    }
}

/// `GET /assets` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct AssetQueryDto {
    /// PERSON, CHAT, MESSAGE, EXPERIENCE or LISTING.
    parent_type: Option<String>,
    /// The parent's uuid.
    parent_uuid: Option<String>,
    /// thumbnail (150 px), small (320), medium (640) or large (1280): the image scaled
    /// to fit that square, never enlarged. Images (jpeg, png, webp) only.
    variation: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

impl TryFrom<&AssetQueryDto> for AssetQuery {
    type Error = Error;
    fn try_from(q: &AssetQueryDto) -> Result<Self, Error> {
        let mut p = Problems::new();
        let parent_type = required(&mut p, "parentType", &q.parent_type)
            .and_then(|raw| p.check(ParentType::parse(raw)));
        let parent_uuid = required(&mut p, "parentUuid", &q.parent_uuid)
            .and_then(|raw| p.check(uuid_field("parentUuid", raw)));
        let variation = match q.variation.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => p.check(Variation::parse(raw)),
        };
        p.finish()?;
        match (parent_type, parent_uuid) {
            (Some(parent_type), Some(parent_uuid)) => Ok(AssetQuery {
                parent_type,
                parent_uuid,
                variation,
            }),
            _ => Err(Error::Internal("parsed fields missing".into())),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetView {
    pub uuid: Uuid,
    pub parent_type: ParentType,
    pub parent_uuid: Uuid,
    /// None once the owner's account is deleted (their chat attachments stay).
    pub owner_person_uuid: Option<Uuid>,
    /// `{ownerPersonUuid}/assets/{PARENT_TYPE}/{assetUuid}` (the key at upload time).
    pub s3_key: String,
    pub mime_type: String,
    /// Variations already made.
    pub variations: Vec<Variation>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Asset> for AssetView {
    fn from(a: &Asset) -> Self {
        Self {
            uuid: a.uuid,
            parent_type: a.parent_type,
            parent_uuid: a.parent_uuid,
            owner_person_uuid: a.owner_person_uuid,
            s3_key: a.s3_key.clone(),
            mime_type: a.mime_type.to_string(),
            variations: a.variations.clone(),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// `POST /assets` answer: the asset and where to PUT its bytes (with `Content-Type`
/// equal to its `mimeType`) before the URL expires.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAssetView {
    #[serde(flatten)]
    pub asset: AssetView,
    pub presigned_upload_url: String,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub presigned_upload_url_expiration: Timestamp,
}

/// A listed asset with a short-lived download URL (of the variation asked for).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadAssetView {
    #[serde(flatten)]
    pub asset: AssetView,
    pub presigned_download_url: String,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub presigned_download_url_expiration: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssetsPage {
    pub assets: Vec<DownloadAssetView>,
    pub after: Option<i64>,
}

impl From<&AssetCreated> for CreatedAssetView {
    fn from(c: &AssetCreated) -> Self {
        Self {
            asset: AssetView::from(&c.asset),
            presigned_upload_url: c.upload.url.clone(),
            presigned_upload_url_expiration: c.upload.expires_at,
        }
    }
}

impl From<&AssetDownload> for DownloadAssetView {
    fn from(d: &AssetDownload) -> Self {
        Self {
            asset: AssetView::from(&d.asset),
            presigned_download_url: d.download.url.clone(),
            presigned_download_url_expiration: d.download.expires_at,
        }
    }
}

/// Creates an asset on a parent the caller may attach to, and answers a presigned PUT.
#[utoipa::path(
    tag = "assets",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateAssetDto,
    responses(
        (status = 201, body = CreatedAssetView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "the parent is visible but not yours to attach to"),
        (status = 404, body = ErrorBody, description = "no such parent, or one you may not see")
    )
)]
#[post("/assets")]
async fn create(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateAssetDto>,
) -> ApiResult<HttpResponse> {
    let cmd = CreateAsset::try_from(body.into_inner())?;
    let created = state.engine.assets.create(&caller, cmd).await?;
    Ok(HttpResponse::Created().json(CreatedAssetView::from(&created)))
}

/// A parent's assets, newest first, with presigned downloads valid for
/// `presignedDownloadUrlExpiration` (60 minutes by default).
#[utoipa::path(
    tag = "assets",
    security(("bearer" = []), ("gateway" = [])),
    params(AssetQueryDto),
    responses(
        (status = 200, body = AssetsPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such parent, one you may not see, or no asset of it has the variation")
    )
)]
#[get("/assets")]
async fn list(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<AssetQueryDto>,
) -> ApiResult<web::Json<AssetsPage>> {
    let q = query.into_inner();
    let (parsed, page) = match (
        AssetQuery::try_from(&q),
        PageRequest::parse(q.limit.as_deref(), q.after.as_deref()),
    ) {
        (Ok(parsed), Ok(page)) => (parsed, page),
        (Err(Error::Validation(mut a)), Err(b)) => {
            a.extend(b);
            return Err(ApiError(Error::Validation(a)));
        }
        (Err(e), _) => return Err(e.into()),
        (_, Err(b)) => return Err(ApiError(Error::Validation(b))),
    };
    let page = state.engine.assets.list(&caller, parsed, page).await?;
    Ok(web::Json(AssetsPage {
        assets: page.items.iter().map(DownloadAssetView::from).collect(),
        after: page.after,
    }))
}

/// Deletes an asset and its stored bytes (the owner only).
#[utoipa::path(
    tag = "assets",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Asset uuid")),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the owner"),
        (status = 404, body = ErrorBody)
    )
)]
#[delete("/assets/{uuid}")]
async fn remove(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = uuid_field("uuid", &path).map_err(Error::validation)?;
    state.engine.assets.delete(&caller, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}
