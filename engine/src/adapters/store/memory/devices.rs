use super::{MemoryStore, State};
use crate::domain::Timestamp;
use crate::domain::devices::{Device, NewDevice};
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::ports::DeviceStore;
use async_trait::async_trait;
use std::collections::BTreeMap;
use uuid::Uuid;

impl State {
    /// Account deletion calls this inside its change: a deleted person's devices go.
    pub(crate) fn remove_person_devices(&mut self, person_id: i64) {
        self.devices.retain(|_, d| d.person_id != person_id);
    }
}

pub(crate) type DeviceTable = BTreeMap<i64, Device>;

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn upsert_device(&self, new: &NewDevice) -> StoreResult<Device> {
        let mut s = self.state.write();
        let person_uuid = s
            .persons
            .get(&new.person_id)
            .map(|p| p.uuid)
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        if let Some(d) = s
            .devices
            .values_mut()
            .find(|d| d.push_token == new.push_token)
        {
            d.person_id = new.person_id;
            d.person_uuid = person_uuid;
            d.device_type = new.device_type;
            d.platform_type = new.platform_type;
            d.platform_version = new.platform_version.clone();
            d.model_name = new.model_name.clone();
            d.disabled_at = None;
            d.updated_at = new.at;
            return Ok(d.clone());
        }
        let id = s.next_id("device");
        let device = Device {
            id,
            uuid: new.uuid,
            person_id: new.person_id,
            person_uuid,
            device_type: new.device_type,
            platform_type: new.platform_type,
            platform_version: new.platform_version.clone(),
            model_name: new.model_name.clone(),
            push_token: new.push_token.clone(),
            pinpoint_endpoint_id: None,
            disabled_at: None,
            created_at: new.at,
            updated_at: new.at,
        };
        s.devices.insert(id, device.clone());
        Ok(device)
    }

    async fn push_devices(&self, person_uuid: Uuid, limit: usize) -> StoreResult<Vec<Device>> {
        let s = self.state.read();
        let mut list: Vec<Device> = s
            .devices
            .values()
            .filter(|d| d.person_uuid == person_uuid && d.disabled_at.is_none())
            .cloned()
            .collect();
        // Most recently registered first (ties: newest row first), as PostgreSQL orders.
        list.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(b.id.cmp(&a.id)));
        list.truncate(limit);
        Ok(list)
    }

    async fn disable_device(
        &self,
        device_id: i64,
        push_token: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut s = self.state.write();
        match s.devices.get_mut(&device_id) {
            Some(d) if d.push_token == push_token && d.disabled_at.is_none() => {
                d.disabled_at = Some(at);
                d.updated_at = at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
