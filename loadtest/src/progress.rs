//! A progress bar per phase (setup, warm-up, window, drain) with live rates. Hidden with
//! `--quiet` and when stderr is not a terminal (indicatif's own check), so tests stay quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self { quiet }
    }

    fn bar(&self, len: u64) -> ProgressBar {
        if self.quiet {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(len)
        }
    }

    /// A bar counting `len` items of setup work.
    pub fn count(&self, phase: &str, len: u64) -> ProgressBar {
        let pb = self.bar(len);
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>9.bold} [{bar:30.cyan/blue}] {pos}/{len} {per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_prefix(phase.to_string());
        pb
    }

    /// A bar over `length` of wall time; the message carries the live rates.
    pub fn timed(&self, phase: &str, length: Duration) -> ProgressBar {
        let pb = self.bar(length.as_millis().max(1) as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{prefix:>9.bold} [{bar:30.green/blue}] {elapsed:>3}/{len_s} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "len_s",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}s", s.len().unwrap_or(0) / 1000);
                },
            ),
        );
        pb.set_prefix(phase.to_string());
        pb.enable_steady_tick(Duration::from_millis(250));
        pb
    }

    /// Prints a line above the bars (or to stderr when hidden and not quiet).
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }
}
