//! metmos-load: the load-test harness of the Metmos engine. A pure client: it speaks HTTP and
//! WebSocket only and depends on no engine crate, so it runs against any engine (local,
//! staging) and against its own baseline server.

pub mod api;
pub mod baseline;
pub mod cli;
pub mod procinfo;
pub mod progress;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod target;
pub mod ws;
