//! What every handler can reach: the engine and the metrics registry.

use crate::metrics::Metrics;
use metmos_actors::Realtime;
use metmos_engine::Engine;
use std::sync::Arc;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
    /// The realtime actors of this node (WebSocket sessions, chat rooms, notifier).
    pub realtime: Realtime,
    /// The order actors (OrderSupervisor): order commands and chain events.
    pub orders: metmos_actors::order_supervisor::Orders,
}
