use std::sync::Arc;

use tidemark_core::{Counters, JobKind, JobSpec, JobState, ProgressEvent, SnapshotSpec, Step};

use crate::Store;

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(1_735_689_600_000 + ms)
        .expect("a valid instant")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// (ms, state, step, processed, total, bytes done, bytes total)
type Row = (i64, JobState, Step, u64, Option<u64>, u64, Option<u64>);

fn record(store: &mut Store, id: &str, rows: &[Row]) {
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: "/data".into(),
        destination: "/backup".into(),
        name: None,
    });
    store.create_job(id, &spec, &at(0)).expect("job");
    let events: Vec<Arc<ProgressEvent>> = rows
        .iter()
        .enumerate()
        .map(
            |(i, &(ms, state, step, processed, total, bytes_done, bytes_total))| {
                Arc::new(ProgressEvent {
                    seq: i as u64 + 1,
                    state,
                    step,
                    counters: Counters {
                        processed,
                        total,
                        bytes_done,
                        bytes_total,
                    },
                    timestamp: at(ms),
                    ..ProgressEvent::blank(id, JobKind::Snapshot, 6)
                })
            },
        )
        .collect();
    store.append_events(&events).expect("events");
}

#[test]
fn the_seed_comes_from_completed_runs_and_leaves_paused_time_out() {
    use JobState::{Completed, Failed, Paused, Queued, Running};
    use Step::{Browsing, Compressing, Manifest, Uploading, Waiting};
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&dir.path().join("history.db")).expect("open");
    let gb = 1 << 30;
    record(
        &mut store,
        "done",
        &[
            (0, Queued, Waiting, 0, None, 0, None),
            (0, Running, Waiting, 0, None, 0, None),
            (100, Running, Browsing, 0, None, 0, None),
            (2_100, Running, Browsing, 1000, None, 0, None),
            (2_100, Running, Manifest, 0, Some(1000), 0, None),
            (3_100, Running, Compressing, 0, Some(1000), 0, Some(gb)),
            (
                8_100,
                Paused,
                Compressing,
                500,
                Some(1000),
                gb / 2,
                Some(gb),
            ),
            // Five minutes paused count for nothing.
            (
                308_100,
                Running,
                Compressing,
                500,
                Some(1000),
                gb / 2,
                Some(gb),
            ),
            (313_100, Running, Uploading, 1000, Some(1000), gb, Some(gb)),
            (
                313_200,
                Completed,
                Step::Completed,
                1000,
                Some(1000),
                gb,
                Some(gb),
            ),
        ],
    );
    record(
        &mut store,
        "failed",
        &[
            (0, Running, Compressing, 0, Some(10), 0, Some(10)),
            (90_000, Failed, Step::Failed, 1, Some(10), 1, Some(10)),
        ],
    );
    let ids = ["done", "failed", "unknown"].map(String::from);
    let seed = store
        .eta_seed(&ids)
        .expect("seed")
        .expect("one completed run");
    assert_eq!((seed.kind, seed.runs), (JobKind::Snapshot, 1));
    let steps: Vec<(Step, f64, f64, f64)> = seed
        .steps
        .iter()
        .map(|h| (h.step, h.secs, h.items, h.bytes))
        .collect();
    assert_eq!(
        steps,
        [
            (Waiting, 0.1, 0.0, 0.0),
            (Browsing, 2.0, 1000.0, 0.0),
            (Manifest, 1.0, 1000.0, 0.0),
            (Compressing, 10.0, 1000.0, gb as f64),
            (Uploading, 0.1, 1000.0, gb as f64),
        ]
    );
    assert_eq!(
        store.eta_seed(&ids[1..]).expect("seed"),
        None,
        "no completed run"
    );
}
