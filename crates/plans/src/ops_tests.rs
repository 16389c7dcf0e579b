//! The operations and retention on a real database and real folders; retention's runs are
//! real snapshot jobs.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{TimeDelta, Utc};
use tidemark_core::{ErrorCode, JobSpec, JobState, SnapshotSpec, SyncSpec};
use tidemark_store::{RecordedJob, Store};

use crate::{PlanError, PlanInput, ops, retention};

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        fs::create_dir_all(env.path("src/sub")).expect("source");
        fs::write(env.path("src/a.txt"), b"alpha").expect("a file");
        fs::write(env.path("src/sub/b.txt"), b"beta").expect("a file");
        fs::create_dir_all(env.path("backups")).expect("dest");
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn db(&self) -> PathBuf {
        self.path("history.db")
    }

    fn store(&self) -> Store {
        Store::open(&self.db()).expect("open")
    }

    fn snapshot(&self, name: &str, keep: Option<u32>) -> PlanInput {
        PlanInput {
            name: name.into(),
            spec: JobSpec::Snapshot(SnapshotSpec {
                source: self.path("src"),
                destination: self.path("backups").to_string_lossy().into_owned(),
                name: None,
            }),
            schedule: Some("daily 02:00".into()),
            keep,
            stale_after: Some(3 * 86_400),
        }
    }
}

fn code(e: PlanError) -> ErrorCode {
    e.code()
}

#[test]
fn add_refuses_bad_input_before_saving_anything() {
    let env = Env::new();
    let store = env.store();
    let mut bad_schedule = env.snapshot("Photos", None);
    bad_schedule.schedule = Some("daily 25:00".into());
    assert_eq!(
        code(ops::add(&store, &bad_schedule).expect_err("refused")),
        ErrorCode::BadSchedule
    );

    let mut missing = env.snapshot("Photos", None);
    if let JobSpec::Snapshot(s) = &mut missing.spec {
        s.source = env.path("nope");
    }
    assert_eq!(
        code(ops::add(&store, &missing).expect_err("refused")),
        ErrorCode::SourceMissing
    );

    let mut no_dest = env.snapshot("Photos", None);
    if let JobSpec::Snapshot(s) = &mut no_dest.spec {
        s.destination = env.path("x/y/z").to_string_lossy().into_owned();
    }
    assert_eq!(
        code(ops::add(&store, &no_dest).expect_err("refused")),
        ErrorCode::DestMissing
    );

    let mut bad_url = env.snapshot("Photos", None);
    if let JobSpec::Snapshot(s) = &mut bad_url.spec {
        s.destination = "https://".into();
    }
    assert_eq!(
        code(ops::add(&store, &bad_url).expect_err("refused")),
        ErrorCode::InvalidUrl
    );

    let sync_keep = PlanInput {
        name: "Mirror".into(),
        spec: JobSpec::Sync(SyncSpec {
            sources: vec![env.path("src")],
            destination: env.path("mirror"),
            delete: true,
        }),
        schedule: None,
        keep: Some(2),
        stale_after: None,
    };
    assert_eq!(
        code(ops::add(&store, &sync_keep).expect_err("refused")),
        ErrorCode::InvalidInput
    );
    assert!(
        store.list_plans().expect("list").is_empty(),
        "nothing saved"
    );

    ops::add(&store, &env.snapshot("Photos", Some(2))).expect("added");
    assert_eq!(
        code(ops::add(&store, &env.snapshot("PHOTOS", None)).expect_err("refused")),
        ErrorCode::PlanExists
    );
    assert_eq!(store.list_plans().expect("list").len(), 1);
    assert_eq!(
        code(ops::get(&store, "nope").expect_err("none")),
        ErrorCode::PlanNotFound
    );
}

#[test]
fn list_edit_pause_resume_and_remove() {
    let env = Env::new();
    let mut store = env.store();
    let plan = ops::add(&store, &env.snapshot("Photos", Some(2))).expect("added");
    assert_eq!(plan.schedule.as_deref(), Some("daily 02:00"));
    let list = ops::list(&store).expect("list");
    assert_eq!(list.len(), 1);
    let row = &list[0];
    assert!(row.last_run.is_none() && row.last_success_at.is_none());
    assert!(!row.stale && !row.paused);
    let next = ops::parse_time(row.next_run_at.as_deref().expect("a next run")).expect("time");
    assert!(next > Utc::now() && next <= Utc::now() + TimeDelta::days(1));

    let json = serde_json::to_value(row).expect("json");
    for key in [
        "name",
        "kind",
        "spec",
        "schedule",
        "lastRun",
        "lastSuccessAt",
        "nextRunAt",
        "stale",
        "staleAfter",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }

    let mut changed = env.snapshot("Pictures", Some(5));
    changed.schedule = Some("every 6h".into());
    let edited = ops::edit(&store, "photos", &changed).expect("edited");
    assert_eq!(
        (edited.id.as_str(), edited.name.as_str(), edited.keep),
        (plan.id.as_str(), "Pictures", Some(5))
    );

    let paused = ops::pause(
        &store,
        "Pictures",
        Some(std::time::Duration::from_secs(4 * 3600)),
    )
    .expect("pause");
    let until = ops::parse_time(paused.paused_until.as_deref().expect("until")).expect("time");
    assert!(
        (until - Utc::now() - TimeDelta::hours(4))
            .num_seconds()
            .abs()
            < 5
    );
    let shown = ops::show(&store, "pictures").expect("show");
    assert!(shown.paused);
    assert!(ops::parse_time(shown.next_run_at.as_deref().expect("next")).expect("t") >= until);
    ops::resume(&store, "Pictures").expect("resume");
    assert!(!ops::show(&store, "pictures").expect("show").paused);

    ops::pause_all_until(&store, Utc::now() + TimeDelta::hours(1)).expect("pause all");
    assert!(ops::show(&store, "pictures").expect("show").paused);
    ops::resume_all(&store).expect("resume all");
    assert!(!ops::show(&store, "pictures").expect("show").paused);

    ops::remove(&mut store, "Pictures").expect("removed");
    assert!(ops::list(&store).expect("list").is_empty());
    assert_eq!(
        code(ops::remove(&mut store, "Pictures").expect_err("gone")),
        ErrorCode::PlanNotFound
    );
}

/// Runs the plan once as the CLI's `plan run` does: claim, a real recorded job, its end.
fn run_plan(env: &Env, name: &str) -> String {
    let mut store = env.store();
    let (plan, key) = ops::claim_now(&mut store, name).expect("claim");
    let job = RecordedJob::start_with(&env.db(), plan.spec.clone(), None, ops::launch_of(&plan))
        .expect("start");
    let id = job.id().to_owned();
    ops::record_launch(&store, &plan, &key, Some(&id)).expect("record");
    let (end, recorded) = job.wait();
    recorded.expect("recorded");
    assert_eq!(end.expect("an end").state, JobState::Completed);
    // Two runs in one second would share a default name's second: keep them apart.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    id
}

fn archives(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn retention_keeps_exactly_n_of_the_plans_own_archives_and_deletes_nothing_before_publish() {
    let env = Env::new();
    let store = env.store();
    let plan = ops::add(&store, &env.snapshot("Photos", Some(2))).expect("added");
    let backups = env.path("backups");
    // Files that are not the plan's: a hand-made snapshot of the same folder, a note.
    fs::write(backups.join("src-19990101-000000.tar.zst"), b"not ours").expect("write");
    fs::write(backups.join("notes.txt"), b"keep me").expect("write");

    let first = run_plan(&env, "Photos");
    let second = run_plan(&env, "Photos");
    assert!(
        retention::apply(&store, &plan).expect("apply").is_empty(),
        "two of two kept"
    );
    let third = run_plan(&env, "Photos");
    // Killed between the third run's publish and its retention: all three are there.
    let ours = |names: &[String]| names.iter().filter(|n| n.starts_with("src-2")).count();
    assert_eq!(
        ours(&archives(&backups)),
        6,
        "3 archives and 3 manifests before retention"
    );

    let deleted = retention::apply(&store, &plan).expect("apply");
    assert_eq!(deleted.len(), 1);
    let first_archive = store
        .job(&first)
        .expect("read")
        .and_then(|j| j.result_url)
        .expect("url");
    assert_eq!(deleted[0], PathBuf::from(&first_archive));
    let left = archives(&backups);
    assert_eq!(ours(&left), 4, "2 archives, 2 manifests: {left:?}");
    for id in [&second, &third] {
        let url = store
            .job(id)
            .expect("read")
            .and_then(|j| j.result_url)
            .expect("url");
        assert!(Path::new(&url).exists(), "{url} kept");
    }
    assert!(left.contains(&"src-19990101-000000.tar.zst".to_owned()));
    assert!(left.contains(&"notes.txt".to_owned()));
    // Applying it again changes nothing.
    assert!(retention::apply(&store, &plan).expect("apply").is_empty());

    // Runs and their export.
    let runs = ops::runs(&store, "Photos").expect("runs");
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0].job_id, third);
    assert!(
        runs.iter()
            .all(|r| r.state == JobState::Completed && r.files == 2 && r.bytes > 0)
    );
    let csv = ops::export_runs_csv(&store, "Photos").expect("csv");
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("jobId,state,createdAt,startedAt,finishedAt,durationSecs,bytes,files"));
    let json: serde_json::Value =
        serde_json::from_str(&ops::export_runs_json(&store, "Photos").expect("json"))
            .expect("parse");
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    assert!(json[0].get("bytesPerSec").is_some() && json[0].get("durationSecs").is_some());

    // The summary follows the runs.
    let shown = ops::show(&store, "Photos").expect("show");
    assert_eq!(
        shown.last_run.as_ref().map(|r| r.job_id.as_str()),
        Some(third.as_str())
    );
    assert!(shown.last_success_at.is_some() && !shown.stale);
}

#[test]
fn a_plan_never_runs_twice_at_once() {
    let env = Env::new();
    let mut store = env.store();
    ops::add(&store, &env.snapshot("Photos", None)).expect("added");
    let (_plan, _key) = ops::claim_now(&mut store, "Photos").expect("claim");
    assert_eq!(
        code(ops::claim_now(&mut store, "Photos").expect_err("busy")),
        ErrorCode::PlanBusy
    );
}

#[test]
fn a_plans_eta_seed_comes_from_its_own_completed_runs() {
    let env = Env::new();
    let store = env.store();
    let plan = ops::add(&store, &env.snapshot("Photos", None)).expect("added");
    let other = ops::add(&store, &env.snapshot("Other", None)).expect("added");
    assert!(ops::eta_seed_of(&store, &plan).is_none(), "no past runs");
    run_plan(&env, "Other");
    assert!(
        ops::eta_seed_of(&store, &plan).is_none(),
        "another plan's runs are not this one's past"
    );
    assert!(ops::eta_seed_of(&store, &other).is_some());
    run_plan(&env, "Photos");
    assert!(ops::eta_seed_of(&store, &plan).is_some());
}
