//! Row 4 from its parts: what the history adds to a run, each part timed on its own, so the
//! overhead can be read when it is smaller than the spread between two runs of the same job.
//!
//! - per event: one event stored in its own transaction, as the history's writer does when
//!   events come one at a time (criterion);
//! - per run, the checkpoints: the values the recorded run of row 4 saved, encoded again as
//!   JSON and saved under a new job, as the job's thread does;
//! - per run, the rest: a recorded snapshot of a one-file folder against the same snapshot
//!   without history (opening the database, recovery, retention, the job's row, its lock and
//!   its end, and that small job's own few events and checkpoints).

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tidemark_core::{JobHandle, JobOptions, JobSpec, ProgressEvent, SnapshotSpec};
use tidemark_store::{RecordedJob, Store};

use crate::measure::{Stats, stats};
use crate::micro;

#[derive(Debug, Clone, Default)]
pub struct HistoryParts {
    /// Nanoseconds to store one event.
    pub per_event_ns: Option<Stats>,
    /// Seconds to encode and save the recorded run's checkpoints.
    pub checkpoints_secs: Option<Stats>,
    /// Their number and total size.
    pub checkpoints: usize,
    pub checkpoint_bytes: usize,
    /// A snapshot of a one-file folder, recorded and not.
    pub fixed_recorded: Option<Stats>,
    pub fixed_plain: Option<Stats>,
}

impl HistoryParts {
    /// Seconds a recorded run of a one-file folder takes beyond the same run without history.
    pub fn fixed_secs(&self) -> Option<f64> {
        let (r, p) = (self.fixed_recorded?, self.fixed_plain?);
        Some((r.median - p.median).max(0.0))
    }
}

/// `db` holds the finished recorded run `job_id` of row 4; `work` is scratch space.
pub fn parts(db: &Path, job_id: &str, work: &Path, smoke: bool) -> HistoryParts {
    eprintln!("[bench] row 4: the history's parts");
    let mut out = HistoryParts::default();
    let store = Store::open(db).expect("open the bench database");
    let saved = store
        .checkpoints(job_id)
        .expect("read the recorded run's checkpoints");
    out.checkpoints = saved.len();
    out.checkpoint_bytes = saved.iter().map(|(_, v)| v.len()).sum();
    let values: Vec<(String, serde_json::Value)> = saved
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).expect("a checkpoint is JSON")))
        .collect();
    let spec = tiny_spec(work, "unused");
    let repeats = if smoke { 1 } else { 5 };
    let mut secs = Vec::new();
    for _ in 0..repeats {
        let id = tidemark_core::job::new_job_id();
        store
            .create_job(&id, &spec, &chrono::Utc::now().to_rfc3339())
            .expect("create a job row");
        let start = Instant::now();
        for (key, value) in &values {
            let json = serde_json::to_string(value).expect("encode");
            store.set_checkpoint(&id, key, &json).expect("save");
        }
        secs.push(start.elapsed().as_secs_f64());
    }
    out.checkpoints_secs = stats(&secs);

    let events_db = work.join("history-events.db");
    let mut events = Store::open(&events_db).expect("open a database for events");
    let id = tidemark_core::job::new_job_id();
    events
        .create_job(&id, &spec, &chrono::Utc::now().to_rfc3339())
        .expect("create a job row");
    let template = ProgressEvent {
        job_id: id.clone(),
        ..micro::sample_event()
    };
    let mut seq = 0;
    let mut c = micro::criterion(smoke);
    out.per_event_ns = micro::measure(&mut c, smoke, "history: per event", || {
        seq += 1;
        let ev = Arc::new(ProgressEvent {
            seq,
            ..template.clone()
        });
        events.append_events(&[ev]).expect("store an event");
    });
    drop(events);
    let _ = fs::remove_file(&events_db);

    let (recorded, plain) = fixed(work, db, if smoke { 1 } else { 9 });
    out.fixed_recorded = recorded;
    out.fixed_plain = plain;
    out
}

fn tiny_spec(work: &Path, name: &str) -> JobSpec {
    JobSpec::Snapshot(SnapshotSpec {
        source: work.join("history-tiny"),
        destination: work.join("history-tiny-out").to_string_lossy().into_owned(),
        name: Some(name.to_owned()),
    })
}

/// Alternating recorded and plain snapshots of a one-file folder.
fn fixed(work: &Path, db: &Path, runs: usize) -> (Option<Stats>, Option<Stats>) {
    let src = work.join("history-tiny");
    let out = work.join("history-tiny-out");
    fs::create_dir_all(&src).expect("create the one-file folder");
    fs::write(src.join("one.txt"), b"tidemark").expect("write the one file");
    let (mut recorded, mut plain) = (Vec::new(), Vec::new());
    for i in 0..=runs {
        // AB, BA, …: neither side always runs second.
        for recorded_turn in [i % 2 == 0, i % 2 != 0] {
            let _ = fs::remove_dir_all(&out);
            fs::create_dir_all(&out).expect("create the output folder");
            let spec = tiny_spec(work, &format!("tiny-{i}-{recorded_turn}"));
            let start = Instant::now();
            if recorded_turn {
                let (end, stored) = RecordedJob::start(db, spec).expect("start").wait();
                stored.expect("recorded");
                assert!(end.is_some_and(|e| e.state == tidemark_core::JobState::Completed));
                // The first of each side warms up.
                if i > 0 {
                    recorded.push(start.elapsed().as_secs_f64());
                }
            } else {
                let end = JobHandle::spawn(spec, JobOptions::default()).wait();
                assert!(end.is_some_and(|e| e.state == tidemark_core::JobState::Completed));
                if i > 0 {
                    plain.push(start.elapsed().as_secs_f64());
                }
            }
        }
    }
    let _ = fs::remove_dir_all(&out);
    let _ = fs::remove_dir_all(&src);
    (stats(&recorded), stats(&plain))
}
