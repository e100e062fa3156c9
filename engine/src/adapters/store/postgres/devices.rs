use super::{PgStore, Sql, map_err};
use crate::domain::Timestamp;
use crate::domain::devices::{Device, DeviceType, NewDevice, PlatformType};
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::ports::DeviceStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

/// Needs `JOIN person p ON p.id = d.person_id`.
const DEVICE_COLS: &str = "d.id, d.uuid, d.person_id, p.uuid, d.device_type, d.platform, d.platform_version, \
     d.model_name, d.push_token, d.pinpoint_endpoint_id, d.disabled_at, d.created_at, d.updated_at";

fn device_from(r: &Row) -> StoreResult<Device> {
    let device_type: String = r.get(4);
    let platform: String = r.get(5);
    Ok(Device {
        id: r.get(0),
        uuid: r.get(1),
        person_id: r.get(2),
        person_uuid: r.get(3),
        device_type: DeviceType::parse(&device_type).map_err(StoreError::Internal)?,
        platform_type: PlatformType::parse(&platform).map_err(StoreError::Internal)?,
        platform_version: r.get(6),
        model_name: r.get(7),
        push_token: r.get(8),
        pinpoint_endpoint_id: r.get(9),
        disabled_at: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
    })
}

#[async_trait]
impl DeviceStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.upsert_device")]
    async fn upsert_device(&self, new: &NewDevice) -> StoreResult<Device> {
        let client = self.client().await?;
        // One statement: a token registered twice at once is still one device.
        let stmt = client
            .statement(&format!(
                "WITH d AS (
                   INSERT INTO device (uuid, person_id, device_type, platform, platform_version, model_name, push_token, \
                                       created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
                   ON CONFLICT (push_token) DO UPDATE SET person_id = EXCLUDED.person_id,
                       device_type = EXCLUDED.device_type, platform = EXCLUDED.platform,
                       platform_version = EXCLUDED.platform_version, model_name = EXCLUDED.model_name,
                       disabled_at = NULL, updated_at = EXCLUDED.updated_at
                   RETURNING *)
                 SELECT {DEVICE_COLS} FROM d JOIN person p ON p.id = d.person_id"
            ))
            .await?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &new.uuid,
                    &new.person_id,
                    &new.device_type.as_str(),
                    &new.platform_type.as_str(),
                    &new.platform_version,
                    &new.model_name,
                    &new.push_token,
                    &new.at,
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
                    StoreError::Refused(Refusal::PersonNotFound)
                } else {
                    map_err(e)
                }
            })?;
        device_from(&row)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.push_devices")]
    async fn push_devices(&self, person_uuid: Uuid, limit: usize) -> StoreResult<Vec<Device>> {
        self.fetch_all(
            &format!(
                "SELECT {DEVICE_COLS} FROM device d JOIN person p ON p.id = d.person_id \
                 WHERE p.uuid = $1 AND d.disabled_at IS NULL ORDER BY d.updated_at DESC, d.id DESC LIMIT $2"
            ),
            &[&person_uuid, &(limit as i64)],
            device_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.disable_device")]
    async fn disable_device(
        &self,
        device_id: i64,
        push_token: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self
            .exec(
                "UPDATE device SET disabled_at = $3, updated_at = $3 \
                 WHERE id = $1 AND push_token = $2 AND disabled_at IS NULL",
                &[&device_id, &push_token, &at],
            )
            .await?
            == 1)
    }
}
