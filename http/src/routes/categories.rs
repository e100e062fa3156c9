//! `GET /categories`: the pre-defined listing categories.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::AuthCaller;
use crate::state::AppState;
use actix_web::{get, web};
use metmos_engine::domain::market::{Category, CategoryType};
use metmos_engine::domain::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    pub uuid: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub category_type: CategoryType,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Category> for CategoryView {
    fn from(c: &Category) -> Self {
        Self {
            uuid: c.uuid,
            name: c.name.clone(),
            description: c.description.clone(),
            category_type: c.category_type,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The whole (fixed, seeded) list: `after` is always null.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoriesPage {
    pub categories: Vec<CategoryView>,
    pub after: Option<i64>,
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
