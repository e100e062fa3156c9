//! Order creation (`POST /orders`): the payer of an accepted offer asks for the order
//! and its escrow quote, signed by the platform, that their wallet pays. What happens
//! after (paid, released, refunded, expired) belongs to the OrderActor.

use super::MarketService;
use crate::domain::PageRequest;
use crate::domain::market::Parties;
use crate::domain::money::Fees;
use crate::domain::offer::OfferStatus;
use crate::domain::order::{CreateOrder, EscrowQuote, NewOrder, Order, escrow_order_id};
use crate::domain::refusal::Refusal;
use crate::domain::time;
use crate::domain::wallet::Wallet;
use crate::error::{Error, Problems, Result};
use crate::events::{Event, EventEnvelope, OrderCreated};
use crate::ports::ChainError;
use crate::services::people::Caller;
use uuid::Uuid;

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
    pub async fn create_order(&self, caller: &Caller, cmd: CreateOrder) -> Result<(Order, bool)> {
        let me = caller.person()?;
        let CreateOrder {
            offer_uuid,
            payer_wallet_uuid,
        } = cmd;

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
