//! Order creation (`POST /orders`): the payer of an accepted offer asks for the order
//! and its escrow quote, signed by the platform, that their wallet pays. What happens
//! after (paid, released, refunded, expired) belongs to the OrderActor.

use super::{MarketService, non_blank, parse_uuid_field};
use crate::domain::PageRequest;
use crate::domain::market::{Currency, Parties};
use crate::domain::money::Fees;
use crate::domain::offer::OfferStatus;
use crate::domain::order::{EscrowQuote, NewOrder, Order, OrderStatus, escrow_order_id};
use crate::domain::refusal::Refusal;
use crate::domain::time::{self, Timestamp};
use crate::domain::wallet::{Wallet, checksummed};
use crate::error::{Error, Problems, Result};
use crate::events::{Event, EventEnvelope, OrderCreated};
use crate::ports::ChainError;
use crate::services::people::Caller;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrderDto {
    #[schema(required, example = "08fef2af-a1ed-465a-b6b3-da53425f83de")]
    pub offer_uuid: Option<String>,
    /// One of the payer's wallets to pay from; default: their most recently added.
    pub payer_wallet_uuid: Option<String>,
}

/// The quote the payer's wallet sends to the escrow contract:
/// `pay(orderId, payee, fee, deadline, signature)` with `value = amount`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscrowView {
    pub chain_id: u64,
    /// The escrow contract.
    pub contract: String,
    /// bytes32: the order uuid's 16 bytes right-aligned.
    pub order_id: String,
    pub payee: String,
    /// The order total, in wei.
    #[schema(example = "120750000000000000")]
    pub amount: String,
    /// What the platform keeps on release (fee and its tax), in wei.
    #[schema(example = "5750000000000000")]
    pub fee: String,
    /// Unix seconds.
    pub deadline: u64,
    /// The platform's quote signature (65 bytes hex).
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub uuid: Uuid,
    pub status: OrderStatus,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub listing_title: String,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub payer_address: String,
    pub payee_address: String,
    pub currency: Currency,
    /// The agreed price (the accepted offer's), ETH.
    #[schema(example = "0.115")]
    pub listing_price: String,
    #[schema(example = "0.00575")]
    pub total_platform_fee: String,
    #[schema(example = "0")]
    pub platform_fee_tax: String,
    /// What the payer pays: price + fee + tax, ETH.
    #[schema(example = "0.12075")]
    pub order_total: String,
    pub escrow: EscrowView,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let q = &o.quote;
        Self {
            uuid: o.uuid,
            status: o.status,
            offer_uuid: o.offer_uuid,
            listing_uuid: o.listing_uuid,
            listing_title: o.listing_title.clone(),
            payer_uuid: o.payer_uuid,
            payee_uuid: o.payee_uuid,
            payer_address: checksummed(&q.payer),
            payee_address: checksummed(&q.payee),
            currency: o.currency,
            listing_price: o.fees.price.to_eth_string(),
            total_platform_fee: o.fees.platform_fee.to_eth_string(),
            platform_fee_tax: o.fees.fee_tax.to_eth_string(),
            order_total: o.fees.total.to_eth_string(),
            escrow: EscrowView {
                chain_id: q.chain_id,
                contract: checksummed(&q.contract),
                order_id: q.order_id.to_string(),
                payee: checksummed(&q.payee),
                amount: q.amount.to_wei_string(),
                fee: q.fee.to_wei_string(),
                deadline: q.deadline,
                signature: o.quote_signature.clone(),
            },
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

pub(super) fn chain_error(e: ChainError) -> Error {
    match e {
        ChainError::Unavailable(m) => Error::Unavailable(m),
        other => Error::Internal(other.to_string()),
    }
}

impl MarketService {
    /// The wallet a party's money moves through: the most recently added one.
    async fn latest_wallet(&self, person_uuid: Uuid) -> Result<Option<Wallet>> {
        let page = PageRequest {
            limit: 1,
            after: None,
        };
        Ok(self
            .store
            .list_wallets(person_uuid, &page)
            .await?
            .items
            .into_iter()
            .next())
    }

    /// `POST /orders`: 201 with a new order, or (`false`) 200 with the offer's open
    /// order when there is one already.
    #[tracing::instrument(skip_all)]
    pub async fn create_order(
        &self,
        caller: &Caller,
        dto: CreateOrderDto,
    ) -> Result<(Order, bool)> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let offer_uuid = match non_blank(dto.offer_uuid.as_deref()) {
            None => {
                problems.push("offerUuid should not be empty");
                None
            }
            Some(raw) => problems.check(parse_uuid_field("offerUuid", raw)),
        };
        let payer_wallet_uuid = non_blank(dto.payer_wallet_uuid.as_deref())
            .and_then(|raw| problems.check(parse_uuid_field("payerWalletUuid", raw)));
        problems.finish()?;
        let offer_uuid =
            offer_uuid.ok_or_else(|| Error::Internal("parsed offerUuid missing".into()))?;

        let offer = self.visible_offer(me, offer_uuid).await?;
        let Parties { payer, payee } = offer.parties();
        if me.uuid != payer {
            return Err(Error::forbidden("Only the payer can create the order"));
        }
        // Asking again (a retry, a second tap) answers the open order.
        if let Some(existing) = self.store.open_order_for_offer(offer_uuid).await? {
            return Ok((existing, false));
        }
        if offer.status != OfferStatus::Accepted {
            return Err(Error::Refused(Refusal::OfferNotAccepted {
                status: offer.status,
            }));
        }
        let listing = self
            .store
            .listing_by_uuid(offer.listing_uuid)
            .await?
            .ok_or_else(|| Error::not_found("Listing not found"))?;

        let mut problems = Problems::new();
        let payer_wallet = match payer_wallet_uuid {
            Some(w) => match self.store.wallet_by_uuid(w).await? {
                Some(wallet) if wallet.person_uuid == payer => Some(wallet),
                _ => {
                    problems.push("payerWalletUuid must be one of your wallets");
                    None
                }
            },
            None => {
                let w = self.latest_wallet(payer).await?;
                if w.is_none() {
                    problems.push("The payer has no wallet: register one with POST /wallets");
                }
                w
            }
        };
        let payee_wallet = self.latest_wallet(payee).await?;
        if payee_wallet.is_none() {
            problems.push("The payee has no wallet: they must register one with POST /wallets");
        }
        let fees = problems.check(
            Fees::compute(offer.price, self.fee_bps, self.fee_tax_bps).map_err(String::from),
        );
        problems.finish()?;
        let (Some(payer_wallet), Some(payee_wallet), Some(fees)) =
            (payer_wallet, payee_wallet, fees)
        else {
            return Err(Error::Internal("order inputs missing".into()));
        };

        let at = time::now();
        let deadline = u64::try_from(at.timestamp())
            .ok()
            .and_then(|now| now.checked_add(self.payment_timeout_secs))
            .ok_or_else(|| Error::Internal("payment deadline out of range".into()))?;
        let uuid = Uuid::new_v4();
        let quote = EscrowQuote {
            chain_id: self.chain.chain_id(),
            contract: self.chain.escrow_contract(),
            order_id: escrow_order_id(uuid),
            payer: payer_wallet.address,
            payee: payee_wallet.address,
            amount: fees.total,
            fee: fees.platform_take(),
            deadline,
        };
        let quote_signature = self.chain.sign_quote(&quote).await.map_err(chain_error)?;
        let new = NewOrder {
            uuid,
            offer_uuid,
            listing_uuid: listing.uuid,
            listing_title: listing.title.clone(),
            payer_uuid: payer,
            payee_uuid: payee,
            currency: listing.currency,
            fees,
            quote,
            quote_signature,
            at,
        };
        let event = EventEnvelope::new(
            Event::OrderCreated(OrderCreated {
                order_uuid: uuid,
                offer_uuid,
                listing_uuid: listing.uuid,
                payer_uuid: payer,
                payee_uuid: payee,
                order_total: fees.total.to_eth_string(),
                escrow_order_id: new.quote.order_id.to_string(),
                deadline,
            }),
            at,
        );
        let (order, created) = self.store.insert_order(&new, &[event]).await?;
        if created {
            self.outbox.nudge();
            tracing::info!(order = %order.uuid, offer = %offer_uuid, total = %order.fees.total, "order created");
        }
        Ok((order, created))
    }
}
