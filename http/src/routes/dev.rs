//! Dev-mode endpoints: make a user and get a token. Registered only when
//! `auth.mode = "dev"`; in other modes they do not exist (404, and absent from the docs).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::routes::people::PersonDetails;
use crate::state::AppState;
use actix_web::{HttpResponse, post, web};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::people::PersonFields;
use metmos_engine::error::Error;
use metmos_engine::ports::ChainError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_dev_user).service(chain_pay);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevPayDto {
    #[schema(required)]
    pub order_uuid: Option<String>,
    /// ETH sent with `pay`; default: the order total.
    #[schema(example = "0.12075")]
    pub amount: Option<String>,
}

/// `POST /dev/chain/pay` as a command: which order, how much (wei).
struct DevPay {
    order_uuid: uuid::Uuid,
    amount: Option<Wei>,
}

impl TryFrom<DevPayDto> for DevPay {
    type Error = Error;

    fn try_from(dto: DevPayDto) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let order_uuid = match dto.order_uuid.as_deref().map(str::trim) {
            None | Some("") => {
                problems.push("orderUuid should not be empty".to_string());
                None
            }
            Some(raw) => parse_uuid("orderUuid", raw)
                .map_err(|_| problems.push("orderUuid must be a UUID".to_string()))
                .ok(),
        };
        let amount = match dto.amount.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Wei::parse_eth("amount", raw)
                .map_err(|e| problems.push(String::from(e)))
                .ok(),
        };
        match order_uuid {
            Some(order_uuid) if problems.is_empty() => Ok(Self { order_uuid, amount }),
            _ => Err(Error::Validation(problems)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevPayment {
    /// The mined `pay` transaction; null when it reverted.
    pub tx_hash: Option<String>,
    /// Why the simulated contract refused the payment (nothing was paid), if it did.
    pub reverted: Option<String>,
}

/// DEV ONLY, simulated chain: the payer's wallet pays the escrow for an order, with the
/// order's quote, as the app's wallet would. A wrong amount reverts as on the real
/// contract (the attempt is logged and answered; the order stays payable). A good
/// payment is mined at once and confirmed within about a second.
#[utoipa::path(
    tag = "dev",
    security(("bearer" = []), ("gateway" = [])),
    request_body = DevPayDto,
    responses(
        (status = 202, description = "Sent (mined, or reverted: see `reverted`)", body = DevPayment),
        (status = 400, body = ErrorBody),
        (status = 403, description = "Not the payer", body = ErrorBody),
        (status = 404, description = "No such order of yours, or not in dev mode", body = ErrorBody),
        (status = 409, description = "Not on the simulated chain", body = ErrorBody)
    )
)]
#[post("/dev/chain/pay")]
async fn chain_pay(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<DevPayDto>,
) -> ApiResult<HttpResponse> {
    let cmd = DevPay::try_from(body.into_inner())?;
    let me = caller.person()?.uuid;
    let order = state.engine.market.order_for(me, cmd.order_uuid).await?;
    if order.payer_uuid != me {
        return Err(Error::forbidden("Only the payer can pay an order").into());
    }
    let Some(chain) = state.engine.simulated_chain.as_ref() else {
        return Err(Error::conflict("The engine is not running the simulated chain").into());
    };
    let sent = chain.pay_order(&order, cmd.amount);
    let answer = match sent {
        Ok(tx) => DevPayment {
            tx_hash: Some(tx.to_string()),
            reverted: None,
        },
        Err(ChainError::Reverted(reason)) => DevPayment {
            tx_hash: None,
            reverted: Some(reason),
        },
        Err(other) => return Err(Error::Unavailable(other.to_string()).into()),
    };
    Ok(HttpResponse::Accepted().json(answer))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DevUser {
    pub account_uuid: Uuid,
    pub person_uuid: Uuid,
    pub cognito_user_id: String,
    /// An HS256 access token for `Authorization`.
    pub access_token: String,
}

/// DEV ONLY: creates an ACTIVE account and its person, and answers with an access token.
#[utoipa::path(
    tag = "dev",
    request_body = PersonDetails,
    responses(
        (status = 201, body = DevUser),
        (status = 400, body = ErrorBody),
        (status = 404, description = "Not in dev mode", body = ErrorBody),
        (status = 409, body = ErrorBody)
    )
)]
#[post("/dev/users")]
async fn create_dev_user(
    state: web::Data<AppState>,
    body: web::Json<PersonDetails>,
) -> ApiResult<HttpResponse> {
    let fields = PersonFields::try_from(body.into_inner())?;
    let (account, person) = state.engine.people.create_dev_user(fields).await?;
    let access_token = state.engine.auth.mint_dev_token(&account.cognito_user_id)?;
    Ok(HttpResponse::Created().json(DevUser {
        account_uuid: account.uuid,
        person_uuid: person.uuid,
        cognito_user_id: account.cognito_user_id,
        access_token,
    }))
}
