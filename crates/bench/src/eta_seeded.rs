//! ETA seeded from past runs: a plan's second run replayed through the core's `Reporter` on
//! explicit instants (no sleeping), once with the seed of its first run (`EtaSeed`, made
//! from that run's events as the store makes it) and once without, against the true time
//! left.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidemark_core::job::plan_of;
use tidemark_core::progress::Reporter;
use tidemark_core::{
    Control, EtaSeed, EventLog, JobKind, JobSpec, ProgressEvent, SnapshotSpec, Step,
};

use crate::data::Rng;

/// Where the error is read, as shares of the run's wall time behind it (a snapshot's percent
/// is unknown while it browses, so "done" cannot be its percent).
pub const CHECKPOINTS: [f64; 2] = [0.05, 0.10];
/// The error at a checkpoint is the mean over the ticks from it to this share further.
pub const WINDOW: f64 = 0.01;
/// How often the reporter is fed: its default emit interval.
pub const TICK_SECS: f64 = 0.1;
/// The first run: files, megabytes, base speed factor.
pub const FILES: u64 = 20_000;
pub const MB_PER_FILE: u64 = 2;
/// At the base speed: listing, stat-ing, compressing (files/s, files/s, MB/s). The first
/// run takes about 10 minutes.
const RATES: [f64; 3] = [1000.0, 800.0, 75.0];
/// Speed noise: a new factor, uniform in 1 ± this, every second.
const NOISE: f64 = 0.3;

/// How the second run differs from the first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    /// Its size over the first run's.
    pub size: f64,
    /// Its speed over the first run's.
    pub speed: f64,
}

pub const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "same tree",
        size: 1.0,
        speed: 1.0,
    },
    Scenario {
        name: "10 % more files",
        size: 1.1,
        speed: 1.0,
    },
    Scenario {
        name: "a busier machine (0.8× speed)",
        size: 1.0,
        speed: 0.8,
    },
    Scenario {
        name: "half the data",
        size: 0.5,
        speed: 1.0,
    },
    Scenario {
        name: "twice the data, 1.25× speed",
        size: 2.0,
        speed: 1.25,
    },
];

/// Errors in percent of the true remaining time at each checkpoint; `None`: no estimate.
#[derive(Debug, Clone)]
pub struct SeededResult {
    pub scenario: Scenario,
    pub total_secs: f64,
    pub seeded: [Option<f64>; 2],
    pub unseeded: [Option<f64>; 2],
}

/// A reporter's events, each with the simulated second it was logged at.
type Seen = Vec<(f64, Arc<ProgressEvent>)>;

fn spec() -> JobSpec {
    JobSpec::Snapshot(SnapshotSpec {
        source: "/data".into(),
        destination: "/backups".into(),
        name: None,
    })
}

fn reporter(seed: Option<EtaSeed>) -> Reporter {
    Reporter::new(
        "bench",
        JobKind::Snapshot,
        EventLog::new(),
        Control::new(),
        plan_of(&spec()),
    )
    .with_eta_seed(seed)
}

/// One snapshot of `files` files fed to `reps` in lockstep, tick by tick, with noisy speed;
/// returns each reporter's (seconds, event) and the run's length.
fn simulate(
    reps: &mut [&mut Reporter],
    files: u64,
    speed: f64,
    noise_seed: u64,
) -> (Vec<Seen>, f64) {
    let t0 = Instant::now();
    let at = |t: f64| t0 + Duration::from_secs_f64(t);
    let mut rng = Rng::new(noise_seed);
    let mut seen: Vec<Seen> = vec![Vec::new(); reps.len()];
    let record = |reps: &mut [&mut Reporter], seen: &mut Vec<Seen>, t: f64| {
        for (r, s) in reps.iter().zip(seen.iter_mut()) {
            if let Some(e) = r.last_event()
                && s.last()
                    .is_none_or(|(_, l): &(f64, Arc<ProgressEvent>)| l.seq != e.seq)
            {
                s.push((t, e.clone()));
            }
        }
    };
    let bytes = files * MB_PER_FILE * 1_000_000;
    let mut t = 0.0;
    for r in reps.iter_mut() {
        r.start_step_at(at(t), Step::Waiting, None, None);
    }
    record(reps, &mut seen, t);
    let mut noise = 1.0;
    let steps = [
        (Step::Browsing, None, None, files as f64, RATES[0]),
        (Step::Manifest, Some(files), None, files as f64, RATES[1]),
        (
            Step::Compressing,
            Some(files),
            Some(bytes),
            bytes as f64,
            RATES[2] * 1e6,
        ),
    ];
    for (step, total, bytes_total, work, rate) in steps {
        for r in reps.iter_mut() {
            r.start_step_at(at(t), step, total, bytes_total);
        }
        record(reps, &mut seen, t);
        let mut done = 0.0;
        let mut tick = 0u64;
        while done < work {
            if tick.is_multiple_of((1.0 / TICK_SECS) as u64) {
                noise = 1.0 - NOISE + 2.0 * NOISE * rng.unit();
            }
            tick += 1;
            let step_work = (rate * speed * noise * TICK_SECS).min(work - done);
            let before = done;
            done += step_work;
            t += TICK_SECS;
            let (items, b) = if step == Step::Compressing {
                let per_file = (MB_PER_FILE * 1_000_000) as f64;
                let items = (done / per_file).floor() - (before / per_file).floor();
                (items as u64, done.round() as u64 - before.round() as u64)
            } else {
                (done.round() as u64 - before.round() as u64, 0)
            };
            for r in reps.iter_mut() {
                r.advance_at(at(t), items, b);
            }
            record(reps, &mut seen, t);
        }
    }
    for r in reps.iter_mut() {
        r.start_step_at(at(t), Step::Uploading, Some(files), Some(bytes));
        r.finish(&Ok("/backups/x.tar.zst".into()));
    }
    record(reps, &mut seen, t);
    (seen, t)
}

/// The seed of the first run, from its events stamped on the simulated clock.
fn first_run_seed() -> EtaSeed {
    let mut rep = reporter(None);
    let (mut seen, _) = simulate(&mut [&mut rep], FILES, 1.0, 0x7365_6564);
    let base = chrono::Utc::now();
    let events: Vec<ProgressEvent> = seen
        .remove(0)
        .into_iter()
        .map(|(t, e)| ProgressEvent {
            timestamp: (base + chrono::Duration::milliseconds((t * 1000.0).round() as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ..(*e).clone()
        })
        .collect();
    EtaSeed::from_runs([events.as_slice()]).unwrap_or_else(|| EtaSeed {
        kind: JobKind::Snapshot,
        runs: 0,
        steps: Vec::new(),
    })
}

/// The mean error at each checkpoint of one reporter's events; no estimate counts as 100 %.
fn errors(seen: &[(f64, Arc<ProgressEvent>)], end: f64) -> [Option<f64>; 2] {
    std::array::from_fn(|k| {
        let from = CHECKPOINTS[k] * end;
        let to = (CHECKPOINTS[k] + WINDOW) * end;
        let (mut sum, mut n, mut estimated) = (0.0, 0u32, 0u32);
        for (t, e) in seen.iter().filter(|(t, _)| *t >= from && *t < to) {
            let truth = end - t;
            n += 1;
            sum += e.eta_seconds.map_or(100.0, |eta| {
                estimated += 1;
                (eta - truth).abs() / truth * 100.0
            });
        }
        (estimated > 0).then(|| sum / f64::from(n.max(1)))
    })
}

pub fn run_all() -> Vec<SeededResult> {
    let seed = first_run_seed();
    SCENARIOS
        .iter()
        .enumerate()
        .map(|(i, &scenario)| {
            let mut seeded = reporter(Some(seed.clone()));
            let mut unseeded = reporter(None);
            let files = (FILES as f64 * scenario.size).round() as u64;
            let (seen, end) = simulate(
                &mut [&mut seeded, &mut unseeded],
                files,
                scenario.speed,
                0x0072_756e + i as u64,
            );
            SeededResult {
                scenario,
                total_secs: end,
                seeded: errors(&seen[0], end),
                unseeded: errors(&seen[1], end),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_second_run_has_an_estimate_early_and_a_close_one_on_the_same_tree() {
        let results = run_all();
        for r in &results {
            assert!(r.seeded.iter().all(Option::is_some), "{r:?}");
        }
        let same = &results[0];
        assert!(same.seeded[0].is_some_and(|e| e < 15.0), "{same:?}");
    }
}
