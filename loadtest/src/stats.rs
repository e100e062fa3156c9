//! Latency histograms (HDR, microseconds), their summaries, per-second timelines and error
//! counts by cause. Recording is one uncontended lock per event: cheaper than a channel and
//! exact, which is what a generator sharing two cores with the engine needs.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Highest latency recorded exactly: an hour (anything longer is clamped and still counted).
const MAX_US: u64 = 3_600_000_000;

/// A latency distribution in microseconds, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latency {
    h: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::with_sigfig(3)
    }
}

impl Latency {
    pub fn with_sigfig(sigfig: u8) -> Self {
        Self {
            h: Histogram::new_with_bounds(1, MAX_US, sigfig).expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros().min(u128::from(MAX_US)) as u64);
    }

    pub fn record_us(&mut self, us: u64) {
        // saturating_record clamps instead of failing on out-of-range values.
        self.h.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding never fails.
        let _ = self.h.add(&other.h);
    }

    pub fn count(&self) -> u64 {
        self.h.len()
    }

    /// The value at percentile `p` (0..=100), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.value_at_percentile(p) as f64 / 1000.0
    }

    pub fn summary(&self) -> Summary {
        Summary {
            count: self.count(),
            mean_ms: if self.h.is_empty() {
                0.0
            } else {
                self.h.mean() / 1000.0
            },
            p50_ms: self.percentile_ms(50.0),
            p90_ms: self.percentile_ms(90.0),
            p99_ms: self.percentile_ms(99.0),
            p999_ms: self.percentile_ms(99.9),
            max_ms: if self.h.is_empty() {
                0.0
            } else {
                self.h.max() as f64 / 1000.0
            },
        }
    }

    /// The distribution as (percentile, ms) points, denser towards the tail, for charts.
    pub fn distribution(&self) -> Vec<(f64, f64)> {
        if self.h.is_empty() {
            return Vec::new();
        }
        const PS: [f64; 17] = [
            0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.75, 99.9, 99.95, 99.99,
            99.995, 99.999, 100.0,
        ];
        PS.iter().map(|&p| (p, self.percentile_ms(p))).collect()
    }
}

/// What the summary table and reports show of one latency distribution.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One second of a run: counts per series and the latency of the main series.
#[derive(Debug, Clone, Default)]
struct Second {
    counts: BTreeMap<&'static str, u64>,
    latency: Option<Latency>,
}

/// A point of the over-time charts.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimelinePoint {
    /// Seconds since the measured window started.
    pub t: u64,
    /// Events per second in this second, by series.
    pub rates: BTreeMap<String, f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Everything a scenario records during its window, behind one lock.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    latencies: BTreeMap<String, Latency>,
    counts: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    seconds: Vec<Second>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a latency of `metric`; `second` (since the window started) also feeds the
    /// timeline when this metric is the scenario's main one.
    pub fn latency(&self, metric: &str, d: Duration, second: Option<u64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match g.latencies.get_mut(metric) {
            Some(h) => h.record(d),
            None => {
                let mut h = Latency::default();
                h.record(d);
                g.latencies.insert(metric.to_string(), h);
            }
        }
        if let Some(s) = second {
            let sec = g.second(s);
            sec.latency
                .get_or_insert_with(|| Latency::with_sigfig(2))
                .record(d);
        }
    }

    /// Counts one event of `series` in the window (and in `second`'s rate when given).
    pub fn count(&self, series: &'static str, n: u64, second: Option<u64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.counts.entry(series.to_string()).or_default() += n;
        if let Some(s) = second {
            *g.second(s).counts.entry(series).or_default() += n;
        }
    }

    /// Counts an error by cause ("ws error frame 429", "POST /orders 409", "connect refused").
    pub fn error(&self, cause: impl Into<String>, second: Option<u64>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g.errors.entry(cause.into()).or_default() += 1;
        if let Some(s) = second {
            *g.second(s).counts.entry("errors").or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let timeline = g
            .seconds
            .iter()
            .enumerate()
            .map(|(t, s)| TimelinePoint {
                t: t as u64,
                rates: s
                    .counts
                    .iter()
                    .map(|(k, v)| (k.to_string(), *v as f64))
                    .collect(),
                p50_ms: s.latency.as_ref().map_or(0.0, |l| l.percentile_ms(50.0)),
                p99_ms: s.latency.as_ref().map_or(0.0, |l| l.percentile_ms(99.0)),
            })
            .collect();
        Snapshot {
            latencies: g.latencies.clone(),
            counts: g.counts.clone(),
            errors: g.errors.clone(),
            timeline,
        }
    }
}

impl Inner {
    fn second(&mut self, s: u64) -> &mut Second {
        // A window is bounded (hours at most), so the vector stays small.
        let s = s.min(86_400) as usize;
        if self.seconds.len() <= s {
            self.seconds.resize_with(s + 1, Second::default);
        }
        &mut self.seconds[s]
    }
}

/// A copy of what was recorded, for the report.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub latencies: BTreeMap<String, Latency>,
    pub counts: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub timeline: Vec<TimelinePoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b.abs() * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut l = Latency::default();
        for us in 1..=10_000u64 {
            l.record_us(us);
        }
        let s = l.summary();
        assert_eq!(s.count, 10_000);
        assert!(close(s.p50_ms, 5.0), "{s:?}");
        assert!(close(s.p90_ms, 9.0), "{s:?}");
        assert!(close(s.p99_ms, 9.9), "{s:?}");
        assert!(close(s.p999_ms, 9.99), "{s:?}");
        assert!(close(s.max_ms, 10.0), "{s:?}");
        assert!(close(s.mean_ms, 5.0005), "{s:?}");
    }

    #[test]
    fn a_tail_shows_in_the_high_percentiles_only() {
        let mut l = Latency::default();
        for _ in 0..990 {
            l.record(Duration::from_millis(1));
        }
        for _ in 0..10 {
            l.record(Duration::from_millis(500));
        }
        let s = l.summary();
        assert!(close(s.p50_ms, 1.0) && close(s.p99_ms, 1.0), "{s:?}");
        assert!(close(s.p999_ms, 500.0) && close(s.max_ms, 500.0), "{s:?}");
    }

    #[test]
    fn merging_adds_counts_and_empty_is_zero() {
        let mut a = Latency::default();
        let mut b = Latency::default();
        a.record_us(100);
        b.record_us(300);
        b.record_us(300);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!(close(a.percentile_ms(50.0), 0.3));
        let empty = Latency::default().summary();
        assert_eq!((empty.count, empty.p99_ms, empty.max_ms), (0, 0.0, 0.0));
        assert!(Latency::default().distribution().is_empty());
    }

    #[test]
    fn extreme_values_are_clamped_not_lost() {
        let mut l = Latency::default();
        l.record(Duration::from_secs(10_000));
        l.record(Duration::ZERO);
        assert_eq!(l.count(), 2);
        assert!(l.summary().max_ms >= 3_599_000.0);
    }

    #[test]
    fn the_distribution_is_monotonic() {
        let mut l = Latency::default();
        for i in 0..5000u64 {
            l.record_us(i * i % 9973 + 1);
        }
        let d = l.distribution();
        assert_eq!(d.first().unwrap().0, 0.0);
        assert_eq!(d.last().unwrap().0, 100.0);
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn the_recorder_keeps_counts_errors_and_a_timeline() {
        let r = Recorder::new();
        r.count("delivered", 2, Some(0));
        r.count("delivered", 3, Some(2));
        r.latency("deliver", Duration::from_millis(2), Some(2));
        r.latency("deliver", Duration::from_millis(4), None);
        r.error("ws error frame 429", Some(1));
        r.error("ws error frame 429", None);
        let s = r.snapshot();
        assert_eq!(s.counts["delivered"], 5);
        assert_eq!(s.errors["ws error frame 429"], 2);
        assert_eq!(s.latencies["deliver"].count(), 2);
        assert_eq!(s.timeline.len(), 3);
        assert_eq!(s.timeline[1].rates["errors"], 1.0);
        assert_eq!(s.timeline[2].rates["delivered"], 3.0);
        // Per-second histograms keep 2 significant figures: enough for a chart.
        assert!(
            (s.timeline[2].p50_ms - 2.0).abs() < 0.02,
            "{:?}",
            s.timeline[2]
        );
        assert_eq!(s.timeline[1].p50_ms, 0.0);
    }
}
