//! Assets: `POST /assets` makes the row and hands back a presigned PUT; `GET /assets`
//! lists a parent's assets with presigned downloads (of a variation when asked, made on
//! first request); `DELETE /assets/{uuid}` removes row and objects. Who may do what is
//! `domain::assets::decide`, fed with what this service reads about the parent.

use crate::domain::assets::{
    self, Asset, AssetAction, AssetQuery, AssetRefusal, CreateAsset, MimeType, NewAsset,
    ParentFacts, ParentType, Variation,
};
use crate::domain::experiences::Relation;
use crate::domain::people::Person;
use crate::domain::time;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::ports::{BlobError, Blobs, PresignedUrl, Store};
use crate::services::people::Caller;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Images larger than this on either side are not decoded for variations (a
/// decompression bomb would otherwise take the memory of the whole engine).
const MAX_SOURCE_SIDE: u32 = 12_000;
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

impl From<AssetRefusal> for Error {
    fn from(r: AssetRefusal) -> Self {
        match r {
            AssetRefusal::ParentNotFound(_)
            | AssetRefusal::AssetNotFound
            | AssetRefusal::NoVariation => Error::NotFound(r.to_string()),
            AssetRefusal::MayNotAttach(_) | AssetRefusal::NotOwner => {
                Error::Forbidden(r.to_string())
            }
        }
    }
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Unavailable(m) => Error::Unavailable(m),
            BlobError::Internal(m) => Error::Internal(m),
        }
    }
}

/// A created asset and where to upload its bytes.
#[derive(Debug, Clone)]
pub struct AssetCreated {
    pub asset: Asset,
    pub upload: PresignedUrl,
}

/// A listed asset and where to download it (the variation asked for, or the original).
#[derive(Debug, Clone)]
pub struct AssetDownload {
    pub asset: Asset,
    pub download: PresignedUrl,
}

#[derive(Clone)]
pub struct AssetService {
    store: Arc<dyn Store>,
    blobs: Arc<dyn Blobs>,
    upload_ttl: Duration,
    download_ttl: Duration,
}

impl AssetService {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn Blobs>,
        upload_ttl: Duration,
        download_ttl: Duration,
    ) -> Self {
        Self {
            store,
            blobs,
            upload_ttl,
            download_ttl,
        }
    }

    pub fn blobs(&self) -> &Arc<dyn Blobs> {
        &self.blobs
    }

    /// What `me` is to the parent: the facts `assets::decide` needs.
    async fn parent_facts(
        &self,
        me: &Person,
        parent_type: ParentType,
        parent_uuid: Uuid,
    ) -> Result<ParentFacts> {
        Ok(match parent_type {
            ParentType::Person => match self.store.person_by_uuid(parent_uuid).await? {
                None => ParentFacts::Missing,
                Some(p) => ParentFacts::Person {
                    is_self: p.id == me.id,
                },
            },
            ParentType::Chat => match self.store.chat_by_uuid(parent_uuid).await? {
                None => ParentFacts::Missing,
                Some(chat) => ParentFacts::Chat {
                    participant: self.store.is_participant(chat.id, me.id).await?,
                },
            },
            ParentType::Message => match self.store.message_chat_id(parent_uuid).await? {
                None => ParentFacts::Missing,
                Some(chat_id) => ParentFacts::Chat {
                    participant: self.store.is_participant(chat_id, me.id).await?,
                },
            },
            ParentType::Experience => match self.store.experience_by_uuid(parent_uuid).await? {
                None => ParentFacts::Missing,
                Some(e) => {
                    let relation = if e.person_id == me.id {
                        Relation::Owner
                    } else if self.store.are_contacts(me.id, e.person_id).await? {
                        Relation::Contact
                    } else {
                        Relation::Stranger
                    };
                    ParentFacts::Experience {
                        visible: e.visibility.visible_to(relation),
                        is_author: relation == Relation::Owner,
                    }
                }
            },
            ParentType::Listing => match self.store.listing_by_uuid(parent_uuid).await? {
                None => ParentFacts::Missing,
                Some(l) => ParentFacts::Listing {
                    is_poster: l.person_uuid == me.uuid,
                },
            },
        })
    }

    /// `POST /assets`: the row, then a presigned PUT for its key and mime type.
    #[tracing::instrument(name = "assets.create", skip_all, fields(parent_type = cmd.parent_type.as_str(), parent = %cmd.parent_uuid))]
    pub async fn create(&self, caller: &Caller, cmd: CreateAsset) -> Result<AssetCreated> {
        let me = caller.person()?;
        let facts = self
            .parent_facts(me, cmd.parent_type, cmd.parent_uuid)
            .await?;
        assets::decide(cmd.parent_type, facts, AssetAction::Attach)?;
        let uuid = Uuid::new_v4();
        let asset = self
            .store
            .insert_asset(&NewAsset {
                uuid,
                parent_type: cmd.parent_type,
                parent_uuid: cmd.parent_uuid,
                owner_person_id: me.id,
                s3_key: assets::s3_key(me.uuid, cmd.parent_type, uuid),
                mime_type: cmd.mime_type,
                at: time::now(),
            })
            .await?;
        let upload = self
            .blobs
            .presign_put(&asset.s3_key, asset.mime_type.as_str(), self.upload_ttl)
            .await?;
        tracing::info!(asset = %asset.uuid, by = %me.uuid, "asset created");
        Ok(AssetCreated { asset, upload })
    }

    /// `GET /assets`: the parent's assets, newest first, each with a presigned download.
    /// With a variation, only images that have (or can now be given) it are listed; a
    /// parent with assets but none that can have it answers 404.
    #[tracing::instrument(name = "assets.list", skip_all, fields(parent_type = query.parent_type.as_str(), parent = %query.parent_uuid))]
    pub async fn list(
        &self,
        caller: &Caller,
        query: AssetQuery,
        page: PageRequest,
    ) -> Result<Page<AssetDownload>> {
        let me = caller.person()?;
        let facts = self
            .parent_facts(me, query.parent_type, query.parent_uuid)
            .await?;
        assets::decide(query.parent_type, facts, AssetAction::Read)?;
        let found = self
            .store
            .list_assets(query.parent_type, query.parent_uuid, &page)
            .await?;
        let had_any = !found.items.is_empty();
        let mut items = Vec::with_capacity(found.items.len());
        for mut asset in found.items {
            let key = match query.variation {
                None => asset.s3_key.clone(),
                Some(v) => match self.ensure_variation(&mut asset, v).await? {
                    Some(key) => key,
                    None => continue,
                },
            };
            let download = self.blobs.presign_get(&key, self.download_ttl).await?;
            items.push(AssetDownload { asset, download });
        }
        if query.variation.is_some() && had_any && items.is_empty() {
            return Err(AssetRefusal::NoVariation.into());
        }
        Ok(Page {
            items,
            after: found.after,
        })
    }

    /// The key of `variation` of `asset`, made and stored now if it is not yet. `None`
    /// when the asset cannot have it: not an image we decode, not uploaded yet, or bytes
    /// that do not decode.
    async fn ensure_variation(
        &self,
        asset: &mut Asset,
        variation: Variation,
    ) -> Result<Option<String>> {
        let key = variation.key(&asset.s3_key);
        if !asset.mime_type.has_variations() {
            return Ok(None);
        }
        if asset.variations.contains(&variation) {
            return Ok(Some(key));
        }
        let Some(original) = self.blobs.get(&asset.s3_key).await? else {
            return Ok(None);
        };
        let mime = asset.mime_type.clone();
        let made = tokio::task::spawn_blocking(move || make_variation(&original, &mime, variation))
            .await
            .map_err(|e| Error::Internal(format!("variation task: {e}")))?;
        let bytes = match made {
            Ok(bytes) => bytes,
            Err(reason) => {
                tracing::warn!(asset = %asset.uuid, %reason, "uploaded image does not decode; no variation");
                return Ok(None);
            }
        };
        self.blobs
            .put(&key, Variation::output_mime(&asset.mime_type), bytes)
            .await?;
        self.store
            .add_asset_variation(asset.id, variation, time::now())
            .await?;
        asset.variations.push(variation);
        tracing::info!(asset = %asset.uuid, variation = variation.as_str(), "variation made");
        Ok(Some(key))
    }

    /// `DELETE /assets/{uuid}`: the owner only. The row goes first (the asset is gone for
    /// everyone at once); then its objects, original and variations. An object that
    /// cannot be removed now is logged, never resurrects the row.
    #[tracing::instrument(name = "assets.delete", skip_all, fields(asset = %uuid))]
    pub async fn delete(&self, caller: &Caller, uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let asset = self
            .store
            .asset_by_uuid(uuid)
            .await?
            .ok_or(AssetRefusal::AssetNotFound)?;
        let facts = self
            .parent_facts(me, asset.parent_type, asset.parent_uuid)
            .await?;
        let readable = assets::decide(asset.parent_type, facts, AssetAction::Read).is_ok();
        assets::decide_delete(readable, asset.owner_person_uuid == Some(me.uuid))?;
        self.store.delete_asset(asset.id).await?;
        self.remove_objects(std::slice::from_ref(&asset)).await;
        tracing::info!(asset = %asset.uuid, by = %me.uuid, "asset deleted");
        Ok(())
    }

    /// Removes the objects of assets whose rows are already gone (after a delete or an
    /// account deletion committed). Failures are logged: the rows decide what exists.
    #[tracing::instrument(skip_all)]
    pub async fn remove_objects(&self, gone: &[Asset]) {
        let keys: Vec<String> = gone
            .iter()
            .flat_map(|a| {
                std::iter::once(a.s3_key.clone())
                    .chain(Variation::ALL.iter().map(|v| v.key(&a.s3_key)))
            })
            .collect();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.blobs.delete(&keys).await {
            tracing::warn!(error = %e, objects = keys.len(), "asset objects not removed; they are orphans now");
        }
    }
}

/// Scales a decoded image down to fit the variation's square (never up) and encodes it
/// as the variation's output type.
pub fn make_variation(
    original: &[u8],
    mime: &MimeType,
    variation: Variation,
) -> std::result::Result<Vec<u8>, String> {
    let format = match mime.as_str() {
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/png" => image::ImageFormat::Png,
        "image/webp" => image::ImageFormat::WebP,
        other => return Err(format!("no decoder for {other}")),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(original), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let side = variation.max_side();
    let scaled = if img.width() <= side && img.height() <= side {
        img
    } else {
        img.thumbnail(side, side)
    };
    let mut out = Cursor::new(Vec::new());
    match Variation::output_mime(mime) {
        "image/png" => scaled
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| e.to_string())?,
        _ => image::DynamicImage::ImageRgb8(scaled.to_rgb8())
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .map_err(|e| e.to_string())?,
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 255]));
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn variations_fit_their_square_and_never_grow() {
        let mime = MimeType::parse("image/png").unwrap();
        let original = png(800, 400);
        let thumb = make_variation(&original, &mime, Variation::Thumbnail).unwrap();
        let t = image::load_from_memory(&thumb).unwrap();
        assert_eq!((t.width(), t.height()), (150, 75));
        let large = make_variation(&original, &mime, Variation::Large).unwrap();
        let l = image::load_from_memory(&large).unwrap();
        assert_eq!((l.width(), l.height()), (800, 400));
        let jpeg = MimeType::parse("image/jpeg").unwrap();
        assert!(make_variation(b"not an image", &jpeg, Variation::Small).is_err());
        let pdf = MimeType::parse("application/pdf").unwrap();
        assert!(make_variation(&original, &pdf, Variation::Small).is_err());
    }
}
