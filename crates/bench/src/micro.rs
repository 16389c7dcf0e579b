//! The small parts, timed with criterion: what one file and one event cost a job's progress
//! reporting, and what one event costs to encode for the history and the progress streams.
//! Row 5's direct estimate is built from the first two.
//!
//! Criterion drives warm-up and sampling; each sample's time per call is kept here (through
//! `iter_custom`) so the page shows the harness's own figures, in the same median and min–max
//! form as the other rows.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tidemark_core::event::JobKind;
use tidemark_core::progress::{DEFAULT_EMIT_INTERVAL, Reporter};
use tidemark_core::{Control, Counters, EventLog, ItemProgress, ItemState, SnapshotSpec, Step};

use crate::measure::{Stats, stats};

/// One small part: nanoseconds per call, over criterion's samples.
#[derive(Debug, Clone)]
pub struct Micro {
    pub what: &'static str,
    pub ns: Option<Stats>,
}

/// The three parts, in page order.
#[derive(Debug, Clone)]
pub struct Parts {
    /// `advance(1, n)` and `checkpoint()`, the calls an engine makes per file, at the default
    /// emit interval (so mostly without emitting).
    pub per_file: Micro,
    /// One emitted event: counters to `ProgressEvent`, speed and ETA, appended to the log.
    pub per_event: Micro,
    /// One event of a sync with three sources to JSON.
    pub to_json: Micro,
}

const SAMPLES: usize = 50;
const SMOKE_SAMPLES: usize = 10;

pub fn run(smoke: bool) -> Parts {
    eprintln!("[bench] small parts (criterion)");
    let mut c = criterion(smoke);

    let mut rep = reporter(DEFAULT_EMIT_INTERVAL);
    let per_file = measure(&mut c, smoke, "progress: per file", || {
        rep.advance(1, 4096);
        black_box(rep.checkpoint().is_ok());
    });

    let mut rep = reporter(Duration::ZERO);
    let per_event = measure(&mut c, smoke, "progress: per event", || {
        rep.advance(1, 4096);
    });

    let event = sample_event();
    let to_json = measure(&mut c, smoke, "event to JSON", || {
        black_box(serde_json::to_vec(black_box(&event)).map(|v| v.len()).ok());
    });

    Parts {
        per_file: Micro {
            what: "per file: `advance(1, n)` + `checkpoint()` at the default emit interval",
            ns: per_file,
        },
        per_event: Micro {
            what: "per event: counters to a `ProgressEvent`, speed and ETA, appended to the log",
            ns: per_event,
        },
        to_json: Micro {
            what: "one event of a sync with 3 sources to JSON (history and progress streams)",
            ns: to_json,
        },
    }
}

/// Criterion as every part here is measured: its samples, warm-up and measuring time.
pub fn criterion(smoke: bool) -> Criterion {
    Criterion::default()
        .without_plots()
        .sample_size(if smoke { SMOKE_SAMPLES } else { SAMPLES })
        .warm_up_time(if smoke {
            Duration::from_millis(20)
        } else {
            Duration::from_secs(1)
        })
        .measurement_time(if smoke {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(3)
        })
}

/// Times `f` with criterion and returns the time per call of each measured sample.
pub fn measure(c: &mut Criterion, smoke: bool, id: &str, mut f: impl FnMut()) -> Option<Stats> {
    let samples = if smoke { SMOKE_SAMPLES } else { SAMPLES };
    let per_call = RefCell::new(Vec::new());
    c.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            let took = start.elapsed();
            per_call
                .borrow_mut()
                .push(took.as_nanos() as f64 / iters.max(1) as f64);
            took
        })
    });
    // Criterion calls the routine during its warm-up too; the measured samples come last.
    let all = per_call.into_inner();
    stats(&all[all.len().saturating_sub(samples)..])
}

/// A reporter in the middle of a snapshot's compressing step.
fn reporter(interval: Duration) -> Reporter {
    let spec = SnapshotSpec {
        source: "data".into(),
        destination: "out".into(),
        name: None,
    };
    // A short log: the per-event part appends millions of events.
    let log = EventLog::with_capacity(1024);
    let mut rep = Reporter::new(
        "bench",
        JobKind::Snapshot,
        log,
        Control::new(),
        tidemark_core::snapshot::plan_for(&spec),
    )
    .with_interval(interval);
    rep.queued();
    rep.begin(
        Step::Compressing,
        Some(u64::MAX / 2),
        Some(u64::MAX / 2),
        "Compressing",
    );
    rep
}

/// An event of a sync with three sources, in the middle of its copying step.
pub fn sample_event() -> tidemark_core::ProgressEvent {
    let log = EventLog::with_capacity(16);
    let mut rep = Reporter::new(
        "01a23261-b8c4-7d2e-9f10-3a4b5c6d7e8f",
        JobKind::Sync,
        log.clone(),
        Control::new(),
        tidemark_core::sync::plan(),
    );
    rep.queued();
    rep.begin(Step::Copying, Some(30_000), Some(3 << 30), "Copying");
    rep.set_items(
        ["photos", "documents", "music"]
            .iter()
            .map(|name| ItemProgress {
                counters: Counters {
                    processed: 4_115,
                    total: Some(10_000),
                    bytes_done: 1 << 28,
                    bytes_total: Some(1 << 30),
                },
                state: ItemState::Running,
                ..ItemProgress::pending(*name)
            })
            .collect(),
    );
    rep.advance(12_345, 1 << 30);
    rep.flush();
    log.latest()
        .map(|e| (*e).clone())
        .unwrap_or_else(|| panic!("the reporter emitted no event"))
}
