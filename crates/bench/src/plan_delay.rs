//! Row 11: how late a plan's runs start. The real scheduler (`tidemark_plans`, as the agent
//! and the desktop app run it) on a real database starts real snapshot jobs through a
//! launcher that does what the agent's does; the delays are read off the history: the run's
//! claimed due time (the claim's key) against the timestamp of the job's first event.
//!
//! - **Due → first event:** a plan `every N s`, measured over several due times.
//! - **Wake → a missed run's start:** the scheduler's wall clock is made to jump ahead (what
//!   a machine that slept through a due time sees on waking: the monotonic clock stopped,
//!   the wall clock did not); the delay is from the jump to the missed run's first event,
//!   split into the wait for the scheduler's next look at the clock (it looks at least every
//!   `max_tick`) and what comes after the configured catch-up delay.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tidemark_core::{ErrorCode, ErrorInfo, JobSpec, SnapshotSpec};
use tidemark_plans::{Launcher, Plan, PlanInput, SchedulerConfig, SchedulerHandle, WallClock, ops};
use tidemark_store::{RecordedJob, Store};

/// The plan's interval in the first measurement.
pub const EVERY_SECS: u64 = 2;
/// The catch-up delay configured for the second (the default is 10 s, for the network).
pub const CATCH_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct PlanDelays {
    /// Due time → the run's first event, one per due time (seconds).
    pub due: Vec<f64>,
    /// Wake → the scheduler's next look at the clock (seconds), one per wake.
    pub noticed: Vec<f64>,
    /// Wake → the missed run's first event, less the catch-up delay (seconds).
    pub wake: Vec<f64>,
    /// The scheduler's look that noticed the wake → the run's first event, less the
    /// catch-up delay (seconds).
    pub after_notice: Vec<f64>,
    /// The scheduler's longest sleep without a look at the clock.
    pub max_tick: Duration,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// Starts each run as the agent does (recorded with its plan, its ETA seeded) and notes the
/// claim it belongs to; a thread waits for its end, as the agent's registry does.
struct BenchLauncher {
    db: PathBuf,
    /// (claimed due time, job id) of every run started.
    started: Mutex<Vec<(String, String)>>,
}

impl Launcher for BenchLauncher {
    fn launch(&self, plan: &Plan) -> Result<String, ErrorInfo> {
        let info = |e: &dyn std::fmt::Display| ErrorInfo::new(ErrorCode::Internal, e.to_string());
        let store = Store::open(&self.db).map_err(|e| info(&e))?;
        // Called just after the scheduler's claim: the newest claim is this run's due time.
        let key = store
            .last_claim(&plan.id)
            .map_err(|e| info(&e))?
            .unwrap_or_default();
        let launch = tidemark_store::Launch {
            eta_seed: ops::eta_seed_of(&store, plan),
            ..ops::launch_of(plan)
        };
        let job = RecordedJob::start_with(&self.db, plan.spec.clone(), None, launch)
            .map_err(|e| info(&e))?;
        let id = job.id().to_owned();
        std::thread::spawn(move || drop(job.wait()));
        if let Ok(mut s) = self.started.lock() {
            s.push((key, id.clone()));
        }
        Ok(id)
    }
}

/// The system clock moved ahead by an offset the bench sets; notes when the scheduler first
/// read it after a jump. One lock, so a reading is either before a jump or after it.
#[derive(Debug, Default)]
struct JumpingClock(Mutex<Jumps>);

#[derive(Debug, Default)]
struct Jumps {
    offset: TimeDelta,
    noticed: Option<Instant>,
}

impl WallClock for JumpingClock {
    fn now(&self) -> DateTime<Utc> {
        let mut j = self.0.lock().unwrap_or_else(|p| p.into_inner());
        j.noticed.get_or_insert_with(Instant::now);
        Utc::now() + j.offset
    }
}

impl JumpingClock {
    /// Moves the clock ahead; returns the moment, on the real clocks.
    fn jump(&self, by: TimeDelta) -> (DateTime<Utc>, Instant) {
        let mut j = self.0.lock().unwrap_or_else(|p| p.into_inner());
        j.offset += by;
        j.noticed = None;
        (Utc::now(), Instant::now())
    }

    fn noticed(&self) -> Option<Instant> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).noticed
    }
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| err(&format!("bad time {text:?}"), e))
}

/// A run's claimed due time and its first event's time.
type Started = (DateTime<Utc>, DateTime<Utc>);

/// The first event's time of each run started since `from` (index into the launcher's
/// list), waiting (up to `within`) until there are `n` of them with an event.
fn first_events(
    db: &Path,
    launcher: &BenchLauncher,
    from: usize,
    n: usize,
    within: Duration,
) -> Result<Vec<Started>, String> {
    let deadline = Instant::now() + within;
    loop {
        let started: Vec<(String, String)> = launcher
            .started
            .lock()
            .map_err(|_| "the launcher's list is poisoned".to_string())?
            .iter()
            .skip(from)
            .take(n)
            .cloned()
            .collect();
        if started.len() == n {
            let store = Store::open(db).map_err(|e| err("cannot open the history", e))?;
            let mut out = Vec::new();
            for (key, id) in &started {
                let events = store
                    .events_since(id, 0)
                    .map_err(|e| err("cannot read events", e))?;
                if let Some(first) = events.first() {
                    out.push((time(key)?, time(&first.timestamp)?));
                }
            }
            if out.len() == n {
                return Ok(out);
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {n} runs started within {within:?}",
                started.len()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

/// A plan snapshotting a few small files into `work`'s own folder.
fn plan_input(work: &Path, name: &str, schedule: &str) -> Result<PlanInput, String> {
    let src = work.join(format!("{name}-src"));
    std::fs::create_dir_all(&src).map_err(|e| err("cannot create the source", e))?;
    for i in 0..4 {
        std::fs::write(
            src.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(256),
        )
        .map_err(|e| err("cannot write the source", e))?;
    }
    let out = work.join(format!("{name}-out"));
    std::fs::create_dir_all(&out).map_err(|e| err("cannot create the destination", e))?;
    Ok(PlanInput {
        name: name.into(),
        spec: JobSpec::Snapshot(SnapshotSpec {
            source: src,
            destination: out.to_string_lossy().into_owned(),
            name: None,
        }),
        schedule: Some(schedule.into()),
        keep: Some(2),
        stale_after: None,
    })
}

/// Measures both delays: `due_times` due runs, then `wakes` wakes.
pub fn measure(work: &Path, due_times: usize, wakes: usize) -> Result<PlanDelays, String> {
    let work = work.join("plans");
    std::fs::create_dir_all(&work).map_err(|e| err("cannot create the work folder", e))?;
    let db = work.join("plans.db");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| err("cannot start a runtime", e))?;
    let launcher = Arc::new(BenchLauncher {
        db: db.clone(),
        started: Mutex::default(),
    });
    let clock = Arc::new(JumpingClock::default());
    let config = SchedulerConfig {
        clock: clock.clone(),
        catch_up_delay: CATCH_UP,
        ..SchedulerConfig::new(db.clone())
    };
    let max_tick = config.max_tick;
    let scheduler = SchedulerHandle::spawn(runtime.handle(), config, launcher.clone());
    let mut out = PlanDelays {
        max_tick,
        ..PlanDelays::default()
    };

    // Due → first event: the plan is added while the scheduler runs, as a host adds one.
    let store = Store::open(&db).map_err(|e| err("cannot open the history", e))?;
    ops::add(
        &store,
        &plan_input(&work, "due", &format!("every {EVERY_SECS}s"))?,
    )
    .map_err(|e| err("cannot add the plan", e))?;
    scheduler.reload();
    let within = Duration::from_secs(EVERY_SECS * (due_times as u64 + 3));
    for (due, first) in first_events(&db, &launcher, 0, due_times, within)? {
        out.due.push(secs(first - due));
    }
    ops::pause(&store, "due", None).map_err(|e| err("cannot pause the plan", e))?;

    // Wake → a missed run: an hourly plan, the wall clock moved two hours ahead each time,
    // at a moment unrelated to the scheduler's looks (the fraction of `max_tick` varies).
    ops::add(&store, &plan_input(&work, "wake", "every 1h")?)
        .map_err(|e| err("cannot add the plan", e))?;
    scheduler.reload();
    for i in 0..wakes {
        let from = launcher.started.lock().map(|s| s.len()).unwrap_or(0);
        let phase = max_tick.mul_f64(((i as f64 + 0.5) * 0.618_034).fract());
        std::thread::sleep(phase);
        let (jumped, jumped_at) = clock.jump(TimeDelta::hours(2));
        let within = max_tick + CATCH_UP + Duration::from_secs(10);
        let runs = first_events(&db, &launcher, from, 1, within)?;
        let noticed = clock
            .noticed()
            .map(|n| n.duration_since(jumped_at).as_secs_f64())
            .ok_or("the scheduler never read the clock after the jump")?;
        let started = runs.first().map(|(_, first)| *first).unwrap_or(jumped);
        let wake = secs(started - jumped) - CATCH_UP.as_secs_f64();
        out.noticed.push(noticed);
        out.wake.push(wake);
        out.after_notice.push(wake - noticed);
    }
    drop(scheduler);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(out)
}
