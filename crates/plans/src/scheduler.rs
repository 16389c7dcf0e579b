//! The scheduler: one tokio actor per host (the desktop app, `tidemark agent`) that starts
//! plans' due runs through the host's [`Launcher`], and a cheap handle to it.
//!
//! It wakes at the next due time, and at least every `max_tick`, and reads the plans from
//! the database each time, so a plan added, changed or paused by another process is seen.
//! A due run is claimed in the database before it starts (`Store::claim_plan_run`), so two
//! schedulers on one database start it once and a plan never runs twice at once.
//!
//! Missed runs (the machine slept, the host was not running) run once, not once per missed
//! slot: the claim is for the newest missed slot. They start `catch_up_delay` after the
//! scheduler starts, or after it notices a wake (the wall clock moved ahead of the
//! monotonic one, which stops while the machine sleeps), so the network is back first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tidemark_core::{ErrorInfo, JobState};
use tidemark_store::{JobRecord, PlanRow, Store};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::model::{Plan, PlanError, PlanSummary};
use crate::ops::{self, rfc3339};
use crate::schedule::Schedule;

/// What the host does for the scheduler. Called on a blocking thread.
pub trait Launcher: Send + Sync + 'static {
    /// Starts a run of `plan`, recorded with its plan and its ETA seeded from its past runs
    /// (`ops::launch_of` and `ops::eta_seed_of` give the store's `Launch`); returns the job's id.
    fn launch(&self, plan: &Plan) -> Result<String, ErrorInfo>;
    /// The plan has had no successful run within its limit; said once per stale period,
    /// across restarts and processes.
    fn plan_stale(&self, _plan: &PlanSummary) {}
    /// A plan was added, changed, started a run or saw one end.
    fn plans_changed(&self) {}
}

/// The wall clock (injected in tests, to simulate sleep).
pub trait WallClock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerConfig<Tz> {
    pub db: PathBuf,
    /// Where wall-clock schedules are read (`chrono::Local` outside tests).
    pub tz: Tz,
    pub clock: Arc<dyn WallClock>,
    /// How long a missed run waits after a start or a wake (for the network).
    pub catch_up_delay: Duration,
    /// The longest the scheduler sleeps without looking at the clock and the plans.
    pub max_tick: Duration,
}

impl SchedulerConfig<chrono::Local> {
    pub fn new(db: PathBuf) -> Self {
        SchedulerConfig {
            db,
            tz: chrono::Local,
            clock: Arc::new(SystemClock),
            catch_up_delay: Duration::from_secs(10),
            // A wake is noticed at the next look at the clock (its timer stops while the
            // machine sleeps): every 5 s, a missed run starts 10 to 15 s after a wake. A look
            // is one small query.
            max_tick: Duration::from_secs(5),
        }
    }
}

/// A jump of the wall clock beyond the monotonic one larger than this is a wake.
const WAKE_JUMP: TimeDelta = TimeDelta::seconds(30);

enum Msg {
    RunNow(String, oneshot::Sender<Result<String, PlanError>>),
    Reload,
}

/// The handle: cheap to clone; the scheduler stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<Msg>,
    changes: watch::Receiver<u64>,
}

impl SchedulerHandle {
    pub fn spawn<Tz>(
        runtime: &Handle,
        config: SchedulerConfig<Tz>,
        launcher: Arc<dyn Launcher>,
    ) -> SchedulerHandle
    where
        Tz: TimeZone + Send + Sync + 'static,
        Tz::Offset: Send + Sync,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let (changed, changes) = watch::channel(0);
        let actor = Actor {
            launcher,
            last_clock: None,
            catch_up_before: config.clock.now(),
            settle_until: Instant::now() + config.catch_up_delay,
            config,
            seen_runs: HashMap::new(),
            retained: HashMap::new(),
            changed,
        };
        runtime.spawn(actor.run(rx));
        SchedulerHandle { tx, changes }
    }

    /// Starts a run of the plan now (refused while one runs); returns the job's id.
    pub async fn run_now(&self, name: &str) -> Result<String, PlanError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::RunNow(name.to_owned(), reply))
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Looks at the plans again now (after an operation changed them).
    pub fn reload(&self) {
        let _stopped = self.tx.send(Msg::Reload);
    }

    /// A counter that grows whenever plans change (added, edited, a run started or ended).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

fn stopped() -> PlanError {
    PlanError::invalid(tidemark_core::ErrorCode::Internal, "the scheduler stopped")
}

struct Actor<Tz> {
    config: SchedulerConfig<Tz>,
    launcher: Arc<dyn Launcher>,
    last_clock: Option<(DateTime<Utc>, Instant)>,
    /// Due runs older than this were missed (before the start or a wake).
    catch_up_before: DateTime<Utc>,
    settle_until: Instant,
    /// Each plan's newest run as last seen (id, state), to notice starts and ends.
    seen_runs: HashMap<String, (String, JobState)>,
    /// Each plan's newest completed run that retention was applied after.
    retained: HashMap<String, String>,
    changed: watch::Sender<u64>,
}

/// One plan as a tick sees it.
struct Seen {
    row: PlanRow,
    last_claim: Option<String>,
    last_run: Option<JobRecord>,
    last_success: Option<String>,
}

impl<Tz> Actor<Tz>
where
    Tz: TimeZone + Send + Sync + 'static,
    Tz::Offset: Send + Sync,
{
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let wait = match self.tick().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler: cannot read the plans; trying again");
                    self.config.max_tick
                }
            };
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => return,
                    Some(Msg::Reload) => self.announce(),
                    Some(Msg::RunNow(name, reply)) => {
                        let _gone = reply.send(self.run_now(name).await);
                    }
                },
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn announce(&mut self) {
        self.changed.send_modify(|r| *r += 1);
        self.launcher.plans_changed();
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> Result<T, PlanError> + Send + 'static,
    ) -> Result<T, PlanError> {
        let db = self.config.db.clone();
        tokio::task::spawn_blocking(move || f(&mut Store::open(&db)?))
            .await
            .map_err(|_| stopped())?
    }

    async fn run_now(&mut self, name: String) -> Result<String, PlanError> {
        let launcher = self.launcher.clone();
        let now = self.config.clock.now();
        let job = self
            .blocking(move |store| {
                let plan = ops::get(store, &name)?;
                let now = rfc3339(now);
                start(store, &*launcher, &plan, &now, &now)
            })
            .await;
        self.announce();
        job
    }

    /// Looks at every plan: starts what is due, notices run ends (retention) and staleness.
    /// Returns how long to sleep.
    async fn tick(&mut self) -> Result<Duration, PlanError> {
        let wall = self.config.clock.now();
        let mono = Instant::now();
        if let Some((w, m)) = self.last_clock {
            let mono_elapsed = TimeDelta::from_std(mono - m).unwrap_or(TimeDelta::MAX);
            if (wall - w) - mono_elapsed > WAKE_JUMP {
                tracing::info!(
                    "scheduler: the machine woke up; missed runs start in {:?}",
                    self.config.catch_up_delay
                );
                self.catch_up_before = wall;
                self.settle_until = mono + self.config.catch_up_delay;
            }
        }
        self.last_clock = Some((wall, mono));

        let (seen, global) = self.blocking(load).await?;
        let mut wait = self.config.max_tick;
        let mut changed = false;
        for plan in seen {
            changed |= self.follow_runs(&plan).await;
            changed |= self.check_stale(&plan, global, wall).await;
            let Some(Ok(schedule)) = plan.row.schedule.as_deref().map(Schedule::parse) else {
                continue;
            };
            if let Some(until) = ops::paused_until(&plan.row, global, wall) {
                wait = wait.min(until_wall(wall, until));
                continue;
            }
            let reference = ops::reference(&plan.row, plan.last_claim.as_deref(), global, wall);
            let Some(first) = schedule.next_after(reference, &self.config.tz) else {
                continue;
            };
            if first > wall {
                wait = wait.min(until_wall(wall, first));
                continue;
            }
            let key = schedule
                .latest_at_or_before(wall, &self.config.tz)
                .map_or(first, |k| k.max(first));
            if key < self.catch_up_before && mono < self.settle_until {
                wait = wait.min(self.settle_until - mono);
                continue;
            }
            // The slot after this one may come before the next `max_tick`.
            if let Some(next) = schedule.next_after(key, &self.config.tz) {
                wait = wait.min(until_wall(wall, next));
            }
            let launcher = self.launcher.clone();
            let p: Plan = plan.row.clone().into();
            let name = p.name.clone();
            match self
                .blocking(move |store| start(store, &*launcher, &p, &rfc3339(key), &rfc3339(wall)))
                .await
            {
                Ok(job) => {
                    tracing::info!(plan = %name, job = %job, due = %rfc3339(key), "scheduler: started a due run");
                    changed = true;
                }
                // Another scheduler took it, or the plan's previous run goes on: looked at
                // again on the next tick.
                Err(PlanError::Busy { .. }) => {}
                Err(e) => {
                    tracing::warn!(plan = %name, error = %e, "scheduler: cannot start a due run")
                }
            }
        }
        if changed {
            self.announce();
        }
        Ok(wait.max(Duration::from_millis(1)))
    }

    /// Notices a plan's newest run changing (started, ended) and applies retention after a
    /// completed one.
    async fn follow_runs(&mut self, plan: &Seen) -> bool {
        let Some(run) = &plan.last_run else {
            return false;
        };
        let now = (run.id.clone(), run.state);
        let changed = self.seen_runs.get(&plan.row.id) != Some(&now);
        self.seen_runs.insert(plan.row.id.clone(), now);
        let newest_done = plan_newest_completed(plan);
        if plan.row.keep.is_some()
            && let Some(done) = newest_done
            && self.retained.get(&plan.row.id) != Some(&done)
        {
            let p: Plan = plan.row.clone().into();
            let applied = self
                .blocking(move |store| crate::retention::apply(store, &p))
                .await;
            if let Err(e) = applied {
                tracing::warn!(plan = %plan.row.name, error = %e, "retention failed");
            }
            self.retained.insert(plan.row.id.clone(), done);
        }
        changed
    }

    async fn check_stale(
        &mut self,
        plan: &Seen,
        global: Option<DateTime<Utc>>,
        wall: DateTime<Utc>,
    ) -> bool {
        if !ops::is_stale(&plan.row, plan.last_success.as_deref(), wall) {
            return false;
        }
        let announced = plan
            .row
            .stale_notified_at
            .as_deref()
            .and_then(ops::parse_time);
        let success = plan.last_success.as_deref().and_then(ops::parse_time);
        if announced.is_some_and(|a| success.is_none_or(|s| a >= s)) {
            return false;
        }
        let id = plan.row.id.clone();
        let row = plan.row.clone();
        let tz = self.config.tz.clone();
        let success = plan.last_success.clone();
        let marked = self
            .blocking(move |store| {
                if !store.mark_stale_notified(&id, &rfc3339(wall), success.as_deref())? {
                    return Ok(None);
                }
                ops::summarize(store, row, global, wall, &tz).map(Some)
            })
            .await;
        match marked {
            Ok(Some(summary)) => {
                tracing::warn!(plan = %summary.plan.name, "plan is stale: no successful run within its limit");
                self.launcher.plan_stale(&summary);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler: cannot record a stale plan");
                false
            }
        }
    }
}

/// The newest completed run's id, if the newest run is one (retention runs after it).
fn plan_newest_completed(plan: &Seen) -> Option<String> {
    plan.last_run
        .as_ref()
        .filter(|r| r.state == JobState::Completed)
        .map(|r| r.id.clone())
}

fn until_wall(now: DateTime<Utc>, then: DateTime<Utc>) -> Duration {
    (then - now).to_std().unwrap_or(Duration::ZERO)
}

/// Every plan with what a tick needs, and the global pause.
fn load(store: &mut Store) -> Result<(Vec<Seen>, Option<DateTime<Utc>>), PlanError> {
    let global = ops::global_pause(store)?;
    let mut out = Vec::new();
    for row in store.list_plans()? {
        let last_claim = store.last_claim(&row.id)?;
        let last_run = store
            .list_jobs(&tidemark_store::JobFilter {
                plan_id: Some(row.id.clone()),
                limit: Some(1),
                ..Default::default()
            })?
            .into_iter()
            .next();
        let last_success = ops::last_success(store, &row.id)?;
        out.push(Seen {
            row,
            last_claim,
            last_run,
            last_success,
        });
    }
    Ok((out, global))
}

/// Claims the plan's run `key` and starts it through the launcher; the claim records the job.
fn start(
    store: &mut Store,
    launcher: &dyn Launcher,
    plan: &Plan,
    key: &str,
    now: &str,
) -> Result<String, PlanError> {
    ops::claim(store, plan, key, now)?;
    match launcher.launch(plan) {
        Ok(job) => {
            ops::record_launch(store, plan, key, Some(&job))?;
            Ok(job)
        }
        Err(error) => {
            ops::record_launch(store, plan, key, None)?;
            Err(PlanError::Launch {
                name: plan.name.clone(),
                error,
            })
        }
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
