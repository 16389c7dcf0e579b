//! The engines' side of progress: a [`Reporter`] holds the live counters of one run and turns
//! them into events in the job's log — at a bounded rate for counter updates, at once for step
//! changes, pauses and the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::error::{Cancelled, JobError};
use crate::eta::EtaEstimator;
use crate::event::{
    Counters, EtaSource, ItemProgress, JobKind, JobState, ProgressEvent, Step, Warning,
    now_timestamp,
};
use crate::log::EventLog;
use crate::resume::{CheckpointError, NoResume, ResumeState};
use crate::seed::{EtaSeed, Position, Seeded, blend, round_estimate};

/// How often counter updates reach the log. Consumers throttle further for display.
pub const DEFAULT_EMIT_INTERVAL: Duration = Duration::from_millis(100);

/// The steps of a run with their expected share of the whole (summing to 1). The terminal
/// step is implied and comes last.
#[derive(Debug, Clone)]
pub struct StepPlan(pub Vec<(Step, f64)>);

impl StepPlan {
    /// The steps a job shows: the planned ones, then its end.
    pub fn total_steps(&self) -> u32 {
        self.0.len() as u32 + 1
    }
}

#[derive(Debug)]
pub struct Reporter {
    job_id: String,
    kind: JobKind,
    log: Arc<EventLog>,
    control: Control,
    interval: Duration,
    plan: StepPlan,
    current: usize,
    state: JobState,
    counters: Counters,
    message: Option<String>,
    items: Vec<ItemProgress>,
    warnings: Vec<Warning>,
    percent_floor: Option<f64>,
    eta: EtaEstimator,
    speed: EtaEstimator,
    last_emit: Option<Instant>,
    last: Option<Arc<ProgressEvent>>,
    resume: Box<dyn ResumeState>,
    resumed: bool,
    seed: Option<Seeded>,
    /// When the run first ran, and its current step began (both moved on by pauses).
    running_since: Option<Instant>,
    step_since: Option<Instant>,
    /// Since when this run's own ETA has been known without a break.
    live_since: Option<Instant>,
}

impl std::fmt::Debug for dyn ResumeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResumeState")
    }
}

impl Reporter {
    pub fn new(
        job_id: impl Into<String>,
        kind: JobKind,
        log: Arc<EventLog>,
        control: Control,
        plan: StepPlan,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            kind,
            log,
            control,
            interval: DEFAULT_EMIT_INTERVAL,
            plan,
            current: 0,
            state: JobState::Queued,
            counters: Counters::default(),
            message: None,
            items: Vec::new(),
            warnings: Vec::new(),
            percent_floor: None,
            eta: EtaEstimator::new(),
            speed: EtaEstimator::new(),
            last_emit: None,
            last: None,
            resume: Box::new(NoResume),
            resumed: false,
            seed: None,
            running_since: None,
            step_since: None,
            live_since: None,
        }
    }

    /// Estimates from past runs of the same work: the run has an ETA from its first events,
    /// blended into its own as that settles.
    pub fn with_eta_seed(mut self, seed: Option<EtaSeed>) -> Self {
        self.seed = seed.map(Seeded::new);
        self
    }

    /// Where this run keeps what a later run needs; `resumed` says this run continues an
    /// interrupted one (and may find its saved state there).
    pub fn with_resume_state(mut self, state: Box<dyn ResumeState>, resumed: bool) -> Self {
        self.resume = state;
        self.resumed = resumed;
        self
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// A value an earlier run of this job saved under `key`.
    pub fn saved<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        if !self.resumed {
            return None;
        }
        self.resume
            .load(key)
            .and_then(|v| serde_json::from_str(&v).ok())
    }

    /// Saves `value` for a later run. Failing to save only costs a resume its shortcut, so
    /// it is a warning, not an error.
    pub fn save<T: serde::Serialize>(&mut self, key: &str, value: &T) {
        let saved = serde_json::to_string(value)
            .map_err(CheckpointError::new)
            .and_then(|v| self.resume.save(key, &v));
        if let Err(e) = saved {
            self.warn(
                key,
                format!("progress checkpoint not saved, a resume will redo this step: {e}"),
            );
        }
    }

    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Starts from a percent already reached by an earlier, interrupted run of the same job.
    pub fn with_percent_floor(mut self, percent: Option<f64>) -> Self {
        self.percent_floor = percent;
        self
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    pub fn set_plan(&mut self, plan: StepPlan) {
        self.plan = plan;
    }

    pub fn total_steps(&self) -> u32 {
        self.plan.total_steps()
    }

    pub fn step(&self) -> Step {
        self.plan
            .0
            .get(self.current)
            .map(|s| s.0)
            .unwrap_or(Step::Waiting)
    }

    /// The last event this reporter put in the log.
    pub fn last_event(&self) -> Option<&Arc<ProgressEvent>> {
        self.last.as_ref()
    }

    /// Emits the first event of a run (state `queued`, step 1).
    pub fn queued(&mut self) {
        self.state = JobState::Queued;
        self.emit();
    }

    /// [`Self::start_step`] with the message the step opens with.
    pub fn begin(
        &mut self,
        step: Step,
        total: Option<u64>,
        bytes_total: Option<u64>,
        message: impl Into<String>,
    ) {
        self.enter(
            Instant::now(),
            step,
            total,
            bytes_total,
            Some(message.into()),
        );
    }

    /// Moves to `step`, showing the last counters of the step being left first.
    pub fn start_step(&mut self, step: Step, total: Option<u64>, bytes_total: Option<u64>) {
        self.enter(Instant::now(), step, total, bytes_total, None);
    }

    /// [`Self::start_step`] at `now`: replays (tests, benchmarks) run on explicit instants.
    pub fn start_step_at(
        &mut self,
        now: Instant,
        step: Step,
        total: Option<u64>,
        bytes_total: Option<u64>,
    ) {
        self.enter(now, step, total, bytes_total, None);
    }

    fn enter(
        &mut self,
        now: Instant,
        step: Step,
        total: Option<u64>,
        bytes_total: Option<u64>,
        message: Option<String>,
    ) {
        self.emit_if_changed(now);
        self.state = JobState::Running;
        self.running_since.get_or_insert(now);
        self.step_since = Some(now);
        if let Some(idx) = self.plan.0.iter().position(|(s, _)| *s == step) {
            self.current = idx;
        }
        self.counters = Counters {
            processed: 0,
            total,
            bytes_done: 0,
            bytes_total,
        };
        self.message = message;
        self.speed = EtaEstimator::new();
        self.emit_at(now);
    }

    pub fn set_totals(&mut self, total: Option<u64>, bytes_total: Option<u64>) {
        self.counters.total = total;
        self.counters.bytes_total = bytes_total;
    }

    pub fn set_message(&mut self, message: impl Into<String>) {
        self.message = Some(message.into());
    }

    /// Back to the message the state and step give.
    pub fn clear_message(&mut self) {
        self.message = None;
    }

    /// Counts finished work in the current step; shown at the next tick.
    pub fn advance(&mut self, items: u64, bytes: u64) {
        self.advance_at(Instant::now(), items, bytes);
    }

    /// [`Self::advance`] at `now`.
    pub fn advance_at(&mut self, now: Instant, items: u64, bytes: u64) {
        self.counters.processed += items;
        self.counters.bytes_done += bytes;
        self.tick_at(now);
    }

    pub fn bytes_done(&self) -> u64 {
        self.counters.bytes_done
    }

    pub fn processed(&self) -> u64 {
        self.counters.processed
    }

    pub fn set_items(&mut self, items: Vec<ItemProgress>) {
        self.items = items;
    }

    pub fn item(&mut self, idx: usize) -> &mut ItemProgress {
        &mut self.items[idx]
    }

    pub fn items(&self) -> &[ItemProgress] {
        &self.items
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Emits if the interval since the last event has passed.
    pub fn tick(&mut self) {
        self.tick_at(Instant::now());
    }

    fn tick_at(&mut self, now: Instant) {
        if self
            .last_emit
            .is_none_or(|t| now.duration_since(t) >= self.interval)
        {
            self.emit_at(now);
        }
    }

    /// Emits now, whatever the interval.
    pub fn flush(&mut self) {
        self.emit();
    }

    /// Honours pause and cancel: call it between units of work. A pause is reported as a
    /// `paused` event and the return to `running` as another.
    pub fn checkpoint(&mut self) -> Result<(), Cancelled> {
        self.control.check()?;
        if !self.control.is_paused() {
            return Ok(());
        }
        let control = self.control.clone();
        self.state = JobState::Paused;
        self.emit();
        let paused_at = Instant::now();
        control.wait_while_paused()?;
        // Time spent paused is no working time: the seeded estimate's clocks skip it.
        let paused_for = paused_at.elapsed();
        for since in [&mut self.running_since, &mut self.step_since] {
            *since = since.map(|t| t + paused_for);
        }
        self.state = JobState::Running;
        // Time spent paused says nothing about speed.
        self.speed = EtaEstimator::new();
        self.eta = EtaEstimator::new();
        self.emit();
        Ok(())
    }

    /// Emits the terminal event. The log accepts nothing after it.
    pub fn finish(&mut self, outcome: &Result<String, JobError>) -> Option<Arc<ProgressEvent>> {
        let (state, error, result_url) = match outcome {
            Ok(url) => (JobState::Completed, None, Some(url.clone())),
            Err(JobError::Cancelled) => (JobState::Cancelled, None, None),
            Err(e) => (JobState::Failed, Some(e.info()), None),
        };
        self.emit_if_changed(Instant::now());
        self.state = state;
        let mut ev = self.build(Instant::now());
        ev.step = Step::for_terminal(state);
        ev.step_number = self.total_steps();
        ev.rate_per_sec = None;
        ev.eta_seconds = None;
        ev.eta_source = None;
        ev.error = error;
        ev.result_url = result_url;
        ev.message = match (state, outcome) {
            (JobState::Completed, _) => match self.warnings.len() {
                0 => "Completed".to_string(),
                1 => "Completed with 1 warning".to_string(),
                n => format!("Completed with {n} warnings"),
            },
            (JobState::Cancelled, _) => "Cancelled".to_string(),
            (_, Err(e)) => e.to_string(),
            _ => String::new(),
        };
        if state == JobState::Completed {
            ev.percent = Some(100.0);
        }
        let stored = self.log.append(ev)?;
        self.last = Some(stored.clone());
        Some(stored)
    }

    fn emit(&mut self) {
        self.emit_at(Instant::now());
    }

    /// Shows the last counters of a running step before it is left, unless the log already
    /// has them.
    fn emit_if_changed(&mut self, now: Instant) {
        let shown = self.last.as_ref().is_some_and(|l| {
            l.state == self.state
                && l.counters.processed == self.counters.processed
                && l.counters.bytes_done == self.counters.bytes_done
                && l.items == self.items
                && self.message.as_ref().is_none_or(|m| *m == l.message)
        });
        if self.state == JobState::Running && !shown {
            self.emit_at(now);
        }
    }

    fn emit_at(&mut self, now: Instant) {
        let ev = self.build(now);
        self.last_emit = Some(now);
        if let Some(stored) = self.log.append(ev) {
            self.last = Some(stored);
        }
    }

    /// The fraction of the current step that is done, if its size is known.
    fn step_fraction(&self) -> Option<f64> {
        let ratio = |done: u64, total: u64| {
            if total == 0 {
                1.0
            } else {
                (done as f64 / total as f64).min(1.0)
            }
        };
        match (self.counters.bytes_total, self.counters.total) {
            (Some(b), _) if b > 0 => Some(ratio(self.counters.bytes_done, b)),
            (_, Some(t)) => Some(ratio(self.counters.processed, t)),
            (Some(0), None) => Some(1.0),
            _ => None,
        }
    }

    /// The whole job's percent from the counters, unrounded; `None` while unknown.
    fn raw_percent(&self) -> Option<f64> {
        // `+ 0.0`: an empty float sum is -0.0, which would print as "-0.0".
        let base: f64 = self
            .plan
            .0
            .iter()
            .take(self.current)
            .map(|(_, w)| w)
            .sum::<f64>()
            + 0.0;
        let weight = self
            .plan
            .0
            .get(self.current)
            .map(|(_, w)| *w)
            .unwrap_or(0.0);
        let raw = if self.state == JobState::Queued {
            None
        } else if weight == 0.0 {
            // A step with no share of the work (waiting) knows nothing of the total yet:
            // before any work is known, "0 %" would be made up.
            (base > 0.0).then_some(base * 100.0)
        } else {
            self.step_fraction().map(|f| (base + weight * f) * 100.0)
        };
        raw.map(|r| r.min(100.0))
    }

    /// The percent shown: never backwards, floored to 0.1 so it never claims more than done.
    fn percent(&mut self) -> Option<f64> {
        let raw = self.raw_percent();
        // Never backwards: an unknown or smaller figure keeps the best one shown so far.
        let p = match (raw, self.percent_floor) {
            (Some(r), Some(f)) => Some(r.max(f)),
            (r, f) => r.or(f),
        };
        let p = p.map(|p| (p.min(100.0) * 10.0).floor() / 10.0);
        self.percent_floor = p;
        p
    }

    fn build(&mut self, now: Instant) -> ProgressEvent {
        let percent = self.percent();
        let running = self.state == JobState::Running;
        let (rate, eta) = if running {
            let work = if self.counters.bytes_total.is_some() || self.counters.bytes_done > 0 {
                self.counters.bytes_done
            } else {
                self.counters.processed
            };
            self.speed.observe(now, work as f64);
            // The estimator gets the exact figure, not the one shown: floored to 0.1 %, a
            // long job's percent stands still for seconds at a time, which reads as a stall.
            let exact = self.raw_percent();
            if let Some(p) = exact {
                self.eta.observe(now, p);
            }
            let live = exact.and_then(|p| self.eta.eta(now, 100.0 - p));
            (
                self.speed.rate(now).map(|r| r.round()),
                self.eta_shown(now, live),
            )
        } else {
            (None, (None, None))
        };
        let (eta, eta_source) = eta;
        let step = self.step();
        let step_number = self.current as u32 + 1;
        ProgressEvent {
            job_id: self.job_id.clone(),
            seq: 0,
            kind: self.kind,
            state: self.state,
            step,
            step_number,
            total_steps: self.total_steps(),
            percent,
            counters: self.counters,
            rate_per_sec: rate,
            eta_seconds: eta,
            eta_source,
            message: self
                .message
                .clone()
                .unwrap_or_else(|| self.default_message(step)),
            items: self.items.clone(),
            warnings: self.warnings.clone(),
            error: None,
            result_url: None,
            timestamp: now_timestamp(),
        }
    }

    /// The ETA shown: this run's own (`live`) alone without a seed; with one, the seeded
    /// estimate until `live` is known, then their [`blend`]. Stalled work has none.
    fn eta_shown(&mut self, now: Instant, live: Option<f64>) -> (Option<f64>, Option<EtaSource>) {
        self.live_since = match live {
            None => None,
            Some(_) => Some(self.live_since.unwrap_or(now)),
        };
        let steps: Vec<Step> = self.plan.0.iter().map(|(s, _)| *s).collect();
        let position = Position {
            steps: &steps,
            current: self.current,
            counters: self.counters,
            in_step: since(now, self.step_since),
        };
        let Some(seeded) = self.seed.as_mut().and_then(|s| s.remaining(&position)) else {
            return (live, None);
        };
        if self.eta.is_stalled(now) {
            return (None, None);
        }
        let Some(live) = live else {
            return (Some(round_estimate(seeded)), Some(EtaSource::History));
        };
        let elapsed = since(now, self.running_since);
        let blended = blend(seeded, live, elapsed, since(now, self.live_since));
        (Some(round_estimate(blended)), Some(EtaSource::Blend))
    }

    fn default_message(&self, step: Step) -> String {
        match self.state {
            JobState::Queued => return "Queued".into(),
            JobState::Paused => return format!("Paused while {}", step.label().to_lowercase()),
            _ => {}
        }
        match self.counters.total {
            Some(t) => format!(
                "{} {} of {} files",
                step.label(),
                group_digits(self.counters.processed),
                group_digits(t)
            ),
            None if self.counters.processed > 0 => {
                format!(
                    "{}: {} files found so far",
                    step.label(),
                    group_digits(self.counters.processed)
                )
            }
            None => step.label().to_string(),
        }
    }
}

/// Seconds from `t` to `now`, 0 when `t` is unknown.
fn since(now: Instant, t: Option<Instant>) -> f64 {
    t.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
}

/// 12034 -> "12,034".
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
