//! Progress of a running simulation, shown on standard error.
//!
//! The simulation publishes its step count in an atomic (see
//! `Simulation::set_progress`); a thread of this module reads it a few
//! times a second, so the step loop pays one relaxed store per step and
//! never waits for the display. Nothing is shown for the first second, so
//! short runs stay silent. On a terminal the progress is an `indicatif`
//! bar; otherwise (a log file, a pipe, a batch job) it is a plain line
//! every few seconds in Brian2's wording, so logs read as Brian2's do:
//! `0.5 s (50%) simulated in 10s, estimated 10s remaining.`

use crate::console::errln;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Wall time before anything is shown.
const DELAY: Duration = Duration::from_secs(1);
/// Wall time between two plain lines.
const LINE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the bar is redrawn.
const BAR_TICK: Duration = Duration::from_millis(100);
/// Sets both the delay and the line interval, in seconds, so that tests
/// can see the plain lines of a run lasting a fraction of a second.
const INTERVAL_VAR: &str = "RHEO_PROGRESS_INTERVAL";

/// A running progress display; [`Progress::finish`] ends it.
pub struct Progress {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the display shows: `steps` goes from `first` to `first + total`.
struct Run {
    steps: Arc<AtomicU64>,
    first: u64,
    total: u64,
    dt: f64,
    started: Instant,
}

impl Run {
    /// Steps done since the start, and the fraction of the whole.
    fn done(&self) -> (u64, f64) {
        let done = self
            .steps
            .load(Ordering::Relaxed)
            .saturating_sub(self.first)
            .min(self.total);
        (done, done as f64 / self.total as f64)
    }
}

impl Progress {
    /// Starts showing the progress of `total` steps of length `dt`
    /// seconds, counted by `steps` from `first`. Shows nothing when
    /// `quiet` or when there are no steps to run.
    pub fn start(steps: Arc<AtomicU64>, first: u64, total: u64, dt: f64, quiet: bool) -> Progress {
        if quiet || total == 0 {
            return Progress {
                stop: None,
                thread: None,
            };
        }
        let interval = std::env::var(INTERVAL_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64);
        let run = Run {
            steps,
            first,
            total,
            dt,
            started: Instant::now(),
        };
        let (stop, stopped) = channel::<()>();
        let terminal = std::io::stderr().is_terminal();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let delay = interval.unwrap_or(DELAY);
                // Waiting on the channel rather than sleeping lets
                // `finish` end the thread at once.
                let wait =
                    |d: Duration| matches!(stopped.recv_timeout(d), Err(RecvTimeoutError::Timeout));
                if !wait(delay) {
                    return;
                }
                if terminal {
                    show_bar(&run, wait);
                } else {
                    show_lines(&run, interval.unwrap_or(LINE_INTERVAL), wait);
                }
            })
            .ok();
        Progress {
            stop: Some(stop),
            thread,
        }
    }

    /// Stops the display (the thread prints its last line first).
    pub fn finish(mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The bar, redrawn every tick until `wait` says the run is over.
fn show_bar(run: &Run, wait: impl Fn(Duration) -> bool) {
    let bar = ProgressBar::with_draw_target(Some(run.total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30.cyan/blue} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    loop {
        let (done, fraction) = run.done();
        bar.set_position(done);
        bar.set_message(bar_message(run, done, fraction));
        if !wait(BAR_TICK) {
            break;
        }
    }
    bar.finish_and_clear();
}

/// `0.42 s / 1 s (42%), 3s elapsed, 4s left, 0.14× real time`.
fn bar_message(run: &Run, done: u64, fraction: f64) -> String {
    let elapsed = run.started.elapsed().as_secs_f64();
    let simulated = done as f64 * run.dt;
    let mut text = format!(
        "{} / {} ({}%), {} elapsed",
        seconds(simulated),
        seconds(run.total as f64 * run.dt),
        (fraction * 100.0) as u32,
        format_time(elapsed)
    );
    if fraction > 0.0 {
        let remaining = (1.0 - fraction) / fraction * elapsed;
        text.push_str(&format!(", {} left", format_time(remaining)));
    }
    if elapsed > 0.0 && simulated > 0.0 {
        text.push_str(&format!(
            ", {}× real time",
            significant(simulated / elapsed)
        ));
    }
    text
}

/// Brian2's text report: a first line saying what runs, then one line
/// per interval, then the closing line.
fn show_lines(run: &Run, interval: Duration, wait: impl Fn(Duration) -> bool) {
    errln!(
        "Starting simulation at t={} for a duration of {}",
        seconds(run.first as f64 * run.dt),
        seconds(run.total as f64 * run.dt)
    );
    loop {
        let (done, fraction) = run.done();
        let elapsed = run.started.elapsed().as_secs_f64();
        if done == run.total {
            break;
        }
        let mut line = format!(
            "{} ({}%) simulated in {}",
            seconds(done as f64 * run.dt),
            (fraction * 100.0) as u32,
            format_time(elapsed)
        );
        if fraction > 0.0 {
            let remaining = ((1.0 - fraction) / fraction * elapsed).round();
            line.push_str(&format!(
                ", estimated {} remaining.",
                format_time(remaining)
            ));
        }
        errln!("{line}");
        if !wait(interval) {
            break;
        }
    }
    let (done, fraction) = run.done();
    errln!(
        "{} ({}%) simulated in {}",
        seconds(done as f64 * run.dt),
        (fraction * 100.0) as u32,
        format_time(run.started.elapsed().as_secs_f64())
    );
}

/// A simulated time in seconds, as Brian2 prints a quantity: `0.5 s`.
pub fn seconds(t: f64) -> String {
    format!("{} s", significant(t))
}

/// `x` with at most four significant digits and no trailing zeros.
pub fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (3 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A wall time as Brian2 writes it: `1h 2m 3s`, `42s`, `< 1s`.
pub fn format_time(seconds: f64) -> String {
    let mut remaining = seconds.max(0.0) as u64;
    let mut parts = Vec::new();
    for (divisor, letter) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        let n = remaining / divisor;
        remaining -= n * divisor;
        if n > 0 || !parts.is_empty() {
            parts.push(format!("{n}{letter}"));
        }
    }
    if parts.is_empty() {
        "< 1s".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_brian2_writes_them() {
        assert_eq!(format_time(0.4), "< 1s");
        assert_eq!(format_time(10.0), "10s");
        assert_eq!(format_time(3723.0), "1h 2m 3s");
        assert_eq!(format_time(3600.0), "1h 0m 0s");
        assert_eq!(seconds(0.5), "0.5 s");
        assert_eq!(seconds(1.0), "1 s");
        assert_eq!(seconds(0.123456), "0.1235 s");
        assert_eq!(significant(1234.4), "1234");
    }
}
