//! Plans, claims and settings on real SQLite files, two connections where it matters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tidemark_core::{JobKind, JobSpec, SnapshotSpec};

use crate::{Claim, JobFilter, PlanRow, PlanWrite, Store};

fn plan(id: &str, name: &str) -> PlanRow {
    PlanRow {
        id: id.into(),
        name: name.into(),
        kind: JobKind::Snapshot,
        spec: JobSpec::Snapshot(SnapshotSpec {
            source: "/data/photos".into(),
            destination: "/backup".into(),
            name: None,
        }),
        schedule: Some("daily 02:00".into()),
        keep: Some(3),
        stale_after_secs: Some(86_400),
        paused_until: None,
        created_at: "2026-03-01T10:00:00Z".into(),
        updated_at: "2026-03-01T10:00:00Z".into(),
        stale_notified_at: None,
    }
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("history.db")).expect("open the history")
}

#[test]
fn plans_are_saved_read_renamed_and_removed_and_names_are_unique_without_case() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(&dir);
    assert_eq!(
        store.insert_plan(&plan("p1", "Photos")).expect("insert"),
        PlanWrite::Done
    );
    assert_eq!(
        store.insert_plan(&plan("p2", "photos")).expect("insert"),
        PlanWrite::NameTaken
    );
    assert_eq!(store.list_plans().expect("list").len(), 1);
    let found = store
        .plan_by_name("PHOTOS")
        .expect("read")
        .expect("found without regard to case");
    assert_eq!(found.created_at, "2026-03-01T10:00:00.000Z");
    assert_eq!(found.spec, plan("p1", "Photos").spec);
    assert_eq!(found.keep, Some(3));

    store.insert_plan(&plan("p2", "Music")).expect("insert");
    let mut renamed = plan("p2", "Photos");
    assert_eq!(
        store.update_plan(&renamed).expect("update"),
        PlanWrite::NameTaken
    );
    renamed.name = "Tunes".into();
    renamed.schedule = None;
    assert_eq!(
        store.update_plan(&renamed).expect("update"),
        PlanWrite::Done
    );
    let tunes = store.plan("p2").expect("read").expect("there");
    assert_eq!((tunes.name.as_str(), tunes.schedule), ("Tunes", None));
    assert_eq!(
        store.update_plan(&plan("nope", "X")).expect("update"),
        PlanWrite::NotFound
    );

    assert!(
        store
            .set_plan_paused(
                "p1",
                Some("2026-03-02T10:00:00+01:00"),
                "2026-03-01T11:00:00Z"
            )
            .expect("pause")
    );
    let paused = store.plan("p1").expect("read").expect("there");
    assert_eq!(
        paused.paused_until.as_deref(),
        Some("2026-03-02T09:00:00.000Z")
    );
    assert!(store.delete_plan("p1").expect("remove"));
    assert!(!store.delete_plan("p1").expect("remove twice"));
    assert!(store.plan_by_name("Photos").expect("read").is_none());
}

#[test]
fn a_due_run_is_claimed_once_across_connections_and_never_while_the_plan_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    store.insert_plan(&plan("p1", "Photos")).expect("insert");
    let due = "2026-03-02T01:00:00Z";
    let now = "2026-03-02T01:00:01Z";

    // Eight connections (as eight processes would) race for the same due run.
    let claimed = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..8 {
            let claimed = claimed.clone();
            let dir = &dir;
            s.spawn(move || {
                let mut store = open(dir);
                if store.claim_plan_run("p1", due, now).expect("claim") == Claim::Claimed {
                    claimed.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(claimed.load(Ordering::SeqCst), 1);

    let mut other = open(&dir);
    // A later due run while the first is being started: the plan is busy.
    let next = "2026-03-02T01:00:30Z";
    assert_eq!(
        other.claim_plan_run("p1", next, next).expect("claim"),
        Claim::Busy(None)
    );
    // Its job is recorded and running: still busy, and named.
    let spec = plan("p1", "Photos").spec;
    other
        .create_job_with("job-1", &spec, now, None, Some("p1"))
        .expect("create");
    other.set_claim_job("p1", due, "job-1").expect("record");
    assert_eq!(
        other.claim_plan_run("p1", next, next).expect("claim"),
        Claim::Busy(Some("job-1".into()))
    );
    assert_eq!(
        other.last_claim("p1").expect("last"),
        Some("2026-03-02T01:00:00.000Z".into())
    );
    let runs = other
        .list_jobs(&JobFilter {
            plan_id: Some("p1".into()),
            ..JobFilter::default()
        })
        .expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].plan_id.as_deref(), Some("p1"));
    // Once it has ended (here: the process died and recovery ran), the next one is free.
    other.mark_interrupted().expect("interrupt");
    assert_eq!(
        other.claim_plan_run("p1", next, next).expect("claim"),
        Claim::Claimed
    );
    assert_eq!(
        other.claim_plan_run("p1", due, next).expect("claim"),
        Claim::Taken
    );
}

#[test]
fn a_launch_that_died_half_way_stops_holding_the_plan_after_a_minute() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = open(&dir);
    store.insert_plan(&plan("p1", "Photos")).expect("insert");
    let claim = |store: &mut Store, due: &str, now: &str| {
        store.claim_plan_run("p1", due, now).expect("claim")
    };
    assert_eq!(
        claim(&mut store, "2026-03-02T01:00:00Z", "2026-03-02T01:00:00Z"),
        Claim::Claimed
    );
    assert_eq!(
        claim(&mut store, "2026-03-02T01:00:30Z", "2026-03-02T01:00:30Z"),
        Claim::Busy(None)
    );
    assert_eq!(
        claim(&mut store, "2026-03-02T01:01:30Z", "2026-03-02T01:01:30Z"),
        Claim::Claimed
    );
}

#[test]
fn staleness_is_announced_once_per_stale_period() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(&dir);
    store.insert_plan(&plan("p1", "Photos")).expect("insert");
    let a = open(&dir);
    assert!(
        a.mark_stale_notified("p1", "2026-03-05T00:00:00Z", None)
            .expect("mark")
    );
    assert!(
        !store
            .mark_stale_notified("p1", "2026-03-05T00:01:00Z", None)
            .expect("mark")
    );
    // A success after the announcement starts a new period.
    let success = Some("2026-03-06T00:00:00Z");
    assert!(
        !a.mark_stale_notified("p1", "2026-03-05T00:02:00Z", Some("2026-03-04T00:00:00Z"))
            .expect("mark")
    );
    assert!(
        store
            .mark_stale_notified("p1", "2026-03-09T00:00:00Z", success)
            .expect("mark")
    );
    assert!(
        !a.mark_stale_notified("p1", "2026-03-09T00:00:01Z", success)
            .expect("mark")
    );
}

#[test]
fn settings_are_shared_by_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = open(&dir);
    let b = open(&dir);
    assert_eq!(a.setting("paused_until").expect("read"), None);
    a.set_setting("paused_until", Some("2026-03-02T10:00:00.000Z"))
        .expect("set");
    assert_eq!(
        b.setting("paused_until").expect("read").as_deref(),
        Some("2026-03-02T10:00:00.000Z")
    );
    b.set_setting("paused_until", None).expect("clear");
    assert_eq!(a.setting("paused_until").expect("read"), None);
}
