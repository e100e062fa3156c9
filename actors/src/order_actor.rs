//! One OrderActor per offer: everything that happens to that offer's order — the payer's
//! complete and cancel, the operator's release and refund, expiry, and the escrow's logs —
//! goes through its mailbox and is handled one at a time to the end (`AtomicResponse`),
//! so two of them never interleave on one node. Across nodes the store's version check
//! on the locked order row does the same.
//!
//! Settlement: complete / cancel record RELEASING / REFUNDING first and answer; the
//! operator's transaction follows as the actor's next message, and is retried with a
//! backoff while the chain is unreachable. Before each attempt the contract is read, so
//! a restart after sending never settles twice.
//!
//! Expiry: a timer at the quote's deadline. The supervisor's sweep covers orders no actor
//! holds.

use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::escrow::ChainEvent;
use metmos_engine::domain::order::{Order, OrderAction, OrderStatus};
use metmos_engine::domain::time;
use metmos_engine::error::Error;
use metmos_engine::ports::ChainError;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The payer's `complete` or `cancel`, already known to concern this actor's offer.
#[derive(Message)]
#[rtype(result = "Result<Order, Error>")]
pub struct Command {
    pub me: Uuid,
    pub order_uuid: Uuid,
    pub action: OrderAction,
}

/// A confirmed (or removed) escrow log for this offer's order.
#[derive(Message)]
#[rtype(result = "Result<(), ChainError>")]
pub struct Chain(pub ChainEvent);

/// An order of this offer the actor should look after (created now, or found
/// unfinished at boot or after a restart): arms its expiry timer, resumes settlement.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Track(pub Order);

/// Operator's transaction for an order in flight.
#[derive(Message)]
#[rtype(result = "()")]
struct Settle {
    order_uuid: Uuid,
    attempt: u32,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Expire(Uuid);

/// Makes the actor fail as an internal error would (tests, operators): it stops and its
/// supervisor starts it again from what the store holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Crash;

/// Told to the supervisor when an OrderActor stops; `crashed` ones are restarted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct OrderActorStopped {
    pub offer_uuid: Uuid,
    pub crashed: bool,
    pub generation: u64,
}

pub struct OrderActor {
    engine: Arc<Engine>,
    offer_uuid: Uuid,
    generation: u64,
    supervisor: Recipient<OrderActorStopped>,
    crashed: bool,
    expiry: Option<SpawnHandle>,
}

impl OrderActor {
    pub fn new(
        engine: Arc<Engine>,
        offer_uuid: Uuid,
        generation: u64,
        supervisor: Recipient<OrderActorStopped>,
    ) -> Self {
        Self {
            engine,
            offer_uuid,
            generation,
            supervisor,
            crashed: false,
            expiry: None,
        }
    }

    /// After any step: keep the order's timer and settlement going, or fail on a bug.
    fn follow_up(&mut self, order: &Order, ctx: &mut Context<Self>) {
        match order.status {
            OrderStatus::AwaitingPayment => self.arm_expiry(order, ctx),
            OrderStatus::Releasing | OrderStatus::Refunding => {
                self.disarm(ctx);
                ctx.notify(Settle {
                    order_uuid: order.uuid,
                    attempt: 0,
                });
            }
            _ => self.disarm(ctx),
        }
    }

    fn arm_expiry(&mut self, order: &Order, ctx: &mut Context<Self>) {
        self.disarm(ctx);
        let now = time::now().timestamp();
        // The chain accepts a payment up to and including the deadline second.
        let due = i64::try_from(order.quote.deadline)
            .unwrap_or(i64::MAX)
            .saturating_add(1)
            .saturating_sub(now)
            .max(0);
        let wait = Duration::from_secs(due.unsigned_abs()) + Duration::from_millis(50);
        let uuid = order.uuid;
        self.expiry = Some(ctx.notify_later(Expire(uuid), wait));
    }

    fn disarm(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.expiry.take() {
            ctx.cancel_future(h);
        }
    }

    fn crash_on(&mut self, e: &Error, ctx: &mut Context<Self>) {
        if matches!(e, Error::Internal(_)) {
            tracing::error!(offer = %self.offer_uuid, error = %e, "order actor failed; restarting");
            self.crashed = true;
            ctx.stop();
        }
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.supervisor.do_send(OrderActorStopped {
            offer_uuid: self.offer_uuid,
            crashed: self.crashed,
            generation: self.generation,
        });
    }
}

impl Handler<Command> for OrderActor {
    type Result = AtomicResponse<Self, Result<Order, Error>>;

    fn handle(&mut self, msg: Command, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        AtomicResponse::new(Box::pin(
            async move {
                engine
                    .market
                    .payer_command(msg.me, msg.order_uuid, msg.action)
                    .await
            }
            .into_actor(self)
            .map(|result, act, ctx| {
                match &result {
                    Ok(order) => act.follow_up(order, ctx),
                    Err(e) => act.crash_on(e, ctx),
                }
                result
            }),
        ))
    }
}

impl Handler<Chain> for OrderActor {
    type Result = AtomicResponse<Self, Result<(), ChainError>>;

    fn handle(&mut self, msg: Chain, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        let event = msg.0;
        AtomicResponse::new(Box::pin(
            async move {
                engine.market.apply_chain_event(&event).await?;
                let order = engine
                    .store
                    .order_by_escrow_id(event.order_id())
                    .await
                    .map_err(ChainError::from)?;
                Ok(order)
            }
            .into_actor(self)
            .map(|result: Result<Option<Order>, ChainError>, act, ctx| {
                let order = result?;
                if let Some(order) = order {
                    act.follow_up(&order, ctx);
                }
                Ok(())
            }),
        ))
    }
}

impl Handler<Track> for OrderActor {
    type Result = ();

    fn handle(&mut self, msg: Track, ctx: &mut Context<Self>) {
        self.follow_up(&msg.0, ctx);
    }
}

impl Handler<Settle> for OrderActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Settle, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        AtomicResponse::new(Box::pin(
            async move { engine.market.settle_order(msg.order_uuid).await }
                .into_actor(self)
                .map(move |result, _act, ctx| {
                    if let Err(e) = result {
                        // The chain or store is down, or the contract refused: try again
                        // later (capped backoff); the order stays in flight meanwhile.
                        let wait = Duration::from_millis(500) * 2u32.pow(msg.attempt.min(6));
                        tracing::warn!(order = %msg.order_uuid, error = %e, ?wait, "settlement failed; retrying");
                        ctx.notify_later(
                            Settle {
                                order_uuid: msg.order_uuid,
                                attempt: msg.attempt + 1,
                            },
                            wait,
                        );
                    }
                }),
        ))
    }
}

impl Handler<Expire> for OrderActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: Expire, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        AtomicResponse::new(Box::pin(
            async move { engine.market.expire_order(msg.0, time::now()).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    act.expiry = None;
                    match result {
                        Ok(Some(order)) => act.follow_up(&order, ctx),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(order = %msg.0, error = %e, "expiry failed; the sweep retries");
                        }
                    }
                }),
        ))
    }
}

impl Handler<Crash> for OrderActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        self.crash_on(&Error::Internal("crash requested".into()), ctx);
    }
}
