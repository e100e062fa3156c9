//! Metmos engine: the domain, its ports and adapters, and the use cases. Knows nothing of
//! actix or HTTP; `metmos-actors` and `metmos-http` build on it.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod ports;
pub mod services;
pub mod testing;

use crate::adapters::blobs::local::LocalBlobs;
use crate::adapters::bus::inprocess::InProcessBus;
use crate::adapters::bus::rabbitmq::RabbitMqBus;
use crate::adapters::chain::simulated::SimulatedChain;
use crate::adapters::pusher::pinpoint::PinpointPusher;
use crate::adapters::pusher::recording::RecordingPusher;
use crate::adapters::store::memory::MemoryStore;
use crate::adapters::store::postgres::PgStore;
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::ports::{Blobs, Bus, Chain, ChainEventSink, Pusher, Store};
use crate::services::accounts::AccountService;
use crate::services::assets::AssetService;
use crate::services::caller_cache::{CALLER_CACHE_CAPACITY, CallerCache};
use crate::services::chain_watcher::{ChainWatchSignal, ChainWatcher, WatchOptions};
use crate::services::chain_webhook::ChainWebhookService;
use crate::services::chat::ChatService;
use crate::services::connections::ConnectionService;
use crate::services::devices::DeviceService;
use crate::services::experiences::ExperienceService;
use crate::services::inbound::{ChainEvents, InboundService};
use crate::services::market::MarketService;
use crate::services::notifications::{Deliverer, NotificationService};
use crate::services::outbox::{OutboxRelay, OutboxSignal, RelayStats};
use crate::services::people::PeopleService;
use crate::services::push_queue::{PUSH_QUEUE_CAPACITY, PUSH_WORKERS, PushQueue};
use crate::services::read_state::ReadStateService;
use crate::services::ws_connections::WsConnectionService;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] error::StoreError),
    #[error("auth: {0}")]
    Auth(#[from] auth::AuthSetupError),
    #[error("chain: {0}")]
    Chain(#[from] ports::ChainError),
    #[error("blobs: {0}")]
    Blobs(#[from] ports::BlobError),
}

/// Everything a running engine has: settings, the chosen adapters, the services, and the
/// shutdown signal its background tasks listen to. Built once by [`Engine::start`], shared
/// by `Arc` with the HTTP layer and the actors.
pub struct Engine {
    pub settings: Arc<Settings>,
    pub node_id: Uuid,
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    /// The escrow chain (simulated unless `chain.rpc_url` is set).
    pub chain: Arc<dyn Chain>,
    /// The simulated escrow ledger when that adapter runs (`POST /dev/chain/pay`, tests).
    pub simulated_chain: Option<Arc<SimulatedChain>>,
    /// Wakes the chain watcher early (the Alchemy webhook's hint); harmless before it runs.
    pub chain_watch: ChainWatchSignal,
    /// `POST /ethereum/alchemy-webhook`: verifies and dedupes notifications, wakes the watcher.
    pub chain_webhook: ChainWebhookService,
    pub auth: Arc<Authenticator>,
    pub outbox: OutboxSignal,
    pub relay_stats: Arc<RelayStats>,
    /// Hands committed notifications to the realtime front once it is attached.
    pub deliverer: Deliverer,
    /// The chain event handler (the order handler attaches itself): the inbound queue's
    /// `chain.*` messages go there, as the watcher's and the webhook's do.
    pub chain_events: ChainEvents,
    /// Consumer of the `metmos.inbound` queue (`chain.*`, `integration.*`).
    pub inbound: InboundService,
    pub people: PeopleService,
    pub notifications: NotificationService,
    pub connections: ConnectionService,
    pub experiences: ExperienceService,
    pub accounts: AccountService,
    pub market: MarketService,
    pub assets: AssetService,
    /// Asset bytes: S3 when `s3.bucket` is set, else local files.
    pub blobs: Arc<dyn Blobs>,
    /// The local blob files when that adapter runs: the HTTP layer serves its signed URLs.
    pub local_blobs: Option<Arc<LocalBlobs>>,
    // realtime
    pub pusher: Arc<dyn Pusher>,
    /// The recording pusher's log when that adapter runs (`GET /dev/pushes`).
    pub push_log: Option<Arc<RecordingPusher>>,
    /// Where the realtime path hands pushes: bounded, sent by a fixed set of workers.
    pub push_queue: PushQueue,
    pub chat: ChatService,
    /// Read positions, unread counts, receipts and typing (issue 15).
    pub read_state: ReadStateService,
    pub devices: DeviceService,
    pub ws_connections: WsConnectionService,
    shutdown: broadcast::Sender<()>,
    /// Every background task (relay, lease, bus consumers, push sends): shutdown waits
    /// for them on this tracker instead of sleeping.
    tasks: TaskTracker,
    cancel: CancellationToken,
}

/// Which adapter each port uses, for the start-up log line.
pub struct AdapterChoice {
    pub store: &'static str,
    pub bus: &'static str,
    pub auth: &'static str,
}

impl Engine {
    /// Connects the adapters the settings select (migrating PostgreSQL when asked),
    /// starts the background tasks, and logs the choice of each port.
    pub async fn start(settings: Settings) -> Result<Arc<Self>, StartError> {
        Self::start_on_chain(settings, None).await
    }

    /// As [`Engine::start`], on a simulated ledger that outlives this engine (restart
    /// tests: the chain keeps its blocks while the engine stops and starts again).
    pub async fn start_on_chain(
        settings: Settings,
        simulated: Option<Arc<SimulatedChain>>,
    ) -> Result<Arc<Self>, StartError> {
        let store: Arc<dyn Store> = match &settings.database.url {
            Some(url) => {
                let pg = PgStore::connect(url, &settings.database).await?;
                if settings.database.migrate_on_start {
                    let applied = pg.migrate().await?;
                    tracing::info!(applied, "database migrations applied");
                }
                Arc::new(pg)
            }
            None => Arc::new(MemoryStore::new()),
        };
        let bus: Arc<dyn Bus> = match &settings.amqp.url {
            Some(url) => {
                let rabbit = RabbitMqBus::new(url, &settings.amqp);
                if !rabbit.healthy().await {
                    // Not fatal: the API keeps working and events wait in the outbox.
                    tracing::warn!("RabbitMQ is not reachable yet; events wait in the outbox");
                }
                Arc::new(rabbit)
            }
            None => Arc::new(InProcessBus::with_delivery_limit(
                settings.amqp.delivery_limit,
            )),
        };
        Self::assemble_on_chain(settings, store, bus, simulated).await
    }

    /// Builds the engine on adapters chosen by the caller (tests pick their own database).
    pub async fn assemble(
        settings: Settings,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
    ) -> Result<Arc<Self>, StartError> {
        Self::assemble_on_chain(settings, store, bus, None).await
    }

    /// As [`Engine::assemble`], optionally on a given simulated ledger.
    pub async fn assemble_on_chain(
        settings: Settings,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        simulated: Option<Arc<SimulatedChain>>,
    ) -> Result<Arc<Self>, StartError> {
        let auth = Arc::new(Authenticator::new(&settings.auth).await?);
        let node_id = settings.node.id.unwrap_or_else(Uuid::new_v4);
        let (shutdown, _) = broadcast::channel(1);
        let outbox = OutboxSignal::default();
        let relay_stats = Arc::new(RelayStats::default());
        let deliverer = Deliverer::default();
        let chain_events = ChainEvents::default();
        let simulated = match (simulated, &settings.chain.rpc_url) {
            (Some(sim), _) => Some(sim),
            (None, None) => Some(Arc::new(SimulatedChain::from_settings(&settings.chain)?)),
            (None, Some(_)) => None,
        };
        let chain: Arc<dyn Chain> = match &simulated {
            Some(sim) => sim.clone(),
            None => adapters::chain::from_settings(&settings.chain)?,
        };
        let chain_watch = ChainWatchSignal::default();
        let chain_webhook = ChainWebhookService::new(
            store.clone(),
            chain_watch.clone(),
            settings
                .chain
                .alchemy_signing_key
                .as_ref()
                .map(|k| secrecy::ExposeSecret::expose_secret(k).to_string()),
        );
        let (blobs, local_blobs) = adapters::blobs::from_settings(&settings).await?;
        let assets = AssetService::new(
            store.clone(),
            blobs.clone(),
            std::time::Duration::from_secs(settings.s3.upload_url_secs),
            std::time::Duration::from_secs(settings.s3.download_url_secs),
        );
        let market = MarketService::new(
            store.clone(),
            chain.clone(),
            outbox.clone(),
            deliverer.clone(),
            assets.clone(),
            &settings,
        );
        let (pusher, push_log): (Arc<dyn Pusher>, Option<Arc<RecordingPusher>>) =
            match &settings.pinpoint.application_id {
                Some(app) => (
                    Arc::new(PinpointPusher::new(app, &settings.pinpoint).await),
                    None,
                ),
                None => {
                    let recording = Arc::new(RecordingPusher::new());
                    (recording.clone(), Some(recording))
                }
            };
        let devices = DeviceService::new(store.clone(), pusher.clone());
        let push_queue = PushQueue::new(PUSH_QUEUE_CAPACITY);
        let read_state = ReadStateService::new(
            store.clone(),
            std::time::Duration::from_millis(settings.chat.read_flush_ms),
        );
        let callers = Arc::new(CallerCache::new(
            std::time::Duration::from_millis(settings.auth.caller_cache_ms),
            CALLER_CACHE_CAPACITY,
        ));
        let engine = Arc::new(Self {
            chat: ChatService::new(store.clone(), outbox.clone(), read_state.clone()),
            read_state,
            devices,
            push_queue,
            ws_connections: WsConnectionService::new(
                store.clone(),
                node_id,
                settings.node.lease_secs,
            )
            .keep_disconnected_for(settings.ws.keep_disconnected_days),
            pusher,
            push_log,
            people: PeopleService::new(store.clone(), outbox.clone(), callers.clone()),
            notifications: NotificationService::new(store.clone()),
            connections: ConnectionService::new(
                store.clone(),
                outbox.clone(),
                deliverer.clone(),
                settings.social.rerequest_cooldown_days,
            ),
            experiences: ExperienceService::new(store.clone(), outbox.clone(), assets.clone()),
            accounts: AccountService::new(store.clone(), outbox.clone(), assets.clone(), callers),
            assets,
            blobs,
            local_blobs,
            market,
            chain,
            inbound: InboundService::new(store.clone(), deliverer.clone(), chain_events.clone()),
            chain_events,
            simulated_chain: simulated,
            chain_watch,
            chain_webhook,
            deliverer,
            settings: Arc::new(settings),
            node_id,
            store,
            bus,
            auth,
            outbox,
            relay_stats,
            shutdown,
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
        });
        let choice = engine.adapters();
        tracing::info!(
            node_id = %engine.node_id,
            store = choice.store,
            bus = choice.bus,
            auth = choice.auth,
            blobs = engine.blobs.adapter_name(),
            pusher = engine.pusher.adapter_name(),
            chain = engine.chain.adapter_name(),
            "engine adapters"
        );
        let relay = OutboxRelay::new(
            engine.node_id,
            engine.store.clone(),
            engine.bus.clone(),
            engine.outbox.clone(),
            engine.relay_stats.clone(),
        );
        engine.spawn(relay.run(engine.shutdown.subscribe()));
        // The store's own tasks (PostgreSQL's message writers), drained at shutdown.
        engine.store.start_tasks(&engine.tasks, &engine.cancel);
        engine.spawn(
            engine
                .inbound
                .clone()
                .run(engine.bus.clone(), engine.shutdown.subscribe()),
        );
        engine.spawn(engine.read_state.clone().run(engine.cancelled()));
        for _ in 0..PUSH_WORKERS {
            engine.spawn(engine.push_queue.clone().worker(
                engine.devices.clone(),
                engine.read_state.clone(),
                engine.shutdown.subscribe(),
            ));
        }
        Ok(engine)
    }

    pub fn adapters(&self) -> AdapterChoice {
        AdapterChoice {
            store: self.store.adapter_name(),
            bus: self.bus.adapter_name(),
            auth: self.auth.mode().as_str(),
        }
    }

    /// Starts the chain watcher, delivering confirmed escrow logs to `sink` (the order
    /// handler, which lives above the engine and so is handed in once it is built). It
    /// stops on [`Engine::shutdown`].
    pub fn start_chain_watcher(&self, sink: Arc<dyn ChainEventSink>) -> Result<(), StartError> {
        let options = WatchOptions::from_settings(&self.settings.chain)?;
        let watcher = ChainWatcher::new(
            self.chain.clone(),
            self.store.clone(),
            sink,
            options,
            self.chain_watch.clone(),
        );
        self.spawn(watcher.run(self.shutdown.subscribe()));
        Ok(())
    }

    /// Attaches the handler of chain events and starts the chain watcher into it.
    /// Called once by the actors when the OrderSupervisor runs.
    pub fn attach_chain_sink(&self, sink: Arc<dyn ChainEventSink>) -> Result<(), StartError> {
        self.chain_events.attach(sink.clone());
        self.start_chain_watcher(sink)
    }

    /// The handler of chain events, once attached (webhook, inbound queue, tests).
    pub fn chain_sink(&self) -> Option<Arc<dyn ChainEventSink>> {
        self.chain_events.attached()
    }

    /// A receiver that fires when the engine shuts down.
    pub fn shutdown_signal(&self) -> broadcast::Receiver<()> {
        self.shutdown.subscribe()
    }

    /// A token cancelled when the engine shuts down (for tasks that prefer it to the
    /// broadcast of [`Engine::shutdown_signal`]).
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Spawns a background task the engine owns: [`Engine::stopped`] waits for it. The
    /// task must end on its own once shutdown is signalled.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// As [`Engine::spawn`], for a task that must stay on the current thread (actix
    /// actors' futures are not `Send`).
    pub fn spawn_local<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        self.tasks.spawn_local(task)
    }

    /// Tells every background task to stop (the outbox relay drains first).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(());
        self.cancel.cancel();
        self.tasks.close();
    }

    /// Waits until every tracked task has ended after [`Engine::shutdown`], at most
    /// `within`; answers whether they all did (a task stuck on a dead dependency is
    /// left to the process's exit, and logged).
    pub async fn stopped(&self, within: std::time::Duration) -> bool {
        let done = tokio::time::timeout(within, self.tasks.wait())
            .await
            .is_ok();
        if !done {
            tracing::warn!(
                running = self.tasks.len(),
                "background tasks still running at shutdown"
            );
        }
        done
    }
}
