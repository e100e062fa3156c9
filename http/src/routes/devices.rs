//! `POST /devices`: the app registers its install and push token after sign-in. The
//! body is parsed here into the domain's `RegisterDevice`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{HttpResponse, post, web};
use metmos_engine::domain::devices::{
    Device, DeviceType, PlatformType, RegisterDevice, parse_label, parse_push_token,
};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::{Error, Problems};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register_device);
}

/// `POST /devices`. Every field is required; each missing or bad one is reported.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateDeviceDto {
    #[schema(example = "PHONE")]
    pub device_type: Option<String>,
    #[schema(example = "IOS")]
    pub platform_type: Option<String>,
    #[schema(example = "iOS 17")]
    pub platform_version: Option<String>,
    #[schema(example = "iPhone 15")]
    pub model_name: Option<String>,
    /// Assigned by APNs or FCM to the app on this device.
    pub push_token: Option<String>,
}

fn required<'a>(problems: &mut Problems, field: &str, raw: Option<&'a str>) -> Option<&'a str> {
    if raw.is_none() {
        problems.push(format!("{field} is required"));
    }
    raw
}

impl TryFrom<CreateDeviceDto> for RegisterDevice {
    type Error = Error;
    fn try_from(dto: CreateDeviceDto) -> Result<Self, Error> {
        let mut p = Problems::new();
        let device_type = required(&mut p, "deviceType", dto.device_type.as_deref())
            .and_then(|raw| p.check(DeviceType::parse(raw.trim())));
        let platform_type = required(&mut p, "platformType", dto.platform_type.as_deref())
            .and_then(|raw| p.check(PlatformType::parse(raw.trim())));
        let platform_version = required(&mut p, "platformVersion", dto.platform_version.as_deref())
            .and_then(|raw| p.check(parse_label("platformVersion", raw)));
        let model_name = required(&mut p, "modelName", dto.model_name.as_deref())
            .and_then(|raw| p.check(parse_label("modelName", raw)));
        let push_token = required(&mut p, "pushToken", dto.push_token.as_deref())
            .and_then(|raw| p.check(parse_push_token(raw)));
        let cmd = match (
            device_type,
            platform_type,
            platform_version,
            model_name,
            push_token,
        ) {
            (
                Some(device_type),
                Some(platform_type),
                Some(platform_version),
                Some(model_name),
                Some(push_token),
            ) => Some(RegisterDevice {
                device_type,
                platform_type,
                platform_version,
                model_name,
                push_token,
            }),
            _ => None,
        };
        p.finish_with(cmd)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub device_type: DeviceType,
    pub platform_type: PlatformType,
    pub platform_version: String,
    pub model_name: String,
    pub push_token: String,
    pub pinpoint_endpoint_id: Option<String>,
    /// Set when the push service reported the token dead.
    #[serde(with = "time::millis::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<Timestamp>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            uuid: d.uuid,
            person_uuid: d.person_uuid,
            device_type: d.device_type,
            platform_type: d.platform_type,
            platform_version: d.platform_version.clone(),
            model_name: d.model_name.clone(),
            push_token: d.push_token.clone(),
            pinpoint_endpoint_id: d.pinpoint_endpoint_id.clone(),
            disabled_at: d.disabled_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Registers a device. A push token already known is the same device: it moves to the
/// caller (if someone else had it) and is enabled again.
#[utoipa::path(
    tag = "devices",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateDeviceDto,
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[post("/devices")]
async fn register_device(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateDeviceDto>,
) -> ApiResult<HttpResponse> {
    let cmd = RegisterDevice::try_from(body.into_inner())?;
    let device = state.engine.devices.register(&caller, cmd).await?;
    Ok(HttpResponse::Created().json(DeviceView::from(&device)))
}
