//! The scenarios and what they share: the run's clock (warm-up, window, drain), the timed
//! phases with their live progress, and the CPU meters read over the window only.

pub mod chat;
pub mod connections;
pub mod rest;
pub mod trade;

use crate::procinfo::CpuMeter;
use crate::progress::Progress;
use std::time::Duration;
use tokio::time::Instant;

/// When each phase of a run starts and ends; every timestamp the scenario records is in
/// nanoseconds since `epoch`, one clock for senders and receivers in this process.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub epoch: Instant,
    pub warmup: Duration,
    pub window: Duration,
    pub drain: Duration,
}

impl Clock {
    /// A clock starting shortly after now, so every task is waiting when it starts.
    pub fn starting_soon(warmup: Duration, window: Duration, drain: Duration) -> Self {
        Self {
            epoch: Instant::now() + Duration::from_millis(200),
            warmup,
            window,
            drain,
        }
    }

    pub fn window_start(&self) -> Instant {
        self.epoch + self.warmup
    }

    pub fn window_end(&self) -> Instant {
        self.window_start() + self.window
    }

    pub fn drain_end(&self) -> Instant {
        self.window_end() + self.drain
    }

    pub fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    pub fn at_ns(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    /// Whether something scheduled at `ns` belongs to the measured window.
    pub fn in_window_ns(&self, ns: u64) -> bool {
        let start = self.warmup.as_nanos() as u64;
        ns >= start && ns < start + self.window.as_nanos() as u64
    }

    /// The second of the window `now` falls in (events after the window keep counting up,
    /// so the drain shows on the charts); None during the warm-up.
    pub fn second(&self, now: Instant) -> Option<u64> {
        (now >= self.window_start()).then(|| (now - self.window_start()).as_secs())
    }

    pub fn window_secs(&self) -> f64 {
        self.window.as_secs_f64()
    }
}

/// CPU of the client and (when its pid is known) the server over the window.
#[derive(Debug, Default, Clone, Copy)]
pub struct WindowCpu {
    pub client: Option<f64>,
    pub server: Option<f64>,
}

/// Runs the warm-up, window and drain bars against `clock`, showing `live()` as the rates;
/// the drain ends early once `drained()` holds. Answers the CPU used over the window.
pub async fn timed_phases(
    progress: &Progress,
    clock: &Clock,
    server_pid: Option<u32>,
    live: &(dyn Fn() -> String + Sync),
    drained: &(dyn Fn() -> bool + Sync),
) -> WindowCpu {
    tokio::time::sleep_until(clock.epoch).await;
    phase(
        progress,
        "warm-up",
        clock.epoch,
        clock.window_start(),
        live,
        None,
    )
    .await;
    let client = CpuMeter::start(std::process::id());
    let server = server_pid.and_then(CpuMeter::start);
    phase(
        progress,
        "window",
        clock.window_start(),
        clock.window_end(),
        live,
        None,
    )
    .await;
    let cpu = WindowCpu {
        client: client.and_then(|m| m.percent()),
        server: server.and_then(|m| m.percent()),
    };
    phase(
        progress,
        "drain",
        clock.window_end(),
        clock.drain_end(),
        live,
        Some(drained),
    )
    .await;
    cpu
}

async fn phase(
    progress: &Progress,
    name: &str,
    from: Instant,
    until: Instant,
    live: &(dyn Fn() -> String + Sync),
    done: Option<&(dyn Fn() -> bool + Sync)>,
) {
    let bar = progress.timed(name, until.saturating_duration_since(from));
    loop {
        let now = Instant::now();
        bar.set_position(now.saturating_duration_since(from).as_millis() as u64);
        bar.set_message(live());
        if now >= until || done.is_some_and(|d| d()) {
            break;
        }
        tokio::time::sleep_until((now + Duration::from_millis(100)).min(until)).await;
    }
    bar.finish();
}

/// Live rates for the progress bars: counters per second, refreshed once a second.
pub struct RateMeter {
    last: std::sync::Mutex<(Instant, Vec<u64>, Vec<f64>)>,
}

impl RateMeter {
    pub fn new(n: usize) -> Self {
        Self {
            last: std::sync::Mutex::new((Instant::now(), vec![0; n], vec![0.0; n])),
        }
    }

    /// Rates per second of each counter over the last second or so.
    pub fn rates(&self, now_values: &[u64]) -> Vec<f64> {
        let mut g = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let dt = g.0.elapsed().as_secs_f64();
        if dt >= 1.0 {
            g.2 = now_values
                .iter()
                .zip(g.1.iter())
                .map(|(n, o)| n.saturating_sub(*o) as f64 / dt)
                .collect();
            g.0 = Instant::now();
            g.1 = now_values.to_vec();
        }
        g.2.clone()
    }
}
