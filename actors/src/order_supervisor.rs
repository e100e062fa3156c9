//! The OrderSupervisor: finds (or starts) the OrderActor of an offer and routes to it the
//! payer's commands and the escrow's logs; restarts an actor that failed; at boot
//! rehydrates every order that is not final (expiry timers, settlements in flight); and
//! sweeps for unpaid orders past their deadline every `orders.expiry_sweep_secs`, so an
//! order expires even when no actor holds it.
//!
//! It is also the engine's [`ChainEventSink`] (through [`OrderSink`]): the chain
//! follower, the Alchemy webhook and the inbound `chain.*` queue all hand events here.

use crate::order_actor::{Chain, Command, Crash, OrderActor, OrderActorStopped, Track};
use actix::prelude::*;
use async_trait::async_trait;
use metmos_engine::Engine;
use metmos_engine::domain::escrow::ChainEvent;
use metmos_engine::domain::order::{Order, OrderAction, decide_expiry};
use metmos_engine::domain::time;
use metmos_engine::error::Error;
use metmos_engine::ports::{ChainError, ChainEventSink};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// `PATCH /orders/{uuid}/complete|cancel` by `me`.
#[derive(Message)]
#[rtype(result = "Result<Order, Error>")]
pub struct OrderCommand {
    pub me: Uuid,
    pub order_uuid: Uuid,
    pub action: OrderAction,
}

/// An escrow log to route to its order's actor.
#[derive(Message)]
#[rtype(result = "Result<(), ChainError>")]
pub struct ChainEventFor(pub ChainEvent);

/// A new order (or one to look after): its offer's actor arms the expiry timer.
#[derive(Message)]
#[rtype(result = "()")]
pub struct TrackOrder(pub Order);

/// How many OrderActors run (tests, metrics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveOrderActors;

/// How many times the supervisor restarted a failed OrderActor (tests, metrics).
#[derive(Message)]
#[rtype(result = "u64")]
pub struct OrderActorRestarts;

/// Makes the actor of an offer fail (tests): the supervisor restarts it.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct CrashOrderActor(pub Uuid);

pub struct OrderSupervisor {
    engine: Arc<Engine>,
    actors: HashMap<Uuid, (u64, Addr<OrderActor>)>,
    generation: u64,
    /// Restarts so far (tests, metrics).
    pub restarts: u64,
}

impl OrderSupervisor {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self {
            engine,
            actors: HashMap::new(),
            generation: 0,
            restarts: 0,
        }
    }

    fn actor_for(&mut self, offer_uuid: Uuid, ctx: &mut Context<Self>) -> Addr<OrderActor> {
        if let Some((_, addr)) = self.actors.get(&offer_uuid)
            && addr.connected()
        {
            return addr.clone();
        }
        self.generation += 1;
        let addr = OrderActor::new(
            self.engine.clone(),
            offer_uuid,
            self.generation,
            ctx.address().recipient(),
        )
        .start();
        self.actors
            .insert(offer_uuid, (self.generation, addr.clone()));
        addr
    }

    /// Boot: every unfinished order to its actor.
    fn rehydrate(&mut self, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        ctx.spawn(
            async move { engine.market.unfinished_orders().await }
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(orders) => {
                        tracing::info!(
                            orders = orders.len(),
                            "order supervisor rehydrated unfinished orders"
                        );
                        for order in orders {
                            act.actor_for(order.offer_uuid, ctx).do_send(Track(order));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "rehydration failed; retrying");
                        ctx.run_later(Duration::from_secs(2), |act, ctx| act.rehydrate(ctx));
                    }
                }),
        );
    }

    /// Expires unpaid orders past their deadline straight through the store (the version
    /// check keeps it safe against an actor doing the same).
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        ctx.spawn(
            async move {
                let now = time::now();
                let orders = engine.market.unfinished_orders().await?;
                let mut expired = 0usize;
                for o in orders.iter().filter(|o| decide_expiry(o, now).is_some()) {
                    if engine.market.expire_order(o.uuid, now).await?.is_some() {
                        expired += 1;
                    }
                }
                Ok::<_, Error>(expired)
            }
            .into_actor(self)
            .map(|result, _, _| match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expiry sweep"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }),
        );
    }
}

impl Actor for OrderSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.sweep(ctx);
        self.rehydrate(ctx);
        let every = Duration::from_secs(self.engine.settings.orders.expiry_sweep_secs.max(1));
        ctx.run_interval(every, |act, ctx| act.sweep(ctx));
    }
}

impl Handler<OrderCommand> for OrderSupervisor {
    type Result = ResponseActFuture<Self, Result<Order, Error>>;

    fn handle(&mut self, msg: OrderCommand, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        Box::pin(
            async move { engine.market.order_for(msg.me, msg.order_uuid).await }
                .into_actor(self)
                .then(move |found, act, ctx| {
                    let addr = found.map(|o| act.actor_for(o.offer_uuid, ctx));
                    async move {
                        addr?
                            .send(Command {
                                me: msg.me,
                                order_uuid: msg.order_uuid,
                                action: msg.action,
                            })
                            .await
                            .map_err(|_| Error::Unavailable("order actor stopped".into()))?
                    }
                    .into_actor(act)
                }),
        )
    }
}

impl Handler<ChainEventFor> for OrderSupervisor {
    type Result = ResponseActFuture<Self, Result<(), ChainError>>;

    fn handle(&mut self, msg: ChainEventFor, _ctx: &mut Context<Self>) -> Self::Result {
        let engine = self.engine.clone();
        let event = msg.0;
        let order_id = event.order_id();
        Box::pin(
            async move { engine.store.order_by_escrow_id(order_id).await }
                .into_actor(self)
                .then(move |found, act, ctx| {
                    let engine = act.engine.clone();
                    let addr = match found {
                        Ok(Some(order)) => Ok(Some(act.actor_for(order.offer_uuid, ctx))),
                        Ok(None) => Ok(None),
                        Err(e) => Err(ChainError::from(e)),
                    };
                    async move {
                        match addr? {
                            Some(addr) => addr.send(Chain(event)).await.map_err(|_| {
                                ChainError::Unavailable("order actor stopped".into())
                            })?,
                            // No order of ours: recorded and raised by the use case.
                            None => engine.market.apply_chain_event(&event).await,
                        }
                    }
                    .into_actor(act)
                }),
        )
    }
}

impl Handler<TrackOrder> for OrderSupervisor {
    type Result = ();

    fn handle(&mut self, msg: TrackOrder, ctx: &mut Context<Self>) {
        self.actor_for(msg.0.offer_uuid, ctx).do_send(Track(msg.0));
    }
}

impl Handler<OrderActorStopped> for OrderSupervisor {
    type Result = ();

    fn handle(&mut self, msg: OrderActorStopped, ctx: &mut Context<Self>) {
        // Only the current actor of that offer counts (a newer one may run already).
        if self.actors.get(&msg.offer_uuid).map(|(g, _)| *g) != Some(msg.generation) {
            return;
        }
        self.actors.remove(&msg.offer_uuid);
        if !msg.crashed {
            return;
        }
        self.restarts += 1;
        let offer_uuid = msg.offer_uuid;
        let addr = self.actor_for(offer_uuid, ctx);
        let engine = self.engine.clone();
        // The new actor picks up from the store: the offer's unfinished order, if any.
        actix::spawn(async move {
            match engine.store.open_order_for_offer(offer_uuid).await {
                Ok(Some(order)) => addr.do_send(Track(order)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(offer = %offer_uuid, error = %e, "restarted order actor could not reload")
                }
            }
        });
        tracing::info!(offer = %offer_uuid, "order actor restarted");
    }
}

impl Handler<ActiveOrderActors> for OrderSupervisor {
    type Result = usize;

    fn handle(&mut self, _: ActiveOrderActors, _: &mut Context<Self>) -> usize {
        self.actors.values().filter(|(_, a)| a.connected()).count()
    }
}

impl Handler<OrderActorRestarts> for OrderSupervisor {
    type Result = u64;

    fn handle(&mut self, _: OrderActorRestarts, _: &mut Context<Self>) -> u64 {
        self.restarts
    }
}

impl Handler<CrashOrderActor> for OrderSupervisor {
    type Result = bool;

    fn handle(&mut self, msg: CrashOrderActor, _: &mut Context<Self>) -> bool {
        match self.actors.get(&msg.0) {
            Some((_, addr)) => {
                addr.do_send(Crash);
                true
            }
            None => false,
        }
    }
}

/// The supervisor as the engine's chain event sink: sends the event and waits until its
/// order's actor has applied it (or refused it), so a watcher only moves on after that.
pub struct OrderSink(pub Addr<OrderSupervisor>);

#[async_trait]
impl ChainEventSink for OrderSink {
    async fn on_chain_event(&self, event: ChainEvent) -> Result<(), ChainError> {
        self.0
            .send(ChainEventFor(event))
            .await
            .map_err(|_| ChainError::Unavailable("order supervisor stopped".into()))?
    }
}

/// The running order actors of this node, for the HTTP layer.
#[derive(Clone)]
pub struct Orders {
    pub supervisor: Addr<OrderSupervisor>,
}

impl Orders {
    /// Starts the supervisor on the current arbiter and attaches it as the engine's chain
    /// event sink (which starts the chain follower).
    pub fn start(engine: Arc<Engine>) -> Self {
        let supervisor = OrderSupervisor::new(engine.clone()).start();
        if let Err(e) = engine.attach_chain_sink(Arc::new(OrderSink(supervisor.clone()))) {
            tracing::error!(error = %e, "chain follower not started");
        }
        Self { supervisor }
    }

    pub async fn command(
        &self,
        me: Uuid,
        order_uuid: Uuid,
        action: OrderAction,
    ) -> Result<Order, Error> {
        self.supervisor
            .send(OrderCommand {
                me,
                order_uuid,
                action,
            })
            .await
            .map_err(|_| Error::Unavailable("order supervisor stopped".into()))?
    }

    pub fn track(&self, order: Order) {
        self.supervisor.do_send(TrackOrder(order));
    }
}
