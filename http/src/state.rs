//! What every handler can reach: the engine and the metrics registry.

use crate::metrics::Metrics;
use metmos_engine::Engine;
use std::sync::Arc;

pub struct AppState {
    pub engine: Arc<Engine>,
    pub metrics: Arc<Metrics>,
}
