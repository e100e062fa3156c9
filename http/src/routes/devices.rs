//! `POST /devices`: the app registers its install and push token after sign-in.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, state};
use actix_web::{HttpRequest, HttpResponse, post, web};
use metmos_engine::services::devices::{CreateDeviceDto, DeviceView};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(register_device);
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateDeviceDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let device = state
        .engine
        .devices
        .register(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(DeviceView::from(&device)))
}
