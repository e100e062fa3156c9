//! The order lifecycle after creation: the payer's complete and cancel, the operator's
//! release and refund, expiry, and the escrow contract's logs. Each step reads the order,
//! asks the domain (`decide_*`, `OrderStatus::transition`), and hands the store one
//! [`OrderChange`] with the version it decided on; the store re-checks under the order
//! row's lock. The OrderActor (actors crate) calls these one at a time per offer.

use super::MarketService;
use crate::domain::escrow::{
    ChainDecision, ChainEvent, EscrowLog, SettlementStep, decide_chain_event, decide_settlement,
};
use crate::domain::notifications::{NewNotification, NotificationType};
use crate::domain::order::{
    ChainEventRecord, ChainTouch, Order, OrderAction, OrderChange, OrderChangeOutcome, OrderQuery,
    OrderRefusal, OrderStatus, Payment, PaymentKind, decide_expiry, decide_payer_command,
};
use crate::domain::refusal::Refusal;
use crate::domain::time::{self, Timestamp};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result, StoreError};
use crate::events::{Event, EventEnvelope, OrderChanged, PaymentMismatched};
use crate::ports::ChainError;
use uuid::Uuid;

/// How often a step is decided again after another actor or node moved the order first.
const VERSION_RETRIES: usize = 3;

impl From<OrderRefusal> for Error {
    fn from(r: OrderRefusal) -> Self {
        match r {
            OrderRefusal::NotAParty => Error::not_found(r.to_string()),
            OrderRefusal::NotThePayer(_) => Error::forbidden(r.to_string()),
            OrderRefusal::Lifecycle(_) => Error::conflict(r.to_string()),
        }
    }
}

fn chain_unavailable(e: Error) -> ChainError {
    match e {
        Error::Unavailable(m) => ChainError::Unavailable(m),
        other => ChainError::Other(other.to_string()),
    }
}

fn order_event(
    order: &Order,
    status: OrderStatus,
    action: OrderAction,
    tx: Option<String>,
) -> Event {
    let data = OrderChanged {
        order_uuid: order.uuid,
        offer_uuid: order.offer_uuid,
        listing_uuid: order.listing_uuid,
        payer_uuid: order.payer_uuid,
        payee_uuid: order.payee_uuid,
        status: status.as_str().into(),
        tx_hash: tx,
    };
    match (action, status) {
        (OrderAction::Pay, _) => Event::OrderPaid(data),
        (OrderAction::Complete, _) => Event::OrderReleasing(data),
        (OrderAction::Released, _) => Event::OrderCompleted(data),
        (OrderAction::Cancel, OrderStatus::Refunding) => Event::OrderRefunding(data),
        (OrderAction::Cancel | OrderAction::Refunded, _) => Event::OrderCancelled(data),
        (OrderAction::Expire, _) => Event::OrderExpired(data),
        (OrderAction::UndoPay, _) => Event::OrderPaymentUndone(data),
    }
}

fn title_and_body(kind: NotificationType, order: &Order) -> (&'static str, String) {
    let total = order.fees.total.to_eth_string();
    let title = &order.listing_title;
    match kind {
        NotificationType::PaymentConfirmed => (
            "Payment confirmed",
            format!("{total} ETH for \"{title}\" is held in escrow"),
        ),
        NotificationType::ListingCompleted => (
            "Order completed",
            format!("\"{title}\" is complete; the escrow released the funds"),
        ),
        _ => (
            "Order cancelled",
            format!("The order for \"{title}\" was cancelled"),
        ),
    }
}

impl MarketService {
    /// An order the caller is party to (404 for everyone else).
    #[tracing::instrument(skip_all)]
    pub async fn order_for(&self, me: Uuid, uuid: Uuid) -> Result<Order> {
        match self.store.order_by_uuid(uuid).await? {
            Some(o) if o.payer_uuid == me || o.payee_uuid == me => Ok(o),
            _ => Err(Error::Refused(Refusal::OrderNotFound)),
        }
    }

    /// `GET /orders`: the caller's orders, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_orders(&self, query: &OrderQuery, page: &PageRequest) -> Result<Page<Order>> {
        Ok(self.store.list_orders(query, page).await?)
    }

    /// Orders that are not final: what the OrderSupervisor rehydrates at boot.
    #[tracing::instrument(skip_all)]
    pub async fn unfinished_orders(&self) -> Result<Vec<Order>> {
        Ok(self.store.unfinished_orders().await?)
    }

    /// Payer and payee notifications of `kind` for this order (a party whose person was
    /// deleted is skipped: the order outlives them).
    async fn order_notifications(
        &self,
        order: &Order,
        kind: NotificationType,
        at: Timestamp,
    ) -> Result<Vec<NewNotification>> {
        let (title, body) = title_and_body(kind, order);
        let mut out = Vec::with_capacity(2);
        for party in [order.payee_uuid, order.payer_uuid] {
            if let Some(p) = self.store.person_by_uuid(party).await? {
                out.push(NewNotification::new(
                    p.id,
                    p.uuid,
                    kind,
                    title,
                    body.clone(),
                    &[
                        ("listingUuid", order.listing_uuid),
                        ("offerUuid", order.offer_uuid),
                        ("orderUuid", order.uuid),
                    ],
                    at,
                ));
            }
        }
        Ok(out)
    }

    /// Writes one step decided on `order` (as read); delivers its notifications after
    /// commit. `Ok(None)`: a replayed chain event, nothing changed.
    async fn write_step(
        &self,
        order: &Order,
        action: OrderAction,
        chain: ChainTouch,
    ) -> Result<Option<Order>> {
        let at = time::now();
        let next = order.status.transition(action).map_err(Error::Refused)?;
        let notifications = match action.effects(order.status).notify {
            Some(kind) => self.order_notifications(order, kind, at).await?,
            None => Vec::new(),
        };
        let tx = match &chain {
            ChainTouch::Record(r, _) => Some(r.tx_hash.to_string()),
            ChainTouch::Removed { tx_hash, .. } => Some(tx_hash.to_string()),
            ChainTouch::None => None,
        };
        let change = OrderChange {
            order_id: order.id,
            expected_version: order.version,
            action,
            chain,
            notifications,
            events: vec![EventEnvelope::new(order_event(order, next, action, tx), at)],
            at,
        };
        match self.store.apply_order_change(&change).await? {
            OrderChangeOutcome::Replay => Ok(None),
            OrderChangeOutcome::Applied {
                order: updated,
                notifications,
            } => {
                self.outbox.nudge();
                self.deliverer.deliver(&notifications);
                tracing::info!(order = %updated.uuid, from = %order.status, to = %updated.status, "order step");
                Ok(Some(updated))
            }
        }
    }

    /// Reads, decides, writes; decided again on a fresh read if the order moved meanwhile.
    async fn step_with_retry<F>(&self, uuid: Uuid, mut decide: F) -> Result<Option<Order>>
    where
        F: FnMut(&Order) -> Result<Option<(OrderAction, ChainTouch)>> + Send,
    {
        for _ in 0..VERSION_RETRIES {
            let order = self
                .store
                .order_by_uuid(uuid)
                .await?
                .ok_or(Error::Refused(Refusal::OrderNotFound))?;
            let Some((action, chain)) = decide(&order)? else {
                return Ok(Some(order));
            };
            match self.write_step(&order, action, chain).await {
                Err(Error::Refused(Refusal::OrderChanged)) => continue,
                other => return other,
            }
        }
        Err(Error::Refused(Refusal::OrderChanged))
    }

    /// `PATCH /orders/{uuid}/complete` and `/cancel`: records RELEASING / REFUNDING (or
    /// CANCELLED when unpaid) and answers the order; the operator's transaction follows
    /// ([`MarketService::settle_order`]) once this is committed.
    #[tracing::instrument(name = "order command", skip(self), fields(order = %uuid, action = ?action))]
    pub async fn payer_command(&self, me: Uuid, uuid: Uuid, action: OrderAction) -> Result<Order> {
        self.order_for(me, uuid).await?;
        let order = self
            .step_with_retry(uuid, |o| {
                decide_payer_command(o, me, action)?;
                Ok(Some((action, ChainTouch::None)))
            })
            .await?;
        order.ok_or_else(|| Error::Internal("a payer command is never a replay".into()))
    }

    /// The operator's transaction for an order RELEASING or REFUNDING. The contract is
    /// read first: settled already (a crash after sending, before recording) sends
    /// nothing again; its log completes the order. Errors leave the order in flight, to
    /// be retried.
    #[tracing::instrument(name = "settle order", skip(self), fields(order = %uuid))]
    pub async fn settle_order(&self, uuid: Uuid) -> Result<Order> {
        let order = self
            .store
            .order_by_uuid(uuid)
            .await?
            .ok_or(Error::Refused(Refusal::OrderNotFound))?;
        let releasing = match order.status {
            OrderStatus::Releasing => true,
            OrderStatus::Refunding => false,
            _ => return Ok(order),
        };
        let id = order.quote.order_id;
        let record = self
            .chain
            .escrow_record(id)
            .await
            .map_err(super::orders::chain_error)?;
        match decide_settlement(releasing, &record) {
            SettlementStep::Send => {
                let sent = if releasing {
                    self.chain.release(id).await
                } else {
                    self.chain.refund(id).await
                };
                let outcome = sent.map_err(super::orders::chain_error)?;
                tracing::info!(order = %uuid, releasing, ?outcome, "operator transaction done");
            }
            SettlementStep::AlreadyDone => {
                tracing::info!(order = %uuid, releasing, "escrow already settled; nothing sent");
            }
            SettlementStep::Impossible(why) => {
                tracing::error!(order = %uuid, releasing, why, "cannot settle order: needs an operator");
                return Err(Error::conflict(why));
            }
        }
        Ok(order)
    }

    /// Expires the order if it is unpaid past its deadline; `None` when it is not (paid,
    /// final, not due).
    #[tracing::instrument(name = "expire order", skip(self), fields(order = %uuid))]
    pub async fn expire_order(&self, uuid: Uuid, now: Timestamp) -> Result<Option<Order>> {
        let mut expired = false;
        let order = self
            .step_with_retry(uuid, |o| {
                expired = decide_expiry(o, now).is_some();
                Ok(expired.then_some((OrderAction::Expire, ChainTouch::None)))
            })
            .await?;
        Ok(order.filter(|_| expired))
    }

    /// One confirmed (or removed) escrow log: applied to its order, recorded, or rejected
    /// and raised. Idempotent on `(tx_hash, log_index)`. `Err` only when it could not be
    /// handled now (store down): deliver it again.
    #[tracing::instrument(name = "chain event", skip(self, event), fields(tx = %event.tx_hash, log_index = event.log_index, kind = event.log.name(), removed = event.removed))]
    pub async fn apply_chain_event(&self, event: &ChainEvent) -> Result<(), ChainError> {
        self.chain_event_step(event)
            .await
            .map_err(chain_unavailable)
    }

    async fn chain_event_step(&self, event: &ChainEvent) -> Result<()> {
        let Some(order) = self.store.order_by_escrow_id(event.order_id()).await? else {
            if event.removed {
                self.store
                    .forget_chain_event(event.tx_hash, event.log_index)
                    .await?;
                return Ok(());
            }
            return self
                .reject(
                    None,
                    event,
                    crate::domain::escrow::ChainRejection::UnknownOrder(event.order_id())
                        .to_string(),
                )
                .await;
        };
        if !event.removed
            && self
                .store
                .chain_event(event.tx_hash, event.log_index)
                .await?
                .is_some()
        {
            tracing::debug!("chain event replayed; nothing to do");
            return Ok(());
        }
        let ours = self.chain.escrow_contract();
        let mut rejected = None;
        let mut nothing = None;
        let result = self
            .step_with_retry(order.uuid, |o| match decide_chain_event(o, ours, event) {
                ChainDecision::Apply(action) => {
                    let touch = if event.removed {
                        ChainTouch::Removed {
                            tx_hash: event.tx_hash,
                            log_index: event.log_index,
                        }
                    } else {
                        ChainTouch::Record(
                            record_of(event, Some(o.id), true, None),
                            payment_of(event),
                        )
                    };
                    Ok(Some((action, touch)))
                }
                ChainDecision::Nothing(why) => {
                    nothing = Some(why);
                    Ok(None)
                }
                ChainDecision::Reject(r) => {
                    rejected = Some(r.to_string());
                    Ok(None)
                }
            })
            .await;
        match result {
            Ok(_) => {}
            // A refusal of the offer's or listing's lifecycle: raise, do not retry forever.
            Err(Error::Refused(r)) if r != Refusal::OrderChanged => rejected = Some(r.to_string()),
            Err(e) => return Err(e),
        }
        if let Some(reason) = rejected {
            return self.reject(Some(&order), event, reason).await;
        }
        if let Some(why) = nothing {
            tracing::info!(order = %order.uuid, why, "chain event changes nothing");
            if event.removed {
                self.store
                    .forget_chain_event(event.tx_hash, event.log_index)
                    .await?;
            } else {
                self.store
                    .record_chain_event(
                        &record_of(event, Some(order.id), false, Some(why.into())),
                        &[],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Records the log as rejected with a `payment.mismatched` event, and logs it loudly:
    /// money may be held that no order accounts for.
    async fn reject(
        &self,
        order: Option<&Order>,
        event: &ChainEvent,
        reason: String,
    ) -> Result<()> {
        if event.removed {
            self.store
                .forget_chain_event(event.tx_hash, event.log_index)
                .await?;
            return Ok(());
        }
        tracing::error!(order = ?order.map(|o| o.uuid), tx = %event.tx_hash, log = event.log.name(), %reason, "escrow event rejected");
        let at = time::now();
        let mismatch = EventEnvelope::new(
            Event::PaymentMismatched(PaymentMismatched {
                order_uuid: order.map(|o| o.uuid),
                escrow_order_id: event.order_id().to_string(),
                tx_hash: event.tx_hash.to_string(),
                log_index: event.log_index,
                event: event.log.name().into(),
                reason: reason.clone(),
            }),
            at,
        );
        let record = record_of(event, order.map(|o| o.id), false, Some(reason));
        if self.store.record_chain_event(&record, &[mismatch]).await? {
            self.outbox.nudge();
        }
        Ok(())
    }
}

fn payload(log: &EscrowLog) -> serde_json::Value {
    match log {
        EscrowLog::Paid {
            order_id,
            payer,
            payee,
            amount,
            fee,
        } => serde_json::json!({
            "orderId": order_id.to_string(), "payer": payer.to_checksum(None),
            "payee": payee.to_checksum(None), "amount": amount.to_string(), "fee": fee.to_string(),
        }),
        EscrowLog::Released {
            order_id,
            payee,
            payee_amount,
            fee,
        } => serde_json::json!({
            "orderId": order_id.to_string(), "payee": payee.to_checksum(None),
            "payeeAmount": payee_amount.to_string(), "fee": fee.to_string(),
        }),
        EscrowLog::Refunded {
            order_id,
            payer,
            amount,
        } => serde_json::json!({
            "orderId": order_id.to_string(), "payer": payer.to_checksum(None),
            "amount": amount.to_string(),
        }),
    }
}

fn record_of(
    event: &ChainEvent,
    order_id: Option<i64>,
    applied: bool,
    rejected_reason: Option<String>,
) -> ChainEventRecord {
    ChainEventRecord {
        tx_hash: event.tx_hash,
        log_index: event.log_index,
        block_hash: event.block_hash,
        block_number: event.block_number,
        event_type: event.log.name().into(),
        order_id,
        payload: payload(&event.log),
        applied,
        rejected_reason,
        at: time::now(),
    }
}

/// The money the log moved: into the escrow (from the payer), out to the payee, or back
/// to the payer. The platform's fee is in the log and the order, not a row of its own.
fn payment_of(event: &ChainEvent) -> Option<Payment> {
    let (kind, from, to, value) = match &event.log {
        EscrowLog::Paid { payer, amount, .. } => {
            (PaymentKind::Payment, *payer, event.contract, *amount)
        }
        EscrowLog::Released {
            payee,
            payee_amount,
            ..
        } => (PaymentKind::Release, event.contract, *payee, *payee_amount),
        EscrowLog::Refunded { payer, amount, .. } => {
            (PaymentKind::Refund, event.contract, *payer, *amount)
        }
    };
    Some(Payment {
        uuid: Uuid::new_v4(),
        kind,
        tx_hash: event.tx_hash,
        log_index: event.log_index,
        block_number: event.block_number,
        from,
        to,
        value,
    })
}

impl From<StoreError> for ChainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ChainError::Unavailable(m),
            other => ChainError::Other(other.to_string()),
        }
    }
}
