//! The scheduler on a real database, with tokio's paused clock and a wall clock that follows
//! it (and jumps, to simulate sleep). The launcher records each run as a completed job.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use tidemark_core::{JobKind, JobSpec, JobState, ProgressEvent, SyncSpec};
use tidemark_store::PlanRow;

use super::*;

/// Wall time = a start + tokio's elapsed time + any jump.
#[derive(Debug)]
struct TestClock {
    wall: DateTime<Utc>,
    mono: Instant,
    jumped: Mutex<TimeDelta>,
}

impl TestClock {
    fn new(wall: DateTime<Utc>) -> Arc<Self> {
        Arc::new(TestClock {
            wall,
            mono: Instant::now(),
            jumped: Mutex::new(TimeDelta::zero()),
        })
    }

    fn jump(&self, by: TimeDelta) {
        *self.jumped.lock().expect("clock") += by;
    }
}

impl WallClock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(Instant::now() - self.mono).expect("elapsed");
        self.wall + elapsed + *self.jumped.lock().expect("clock")
    }
}

#[derive(Debug)]
struct Recorder {
    db: PathBuf,
    clock: Arc<TestClock>,
    /// (plan, wall time of the start)
    runs: Mutex<Vec<(String, DateTime<Utc>)>>,
    stale: Mutex<Vec<String>>,
}

impl Recorder {
    fn new(db: PathBuf, clock: Arc<TestClock>) -> Arc<Self> {
        Arc::new(Recorder {
            db,
            clock,
            runs: Mutex::default(),
            stale: Mutex::default(),
        })
    }

    fn runs(&self) -> Vec<(String, DateTime<Utc>)> {
        self.runs.lock().expect("runs").clone()
    }
}

impl Launcher for Recorder {
    fn launch(&self, plan: &Plan) -> Result<String, ErrorInfo> {
        let now = self.clock.now();
        let id = uuid::Uuid::now_v7().to_string();
        let mut store = Store::open(&self.db).expect("open");
        store
            .create_job_with(&id, &plan.spec, &rfc3339(now), None, Some(&plan.id))
            .expect("create");
        let mut end = ProgressEvent::blank(&id, JobKind::Sync, 4);
        end.seq = 1;
        end.state = JobState::Completed;
        end.timestamp = rfc3339(now);
        store.append_events(&[Arc::new(end)]).expect("end");
        self.runs
            .lock()
            .expect("runs")
            .push((plan.name.clone(), now));
        Ok(id)
    }

    fn plan_stale(&self, plan: &PlanSummary) {
        self.stale
            .lock()
            .expect("stale")
            .push(plan.plan.name.clone());
    }
}

fn start_wall() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-06T10:00:05Z")
        .expect("a time")
        .to_utc()
}

fn add_plan(db: &std::path::Path, name: &str, schedule: &str, updated: DateTime<Utc>) {
    let store = Store::open(db).expect("open");
    let row = PlanRow {
        id: format!("id-{name}"),
        name: name.into(),
        kind: JobKind::Sync,
        spec: JobSpec::Sync(SyncSpec {
            sources: vec!["/data/a".into()],
            destination: "/mirror".into(),
            delete: false,
        }),
        schedule: Some(schedule.into()),
        keep: None,
        stale_after_secs: None,
        paused_until: None,
        created_at: rfc3339(updated),
        updated_at: rfc3339(updated),
        stale_notified_at: None,
    };
    store.insert_plan(&row).expect("insert");
}

fn config(db: PathBuf, clock: Arc<TestClock>) -> SchedulerConfig<Utc> {
    SchedulerConfig {
        db,
        tz: Utc,
        clock,
        catch_up_delay: Duration::from_secs(10),
        max_tick: Duration::from_secs(15),
    }
}

async fn advance(secs: u64) {
    // Step by step so each tick's blocking work runs before time moves on.
    for _ in 0..secs * 4 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_due_run_starts_on_time_and_once_per_slot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(&db, "Photos", "every 30s", start_wall());
    let rec = Recorder::new(db.clone(), clock.clone());
    let handle = SchedulerHandle::spawn(&Handle::current(), config(db, clock), rec.clone());
    let mut changes = handle.subscribe();

    advance(20).await;
    assert!(rec.runs().is_empty(), "nothing is due before 10:00:30");
    advance(20).await;
    let runs = rec.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let due = start_wall() + TimeDelta::seconds(25);
    let late = runs[0].1 - due;
    assert!(
        late >= TimeDelta::zero() && late < TimeDelta::seconds(2),
        "started {late} after its due time"
    );
    assert!(changes.has_changed().expect("open"));
    changes.borrow_and_update();
    advance(60).await;
    assert_eq!(rec.runs().len(), 3, "one run per 30 s slot");
}

#[tokio::test(start_paused = true)]
async fn slots_closer_than_the_longest_sleep_each_start_on_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(&db, "Often", "every 4s", start_wall());
    let rec = Recorder::new(db.clone(), clock.clone());
    let _handle = SchedulerHandle::spawn(&Handle::current(), config(db, clock), rec.clone());

    // Due at 10:00:08, :12, :16, :20, :24, each well within the 15 s longest sleep.
    advance(21).await;
    let runs = rec.runs();
    assert_eq!(runs.len(), 5, "{runs:?}");
    for (i, (_, at)) in runs.iter().enumerate() {
        let due = start_wall() + TimeDelta::seconds(3 + 4 * i as i64);
        let late = *at - due;
        assert!(
            late >= TimeDelta::zero() && late < TimeDelta::seconds(1),
            "run {i} started {late} after its due time: {runs:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn missed_runs_catch_up_once_after_a_start_delay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    // Five hourly slots passed while no scheduler ran.
    add_plan(&db, "Photos", "hourly", start_wall() - TimeDelta::hours(5));
    let rec = Recorder::new(db.clone(), clock.clone());
    let _handle = SchedulerHandle::spawn(&Handle::current(), config(db, clock), rec.clone());

    advance(8).await;
    assert!(rec.runs().is_empty(), "a missed run waits for the network");
    advance(5).await;
    assert_eq!(rec.runs().len(), 1);
    advance(40 * 60).await;
    assert_eq!(rec.runs().len(), 1, "one run for the five missed slots");
    advance(20 * 60).await;
    assert_eq!(rec.runs().len(), 2, "then 11:00 as scheduled");
}

#[tokio::test(start_paused = true)]
async fn a_wake_is_noticed_and_its_missed_run_starts_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(&db, "Photos", "hourly", start_wall());
    let rec = Recorder::new(db.clone(), clock.clone());
    let _handle =
        SchedulerHandle::spawn(&Handle::current(), config(db, clock.clone()), rec.clone());
    advance(30).await;
    assert!(rec.runs().is_empty());

    // The machine sleeps from 10:00:35 to 15:00:35: the monotonic clock stands still.
    clock.jump(TimeDelta::hours(5));
    let woke = clock.now();
    advance(60).await;
    let runs = rec.runs();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let delay = runs[0].1 - woke;
    assert!(
        delay >= TimeDelta::seconds(10) && delay <= TimeDelta::seconds(26),
        "started {delay} after the wake"
    );
    advance(20 * 60).await;
    assert_eq!(rec.runs().len(), 1, "the five missed slots ran once");
}

#[tokio::test(start_paused = true)]
async fn two_schedulers_on_one_database_start_a_due_run_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(&db, "Photos", "every 20s", start_wall());
    add_plan(&db, "Music", "every 30s", start_wall());
    let a = Recorder::new(db.clone(), clock.clone());
    let b = Recorder::new(db.clone(), clock.clone());
    let _ha = SchedulerHandle::spawn(
        &Handle::current(),
        config(db.clone(), clock.clone()),
        a.clone(),
    );
    let _hb = SchedulerHandle::spawn(&Handle::current(), config(db, clock), b.clone());
    advance(110).await;
    let mut all: Vec<(String, DateTime<Utc>)> = a.runs().into_iter().chain(b.runs()).collect();
    all.sort();
    // 10:00:05 … 10:01:55: five slots of Photos, three of Music, each started once.
    let photos = all.iter().filter(|r| r.0 == "Photos").count();
    let music = all.iter().filter(|r| r.0 == "Music").count();
    assert_eq!((photos, music), (5, 3), "{all:?}");
}

#[tokio::test(start_paused = true)]
async fn a_paused_plan_skips_its_slots_and_resumes_by_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(&db, "Photos", "every 30s", start_wall());
    let until = start_wall() + TimeDelta::seconds(100);
    Store::open(&db)
        .expect("open")
        .set_plan_paused("id-Photos", Some(&rfc3339(until)), &rfc3339(start_wall()))
        .expect("pause");
    let rec = Recorder::new(db.clone(), clock.clone());
    let _h = SchedulerHandle::spawn(
        &Handle::current(),
        config(db.clone(), clock.clone()),
        rec.clone(),
    );
    advance(110).await;
    assert!(rec.runs().is_empty(), "10:00:30 … 10:01:30 skipped");
    advance(20).await;
    let runs = rec.runs();
    assert_eq!(runs.len(), 1, "10:02:00, after the pause");

    // The global pause, the same way.
    let store = Store::open(&db).expect("open");
    ops::pause_all_until(&store, clock.now() + TimeDelta::seconds(65)).expect("pause all");
    advance(60).await;
    assert_eq!(rec.runs().len(), 1);
    advance(30).await;
    assert_eq!(rec.runs().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn run_now_starts_a_run_and_staleness_is_said_once_across_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("history.db");
    let clock = TestClock::new(start_wall());
    add_plan(
        &db,
        "Photos",
        "0 9 1 1 *",
        start_wall() - TimeDelta::days(4),
    );
    {
        let store = Store::open(&db).expect("open");
        let mut row = store.plan("id-Photos").expect("read").expect("there");
        row.stale_after_secs = Some(3 * 86_400);
        store.update_plan(&row).expect("update");
    }
    let rec = Recorder::new(db.clone(), clock.clone());
    let h = SchedulerHandle::spawn(
        &Handle::current(),
        config(db.clone(), clock.clone()),
        rec.clone(),
    );
    advance(2).await;
    assert_eq!(*rec.stale.lock().expect("stale"), vec!["Photos".to_owned()]);
    drop(h);
    let h = SchedulerHandle::spawn(
        &Handle::current(),
        config(db.clone(), clock.clone()),
        rec.clone(),
    );
    advance(20).await;
    assert_eq!(rec.stale.lock().expect("stale").len(), 1, "said once");

    let job = h.run_now("photos").await.expect("run now");
    assert_eq!(rec.runs().len(), 1);
    let store = Store::open(&db).expect("open");
    assert_eq!(
        store.job(&job).expect("read").and_then(|j| j.plan_id),
        Some("id-Photos".into())
    );
    assert!(matches!(
        h.run_now("nope").await,
        Err(PlanError::NotFound(_))
    ));
    // A success ends the stale period; the next one is said again.
    clock.jump(TimeDelta::days(4));
    advance(20).await;
    assert_eq!(rec.stale.lock().expect("stale").len(), 2);
}
