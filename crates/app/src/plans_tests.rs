//! Plans through the app's commands: made, refused, run into the history with their plan,
//! and a stale one announced (once across restarts is the scheduler's, tested in
//! tidemark-plans).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_core::{JobSpec, JobState, SnapshotSpec};

use crate::tests::Sent;
use crate::*;

#[derive(Default)]
struct Heard(Mutex<Vec<Vec<PlanSummary>>>);
impl Hooks for Heard {
    fn plans_changed(&self, plans: &[PlanSummary]) {
        self.0.lock().expect("heard").push(plans.to_vec());
    }
}

fn snapshot_plan(name: &str, src: &Path, dest: &Path) -> PlanInput {
    PlanInput {
        name: name.into(),
        spec: JobSpec::Snapshot(SnapshotSpec {
            source: src.to_path_buf(),
            destination: dest.display().to_string(),
            name: None,
        }),
        schedule: Some("daily 02:00".into()),
        keep: None,
        stale_after: None,
    }
}

fn folders(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = dir.join("photos");
    tidemark_tests::generate_tree(&src, 256 << 10);
    let dest = dir.join("archives");
    std::fs::create_dir_all(&dest).expect("dest");
    (src, dest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_is_added_run_now_and_its_run_recorded_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let heard = Arc::new(Heard::default());
    let app = App::new(
        AppConfig::beside(dir.path().join("history.db")),
        tokio::runtime::Handle::current(),
        heard.clone(),
        Arc::new(NoNotifier),
    );
    let (src, dest) = folders(dir.path());
    let added = app
        .add_plan(snapshot_plan("Photos", &src, &dest))
        .expect("added");
    assert_eq!(added.plan.name, "Photos");
    assert!(added.next_run_at.is_some(), "a schedule has a next run");
    assert!(
        !heard.0.lock().expect("heard").is_empty(),
        "the windows are told"
    );

    // Refused before anything is saved: a duplicate, a bad schedule, a missing folder.
    let dup = app.add_plan(snapshot_plan("photos", &src, &dest));
    assert_eq!(dup.map_err(|e| e.code()).err(), Some(ErrorCode::PlanExists));
    let bad = PlanInput {
        schedule: Some("dialy 02:00".into()),
        ..snapshot_plan("Other", &src, &dest)
    };
    assert_eq!(
        app.add_plan(bad).map_err(|e| e.code()).err(),
        Some(ErrorCode::BadSchedule)
    );
    let missing = snapshot_plan("Gone", &dir.path().join("not-there"), &dest);
    assert_eq!(
        app.add_plan(missing).map_err(|e| e.code()).err(),
        Some(ErrorCode::SourceMissing)
    );
    assert_eq!(app.list_plans().expect("plans").len(), 1);

    let job = app.run_plan("Photos").await.expect("run");
    assert_eq!(
        job.title, "Photos",
        "a plan's run is known by the plan's name"
    );
    // A second run while the first is queued or running is refused, not queued twice.
    let again = app.run_plan("Photos").await;
    assert_eq!(again.map_err(|e| e.code()).err(), Some(ErrorCode::PlanBusy));
    for _ in 0..600 {
        if app.active_jobs().iter().all(|j| j.id != job.id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let runs = app.plan_runs("Photos").expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].job_id, job.id);
    assert_eq!(runs[0].state, JobState::Completed);
    let summary = app
        .list_plans()
        .expect("plans")
        .into_iter()
        .next()
        .expect("one");
    assert_eq!(summary.last_run.map(|r| r.state), Some(JobState::Completed));
    let csv = app
        .export_plan_runs("Photos", ExportFormat::Csv)
        .expect("csv");
    assert!(csv.lines().count() >= 2, "a header and the run: {csv}");
    assert!(csv.contains(&job.id), "{csv}");

    app.remove_plan("Photos").expect("removed");
    assert!(app.list_plans().expect("plans").is_empty());
    assert!(
        app.job_detail(&job.id).is_ok(),
        "the run stays in the history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_plan_is_notified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (src, dest) = folders(dir.path());
    let sent = Arc::new(Sent::default());
    let app = App::new(
        AppConfig::beside(dir.path().join("history.db")),
        tokio::runtime::Handle::current(),
        Arc::new(NoHooks),
        sent.clone(),
    );
    app.add_plan(PlanInput {
        stale_after: Some(1),
        schedule: None,
        ..snapshot_plan("Docs", &src, &dest)
    })
    .expect("added");
    let told = || {
        sent.0
            .lock()
            .expect("sent")
            .iter()
            .filter(|n| n.kind == NotificationKind::Stale)
            .cloned()
            .collect::<Vec<_>>()
    };
    for _ in 0..600 {
        if !told().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stale = told();
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(
        stale[0].title,
        "Docs has had no successful run for 1 second"
    );
}
