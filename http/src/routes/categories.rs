//! `GET /categories`: the pre-defined listing categories.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{get, web};
use metmos_engine::services::market::{CategoriesPage, CategoryView};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct CategoryQuery {
    /// ITEM or SERVICE; absent = both.
    category_type: Option<String>,
}

/// The pre-defined categories in a fixed order. The list is small and seeded, so it
/// comes whole: `after` is always null.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = []), ("gateway" = [])),
    params(CategoryQuery),
    responses((status = 200, body = CategoriesPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/categories")]
async fn list(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<CategoryQuery>,
) -> ApiResult<web::Json<CategoriesPage>> {
    let categories = state
        .engine
        .market
        .categories(&caller, query.category_type.as_deref())
        .await?;
    Ok(web::Json(CategoriesPage {
        categories: categories.iter().map(CategoryView::from).collect(),
        after: None,
    }))
}
