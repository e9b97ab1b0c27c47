//! Everything the demo prints: the live timeline, the breaker's transitions (from its
//! `on_state_change` hook), the per-phase tables and the final summary. Colour only when
//! stdout is a terminal and `NO_COLOR` is unset.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_breaker::{State, TripPolicy, registry};
use tokio::time::Instant;

use crate::stats::PhaseStats;

static START: OnceLock<Instant> = OnceLock::new();
static COLOR: AtomicBool = AtomicBool::new(false);
/// The breaker's state as the hook last reported it (reading it through the breaker
/// would itself move an open breaker to half-open once its time is up).
static STATE: AtomicU8 = AtomicU8::new(0);
/// Every transition the hook saw, for the final checks.
static TRANSITIONS: Mutex<Vec<(State, State)>> = Mutex::new(Vec::new());
/// Whether the ticker's column header must be printed (again) before its next line.
static HEADER_DUE: AtomicBool = AtomicBool::new(true);

/// Prints one line (`println!` arguments). When stdout is gone (`demo | head`), the
/// demo has no one left to show anything to, and ends quietly instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::timeline::write_line(::std::format_args!($($arg)*))
    };
}
pub(crate) use say;

pub(crate) fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Starts the clock and decides on colour.
pub(crate) fn init() {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    COLOR.store(color, Ordering::Relaxed);
    let _ = START.set(Instant::now());
}

pub(crate) fn elapsed() -> Duration {
    START.get().map_or(Duration::ZERO, Instant::elapsed)
}

#[derive(Clone, Copy)]
pub(crate) enum Style {
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Cyan,
}

/// `text` in `style` when colour is on, as is otherwise.
pub(crate) fn paint(style: Style, text: impl std::fmt::Display) -> String {
    if !COLOR.load(Ordering::Relaxed) {
        return text.to_string();
    }
    let code = match style {
        Style::Bold => "1",
        Style::Dim => "2",
        Style::Red => "31",
        Style::Green => "32",
        Style::Yellow => "33",
        Style::Cyan => "36",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// A timeline line: the time since the start, then `text`.
pub(crate) fn line(text: &str) {
    say!(
        "{} {text}",
        paint(Style::Dim, format!("{:>6.1}s", elapsed().as_secs_f64()))
    );
}

/// A latency the way people read it.
pub(crate) fn ms(d: Option<Duration>) -> String {
    let Some(d) = d else { return "-".into() };
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

fn state_from(bits: u8) -> State {
    match bits {
        1 => State::Open,
        2 => State::HalfOpen,
        _ => State::Closed,
    }
}

fn bits(state: State) -> u8 {
    match state {
        State::Open => 1,
        State::HalfOpen => 2,
        _ => 0,
    }
}

pub(crate) fn breaker_state() -> State {
    state_from(STATE.load(Ordering::SeqCst))
}

pub(crate) fn transitions() -> Vec<(State, State)> {
    TRANSITIONS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

fn painted_state(state: State) -> String {
    let style = match state {
        State::Closed => Style::Green,
        State::Open => Style::Red,
        _ => Style::Yellow,
    };
    paint(style, state)
}

/// The `on_state_change` hook of the protected caller: prints each transition, as it
/// happens, with the reason the state machine had for it. It runs with no lock held, so
/// it may look the breaker up in the registry for its settings.
pub(crate) fn breaker_changed(name: &str, from: State, to: State) {
    STATE.store(bits(to), Ordering::SeqCst);
    TRANSITIONS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((from, to));
    let Some(settings) = registry::get(name).map(|b| b.settings()) else {
        return;
    };
    let reset = settings.reset_timeout;
    let probes = settings.max_requests;
    let reason = match (from, to) {
        (State::Closed, State::Open) => {
            let why = match settings.trip_policy {
                TripPolicy::ConsecutiveFailures(n) => {
                    format!("{n} calls in a row failed or timed out")
                }
                _ => "the trip policy fired".to_owned(),
            };
            format!("{why}; refusing calls for {reset:?}, the fallback answers them")
        }
        (State::Open, State::HalfOpen) => {
            format!("{reset:?} passed; letting {probes} probe calls through")
        }
        (State::HalfOpen, State::Open) => {
            format!("a probe failed; refusing calls for another {reset:?}")
        }
        (State::HalfOpen, State::Closed) => {
            format!("{probes} probes in a row succeeded; calls go through again")
        }
        _ => String::new(),
    };
    line(&format!(
        "{} breaker {:?}: {} -> {}  {}",
        paint(Style::Bold, "⚡"),
        name,
        painted_state(from),
        painted_state(to),
        paint(Style::Dim, reason)
    ));
}

/// Draws `n` in flight as a bar of `width` cells, each worth `per` requests.
fn bar(n: usize, per: usize, width: usize) -> String {
    let cells = n.div_ceil(per.max(1));
    if cells > width {
        format!("{}+", "█".repeat(width - 1))
    } else {
        format!("{}{}", "█".repeat(cells), " ".repeat(width - cells))
    }
}

/// The header above the ticker lines.
fn ticker_header(per: usize) {
    let unit = format!("(█ = {per} request{})", if per == 1 { "" } else { "s" });
    say!(
        "{}",
        paint(
            Style::Dim,
            format!(
                "{:>7}  {:<38}{:<21}{:<11}{unit}",
                "time", "unprotected: requests in flight", "protected: in flight", "breaker"
            )
        )
    );
}

/// One ticker line: how many requests each caller has open right now.
pub(crate) fn ticker(unprotected: usize, protected: usize, per: usize) {
    if HEADER_DUE.swap(false, Ordering::Relaxed) {
        ticker_header(per);
    }
    line(&format!(
        " {} {:>4}   {} {:>3}     {}",
        paint(Style::Red, bar(unprotected, per, 30)),
        unprotected,
        paint(Style::Green, bar(protected, per, 12)),
        protected,
        painted_state(breaker_state()),
    ));
}

/// A phase begins.
pub(crate) fn phase(number: usize, name: &str, what: &str) {
    line(&paint(
        Style::Cyan,
        format!("▶ phase {number}/4 {name}: the service {what}"),
    ));
}

const COLUMNS: [&str; 9] = [
    "calls", "ok", "failed", "timeout", "rejected", "fallback", "p50", "p99", "peak",
];

fn row(label: &str, s: &PhaseStats) -> String {
    format!(
        "{label:<13}{:>7}{:>7}{:>8}{:>9}{:>10}{:>10}{:>9}{:>9}{:>6}",
        s.calls,
        s.ok,
        s.failed,
        s.timed_out,
        s.rejected,
        s.fallback,
        ms(s.percentile(50.0)),
        ms(s.percentile(99.0)),
        s.peak_in_flight,
    )
}

/// The results of one phase, once all of its calls have finished.
pub(crate) fn phase_table(name: &str, unprotected: &PhaseStats, protected: &PhaseStats) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        paint(
            Style::Bold,
            format!("results of phase {name} (calls started in it; peak = most in flight at once)")
        )
    );
    let header = format!(
        "{:<13}{:>7}{:>7}{:>8}{:>9}{:>10}{:>10}{:>9}{:>9}{:>6}",
        "",
        COLUMNS[0],
        COLUMNS[1],
        COLUMNS[2],
        COLUMNS[3],
        COLUMNS[4],
        COLUMNS[5],
        COLUMNS[6],
        COLUMNS[7],
        COLUMNS[8]
    );
    let _ = writeln!(out, "         {}", paint(Style::Dim, header));
    let _ = writeln!(out, "         {}", row("unprotected", unprotected));
    let _ = write!(out, "         {}", row("protected", protected));
    line(&out);
    HEADER_DUE.store(true, Ordering::Relaxed);
}

/// The final side-by-side table.
pub(crate) fn summary(unprotected: &PhaseStats, protected: &PhaseStats) {
    let count = |f: fn(&PhaseStats) -> u64| (f(unprotected).to_string(), f(protected).to_string());
    let rows: Vec<(&str, (String, String))> = vec![
        ("calls", count(|s| s.calls)),
        ("answered with a price", count(|s| s.ok + s.fallback)),
        ("  fresh from the service", count(|s| s.ok)),
        ("  the last good price (fallback)", count(|s| s.fallback)),
        (
            "answered with a price within 250ms",
            count(|s| s.answered_in_time),
        ),
        ("failed (HTTP 500)", count(|s| s.failed)),
        ("timed out", count(|s| s.timed_out)),
        (
            "rejected, nothing cached",
            count(|s| s.rejected - s.fallback),
        ),
        (
            "p50 / p99 latency",
            (
                format!(
                    "{} / {}",
                    ms(unprotected.percentile(50.0)),
                    ms(unprotected.percentile(99.0))
                ),
                format!(
                    "{} / {}",
                    ms(protected.percentile(50.0)),
                    ms(protected.percentile(99.0))
                ),
            ),
        ),
        (
            "slowest call",
            (ms(unprotected.slowest()), ms(protected.slowest())),
        ),
        (
            "peak requests in flight",
            (
                unprotected.peak_in_flight.to_string(),
                protected.peak_in_flight.to_string(),
            ),
        ),
    ];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{}",
        paint(
            Style::Bold,
            format!(
                "{:<36}{:>14}{:>14}",
                "summary: same service, same load", "unprotected", "protected"
            )
        )
    );
    for (label, (u, p)) in rows {
        let _ = writeln!(
            out,
            "{label:<36}{}{}",
            paint(Style::Red, format!("{u:>14}")),
            paint(Style::Green, format!("{p:>14}"))
        );
    }
    say!("{}", out.trim_end());
}
