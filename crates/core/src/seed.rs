//! Estimates from past runs: an [`EtaSeed`] says how long each step of a plan's earlier runs
//! took for how much work, so a new run has an ETA from its first event, long before its own
//! speed can be measured (and while a step's total is still unknown, as in browsing).
//!
//! A step's time is predicted from this run's own totals once the step knows them (time per
//! byte, else per item, of the past runs), and from the past runs' totals before, scaled by
//! how this run's size compared with theirs in the steps already seen.

use serde::{Deserialize, Serialize};

use crate::event::{Counters, JobKind, JobState, ProgressEvent, Step};

/// What past runs of the same work took, step by step (means over the runs).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtaSeed {
    pub kind: JobKind,
    /// How many runs it was made from.
    pub runs: u32,
    /// In the order the runs went through them.
    pub steps: Vec<StepHistory>,
}

/// One step of past runs: its working time (paused and queued time left out) and how much it
/// did, each the mean over the runs that went through it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepHistory {
    pub step: Step,
    pub secs: f64,
    pub items: f64,
    pub bytes: f64,
}

/// One run's step, as read from its events.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    secs: f64,
    items: u64,
    bytes: u64,
}

fn millis(e: &ProgressEvent) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&e.timestamp)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// How much a step had done (or knew it had to do) at `c`.
fn amount(c: &Counters) -> (u64, u64) {
    (
        c.processed.max(c.total.unwrap_or(0)),
        c.bytes_done.max(c.bytes_total.unwrap_or(0)),
    )
}

/// A completed run's steps in order; `None` for a run that did not complete.
fn measure(events: &[ProgressEvent]) -> Option<Vec<(Step, Measured)>> {
    if events.last()?.state != JobState::Completed {
        return None;
    }
    let mut steps: Vec<(Step, Measured)> = Vec::new();
    for pair in events.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if !matches!(a.state, JobState::Running | JobState::Paused) {
            continue;
        }
        let at = match steps.iter().position(|(s, _)| *s == a.step) {
            Some(i) => i,
            None => {
                steps.push((a.step, Measured::default()));
                steps.len() - 1
            }
        };
        let m = &mut steps[at].1;
        (m.items, m.bytes) = amount(&a.counters);
        if a.state == JobState::Running
            && let (Some(ta), Some(tb)) = (millis(a), millis(b))
        {
            m.secs += (tb - ta).max(0) as f64 / 1000.0;
        }
    }
    Some(steps)
}

impl EtaSeed {
    /// The seed of the completed runs among `runs` (each a run's events in seq order), all of
    /// the first one's kind; `None` if there is none.
    pub fn from_runs<'a>(runs: impl IntoIterator<Item = &'a [ProgressEvent]>) -> Option<EtaSeed> {
        let mut kind = None;
        let mut sums: Vec<(Step, Measured, u32)> = Vec::new();
        let mut count = 0u32;
        for events in runs {
            let Some(first) = events.first() else {
                continue;
            };
            if *kind.get_or_insert(first.kind) != first.kind {
                continue;
            }
            let Some(steps) = measure(events) else {
                continue;
            };
            count += 1;
            for (step, m) in steps {
                let at = match sums.iter().position(|(s, ..)| *s == step) {
                    Some(i) => i,
                    None => {
                        sums.push((step, Measured::default(), 0));
                        sums.len() - 1
                    }
                };
                let (_, sum, n) = &mut sums[at];
                sum.secs += m.secs;
                sum.items += m.items;
                sum.bytes += m.bytes;
                *n += 1;
            }
        }
        let kind = kind?;
        (count > 0).then(|| EtaSeed {
            kind,
            runs: count,
            steps: sums
                .into_iter()
                .map(|(step, sum, n)| {
                    let n = f64::from(n);
                    StepHistory {
                        step,
                        secs: sum.secs / n,
                        items: sum.items as f64 / n,
                        bytes: sum.bytes as f64 / n,
                    }
                })
                .collect(),
        })
    }

    fn history(&self, step: Step) -> Option<&StepHistory> {
        self.steps.iter().find(|h| h.step == step)
    }
}

/// How far a run is, for an estimate from its seed.
#[derive(Debug, Clone, Copy)]
pub struct Position<'a> {
    /// The run's steps, in order.
    pub steps: &'a [Step],
    pub current: usize,
    pub counters: Counters,
    /// Working seconds spent in the current step so far.
    pub in_step: f64,
}

/// A seed applied to one run: remembers how this run's size compares with the past ones'.
#[derive(Debug, Clone)]
pub struct Seeded {
    seed: EtaSeed,
    /// This run's work over the past runs' mean, from the last step whose total was known.
    scale: Option<f64>,
}

/// Past the end of what a step is expected to take, its rest is taken as this share of it:
/// a step that runs long is near its end, but not done.
const OVERRUN_SHARE: f64 = 0.05;

impl Seeded {
    pub fn new(seed: EtaSeed) -> Self {
        Self { seed, scale: None }
    }

    /// Seconds the rest of the run should take, or `None` if the seed knows nothing of the
    /// current step (another kind of work).
    pub fn remaining(&mut self, at: &Position<'_>) -> Option<f64> {
        let step = *at.steps.get(at.current)?;
        let h = self.seed.history(step)?;
        let c = at.counters;
        let own = match (c.bytes_total, c.total) {
            (Some(b), _) if h.bytes > 0.0 => Some(b as f64 / h.bytes),
            (_, Some(t)) if h.items > 0.0 => Some(t as f64 / h.items),
            _ => None,
        };
        if let Some(s) = own {
            self.scale = Some(s.clamp(0.0, 1000.0));
        }
        let scale = self.scale.unwrap_or(1.0);
        let expected = h.secs * own.map_or(scale, |s| s.clamp(0.0, 1000.0));
        let done = match (c.bytes_total, c.total) {
            (Some(b), _) if b > 0 => Some(c.bytes_done as f64 / b as f64),
            (_, Some(t)) if t > 0 => Some(c.processed as f64 / t as f64),
            (Some(0), _) | (_, Some(0)) => Some(1.0),
            // A total not known yet (browsing, scanning): as far as the past runs' count.
            _ if h.items > 0.0 => Some(c.processed as f64 / (h.items * scale)),
            _ => None,
        };
        let left = match done {
            Some(f) => expected * (1.0 - f.min(1.0)),
            None => expected - at.in_step,
        }
        .max(expected * OVERRUN_SHARE);
        let later: f64 = at.steps[at.current + 1..]
            .iter()
            .filter_map(|s| self.seed.history(*s))
            .map(|h| h.secs * scale)
            .sum();
        Some(left + later)
    }
}

/// How long this run's own estimate must have been known before it weighs fully against the
/// seeded one (it is noisy at first, and jumps at step changes).
pub const LIVE_SETTLE_SECS: f64 = 10.0;

/// The seeded and the live remaining time mixed: the live one's weight is the share of the
/// run already behind (`elapsed / (elapsed + seeded)`), times how settled it is (`live_age`
/// over [`LIVE_SETTLE_SECS`], at most 1), so the blend moves smoothly from the seed to the
/// run's own figure and ends as it.
pub fn blend(seeded: f64, live: f64, elapsed: f64, live_age: f64) -> f64 {
    let share = if elapsed + seeded > 0.0 {
        elapsed / (elapsed + seeded)
    } else {
        1.0
    };
    let w = share * (live_age / LIVE_SETTLE_SECS).clamp(0.0, 1.0);
    w * live + (1.0 - w) * seeded
}

/// An estimate is shown as one, not as a precise figure: whole seconds under 10 s, two
/// significant digits above (347 s is "350 s"), never under 1 s.
pub fn round_estimate(secs: f64) -> f64 {
    if secs < 10.0 {
        return secs.round().max(1.0);
    }
    let unit = 10f64.powi(secs.log10().floor() as i32 - 1);
    (secs / unit).round() * unit
}

#[cfg(test)]
#[path = "seed_tests.rs"]
mod tests;
