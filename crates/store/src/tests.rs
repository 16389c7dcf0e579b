//! Real SQLite files in a temp folder; no mocks.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tidemark_core::{
    Counters, ErrorCode, ErrorInfo, EventLog, JobKind, JobSpec, JobState, ProgressEvent,
    SnapshotSpec, Step, SyncSpec, pump,
};

use crate::{JobFilter, SCHEMA_VERSION, Store, StoreError};

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("history.db")
}

fn timestamp(ms: u64) -> String {
    let ms = 1_735_689_600_000 + i64::try_from(ms).expect("small test offsets");
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("a valid instant")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn snapshot_spec() -> JobSpec {
    JobSpec::Snapshot(SnapshotSpec {
        source: "/data/photos".into(),
        destination: "/backup".into(),
        name: None,
    })
}

fn sync_spec() -> JobSpec {
    JobSpec::Sync(SyncSpec {
        sources: vec!["/data/a".into()],
        destination: "/mirror".into(),
        delete: false,
    })
}

fn event(job: &str, seq: u64, state: JobState, step: Step) -> Arc<ProgressEvent> {
    Arc::new(ProgressEvent {
        seq,
        state,
        step,
        counters: Counters {
            processed: seq,
            bytes_done: seq * 10,
            ..Counters::default()
        },
        timestamp: timestamp(seq),
        ..ProgressEvent::blank(job, JobKind::Snapshot, 6)
    })
}

fn running(job: &str, seq: u64) -> Arc<ProgressEvent> {
    event(job, seq, JobState::Running, Step::Compressing)
}

fn raw_user_version(path: &Path) -> i64 {
    Connection::open(path)
        .expect("raw open")
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version")
}

fn schema_sql(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).expect("raw open");
    let mut stmt = conn
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn seqs(store: &Store, job: &str) -> Vec<u64> {
    store
        .events_since(job, 0)
        .expect("events")
        .iter()
        .map(|e| e.seq)
        .collect()
}

#[test]
fn migrates_an_empty_file_and_creates_the_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = db_path(&dir);
    fs::write(&empty, b"").expect("empty file");
    let store = Store::open(&empty).expect("open empty file");
    assert_eq!(raw_user_version(&empty), SCHEMA_VERSION);
    let mode: String = store
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    let fk: i64 = store
        .conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .expect("foreign_keys");
    assert_eq!(fk, 1);
    let tables = schema_sql(&empty).join("\n");
    for table in ["jobs", "events", "checkpoints"] {
        assert!(
            tables.contains(&format!("CREATE TABLE {table}")),
            "{tables}"
        );
    }

    let nested = dir.path().join("a/b/history.db");
    Store::open(&nested).expect("open in a missing folder");
    assert_eq!(raw_user_version(&nested), SCHEMA_VERSION);
}

#[test]
fn reopening_a_current_database_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    {
        let mut store = Store::open(&path).expect("first open");
        store
            .create_job("j1", &snapshot_spec(), &timestamp(0))
            .expect("create");
        store.append_events(&[running("j1", 1)]).expect("append");
    }
    let schema = schema_sql(&path);
    let store = Store::open(&path).expect("second open");
    assert_eq!(raw_user_version(&path), SCHEMA_VERSION);
    assert_eq!(schema_sql(&path), schema);
    let job = store.job("j1").expect("read").expect("job kept");
    assert_eq!((job.state, job.last_seq), (JobState::Running, 1));
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    {
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .expect("newer db");
    }
    let before = fs::read(&path).expect("read");
    let err = Store::open(&path).expect_err("must refuse");
    assert!(
        matches!(
            err,
            StoreError::TooNew {
                found: 99,
                supported: SCHEMA_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::DbTooNew);
    assert!(err.to_string().contains("newer Tidemark"), "{err}");
    assert_eq!(fs::read(&path).expect("read"), before);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let text = b"these are my notes, not a database\n".repeat(100);
    fs::write(&path, &text).expect("write");
    let err = Store::open(&path).expect_err("must refuse");
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert_eq!(err.code(), ErrorCode::DbNotADatabase);
    assert_eq!(fs::read(&path).expect("read"), text);

    // The right magic but garbage after it: only SQLite itself can tell (SQLITE_NOTADB).
    let mut damaged = b"SQLite format 3\0".to_vec();
    damaged.extend(std::iter::repeat_n(0xA5, 4096));
    fs::write(&path, &damaged).expect("write");
    let err = Store::open(&path).expect_err("must refuse");
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err:?}");
    assert_eq!(fs::read(&path).expect("read"), damaged);
}

#[test]
fn a_parent_that_is_a_file_gives_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"x").expect("write");
    for path in [file.join("history.db"), file.join("deeper/history.db")] {
        let err = Store::open(&path).expect_err("must fail");
        assert_eq!(err.code(), ErrorCode::DbIo);
        let msg = err.to_string();
        assert!(
            msg.contains("not-a-folder is a file, not a folder"),
            "{msg}"
        );
    }
    assert_eq!(fs::read(&file).expect("read"), b"x");

    let err = Store::open(dir.path()).expect_err("a folder is not a database");
    assert_eq!(err.code(), ErrorCode::DbIo);
}

#[test]
fn a_database_locked_beyond_the_timeout_is_reported_as_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let mut store = Store::open(&path).expect("open");
    store
        .create_job("j1", &snapshot_spec(), &timestamp(0))
        .expect("create");
    store
        .conn
        .busy_timeout(Duration::from_millis(50))
        .expect("short timeout");
    let other = Connection::open(&path).expect("raw open");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("hold the write lock");
    let err = store
        .append_events(&[running("j1", 1)])
        .expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert_eq!(err.code(), ErrorCode::DbLocked);
    other.execute_batch("ROLLBACK").expect("release");
    store
        .append_events(&[running("j1", 1)])
        .expect("works once released");
}

#[test]
fn appending_events_keeps_the_job_summary_current() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    store
        .create_job("j1", &snapshot_spec(), "2025-01-01T01:00:00+01:00")
        .expect("create");
    let job = store.job("j1").expect("read").expect("exists");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.created_at, "2025-01-01T00:00:00.000Z");
    assert_eq!((job.last_seq, job.started_at.as_deref()), (0, None));

    let mut done = (*event("j1", 4, JobState::Completed, Step::Completed)).clone();
    done.percent = Some(100.0);
    done.counters.total = Some(4);
    done.result_url = Some("/backup/photos.tar.zst".into());
    store
        .append_events(&[
            event("j1", 1, JobState::Queued, Step::Waiting),
            running("j1", 2),
        ])
        .expect("first batch");
    let job = store.job("j1").expect("read").expect("exists");
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.started_at, Some(timestamp(2)));
    assert_eq!(job.finished_at, None);

    store
        .append_events(&[running("j1", 3), Arc::new(done)])
        .expect("second batch");
    // A replayed batch is skipped, not an error, and does not move the summary back.
    store.append_events(&[running("j1", 3)]).expect("replay");
    let job = store.job("j1").expect("read").expect("exists");
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(job.started_at, Some(timestamp(2)));
    assert_eq!(job.finished_at, Some(timestamp(4)));
    assert_eq!(
        (job.percent, job.counters.processed, job.counters.total),
        (Some(100.0), 4, Some(4))
    );
    assert_eq!((job.counters.bytes_done, job.last_seq), (40, 4));
    assert_eq!(job.result_url.as_deref(), Some("/backup/photos.tar.zst"));
    assert_eq!(job.spec, snapshot_spec());
    assert_eq!(seqs(&store, "j1"), [1, 2, 3, 4]);
    assert_eq!(
        store.events_since("j1", 2).expect("events")[0],
        *running("j1", 3)
    );

    let json = serde_json::to_value(&job).expect("serialize");
    assert_eq!(json["lastSeq"], 4);
    assert_eq!(json["resultUrl"], "/backup/photos.tar.zst");
    assert_eq!(json["spec"]["kind"], "snapshot");
    assert_eq!(json["state"], "completed");

    store
        .create_job("j2", &snapshot_spec(), &timestamp(5))
        .expect("create");
    let mut failed = (*event("j2", 1, JobState::Failed, Step::Failed)).clone();
    failed.error = Some(ErrorInfo {
        code: ErrorCode::DiskFull,
        message: "no space left".into(),
    });
    store.append_events(&[Arc::new(failed)]).expect("append");
    let job = store.job("j2").expect("read").expect("exists");
    assert_eq!(job.error.map(|e| e.code), Some(ErrorCode::DiskFull));
    assert_eq!(job.started_at, None);

    let err = store
        .append_events(&[running("nobody", 1)])
        .expect_err("unknown job");
    assert_eq!(err.code(), ErrorCode::DbIo);
    assert!(store.job("nobody").expect("read").is_none());
}

#[test]
fn counts_jobs_by_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    assert!(store.count_by_state().expect("count").is_empty());
    for (n, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
        store
            .create_job(id, &snapshot_spec(), &timestamp(n as u64))
            .expect("create");
    }
    store.append_events(&[running("a", 1)]).expect("append");
    store.append_events(&[running("b", 1)]).expect("append");
    let done = event("c", 1, JobState::Completed, Step::Completed);
    store.append_events(&[done]).expect("append");
    let mut counts = store.count_by_state().expect("count");
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        [
            (JobState::Completed, 1),
            (JobState::Queued, 1),
            (JobState::Running, 2)
        ]
    );
}

#[test]
fn lists_jobs_newest_first_with_filters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    store
        .create_job("old", &snapshot_spec(), &timestamp(1))
        .expect("create");
    store
        .create_job("mid", &sync_spec(), &timestamp(2))
        .expect("create");
    store
        .create_job("new", &snapshot_spec(), &timestamp(3))
        .expect("create");
    store.append_events(&[running("mid", 1)]).expect("append");

    let ids = |filter: JobFilter| -> Vec<String> {
        store
            .list_jobs(&filter)
            .expect("list")
            .into_iter()
            .map(|j| j.id)
            .collect()
    };
    assert_eq!(ids(JobFilter::default()), ["new", "mid", "old"]);
    let limited = JobFilter {
        limit: Some(2),
        ..JobFilter::default()
    };
    assert_eq!(ids(limited), ["new", "mid"]);
    let snapshots = JobFilter {
        kind: Some(JobKind::Snapshot),
        ..JobFilter::default()
    };
    assert_eq!(ids(snapshots), ["new", "old"]);
    let running_jobs = JobFilter {
        state: Some(JobState::Running),
        ..JobFilter::default()
    };
    assert_eq!(ids(running_jobs), ["mid"]);
}

#[test]
fn two_connections_append_concurrently_without_gaps() {
    const EVENTS: u64 = 1000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = db_path(&dir);
    let setup = Store::open(&path).expect("open");
    for job in ["a", "b"] {
        setup
            .create_job(job, &snapshot_spec(), &timestamp(0))
            .expect("create");
    }
    let threads: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|job| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&path).expect("open in thread");
                let events: Vec<_> = (1..=EVENTS).map(|seq| running(job, seq)).collect();
                // Uneven batches so the two writers interleave at varied points.
                for chunk in events.chunks(7) {
                    store.append_events(chunk).expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    for job in ["a", "b"] {
        assert_eq!(seqs(&setup, job), (1..=EVENTS).collect::<Vec<_>>());
        let record = setup.job(job).expect("read").expect("exists");
        assert_eq!(record.last_seq, EVENTS);
    }
}

#[test]
fn unfinished_jobs_are_marked_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    let ends = [
        ("queued", None),
        ("running", Some(JobState::Running)),
        ("paused", Some(JobState::Paused)),
        ("done", Some(JobState::Completed)),
        ("failed", Some(JobState::Failed)),
        ("cancelled", Some(JobState::Cancelled)),
    ];
    for (id, state) in ends {
        store
            .create_job(id, &snapshot_spec(), &timestamp(0))
            .expect("create");
        if let Some(state) = state {
            let step = if state.is_terminal() {
                Step::for_terminal(state)
            } else {
                Step::Compressing
            };
            store
                .append_events(&[event(id, 1, state, step)])
                .expect("append");
        }
    }
    let mut marked = store.mark_interrupted().expect("mark");
    marked.sort();
    assert_eq!(marked, ["paused", "queued", "running"]);
    for (id, _) in &ends[..3] {
        let job = store.job(id).expect("read").expect("exists");
        assert_eq!(job.state, JobState::Interrupted);
    }
    let done = store.job("done").expect("read").expect("exists");
    assert_eq!(done.state, JobState::Completed);
    assert!(store.mark_interrupted().expect("mark").is_empty());
}

#[test]
fn checkpoints_are_kept_per_job_and_replaced_by_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&db_path(&dir)).expect("open");
    store
        .create_job("j1", &sync_spec(), &timestamp(0))
        .expect("create");
    store
        .create_job("j2", &sync_spec(), &timestamp(1))
        .expect("create");
    store.set_checkpoint("j1", "source:0", "done").expect("set");
    store.set_checkpoint("j1", "cursor", "a/b").expect("set");
    store
        .set_checkpoint("j1", "cursor", "a/c")
        .expect("replace");
    store.set_checkpoint("j2", "cursor", "z").expect("set");
    let pairs = |id| store.checkpoints(id).expect("read");
    assert_eq!(
        pairs("j1"),
        [
            ("cursor".to_owned(), "a/c".to_owned()),
            ("source:0".to_owned(), "done".to_owned()),
        ]
    );
    assert_eq!(pairs("j2"), [("cursor".to_owned(), "z".to_owned())]);
    assert!(store.set_checkpoint("nobody", "k", "v").is_err());
}

#[test]
fn prune_keeps_the_events_of_the_newest_runs_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    for (n, id) in ["j1", "j2", "j3", "j4"].into_iter().enumerate() {
        let n = n as u64;
        store
            .create_job(id, &snapshot_spec(), &timestamp(n))
            .expect("create");
        let events: Vec<_> = (1..=n + 2).map(|seq| running(id, seq)).collect();
        store.append_events(&events).expect("append");
    }
    // j1 has 2 events, j2 has 3; j3 and j4 are the newest two.
    assert_eq!(store.prune(2).expect("prune"), 5);
    assert!(seqs(&store, "j1").is_empty());
    assert!(seqs(&store, "j2").is_empty());
    assert_eq!(seqs(&store, "j3").len(), 4);
    assert_eq!(seqs(&store, "j4").len(), 5);
    assert_eq!(
        store.list_jobs(&JobFilter::default()).expect("list").len(),
        4
    );
    let j1 = store.job("j1").expect("read").expect("job row kept");
    assert_eq!(j1.last_seq, 2);
    assert_eq!(store.prune(2).expect("prune again"), 0);
    assert_eq!(store.prune(0).expect("prune all"), 9);
}

#[test]
fn the_writer_persists_a_whole_stream_in_order() {
    const EVENTS: u64 = 5000;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&db_path(&dir)).expect("open");
    store
        .create_job("j1", &snapshot_spec(), &timestamp(0))
        .expect("create");
    let mut writer =
        crate::EventWriter::spawn(Store::open(store.path()).expect("open")).expect("writer");

    let log = EventLog::new();
    let sub = log.subscribe(0);
    let pumping = std::thread::spawn(move || {
        let result = pump(sub, &mut writer);
        (writer, result)
    });
    // The log numbers the events; the 0 given here is overwritten.
    for _ in 1..EVENTS {
        log.append((*running("j1", 0)).clone()).expect("log open");
    }
    log.append((*event("j1", 0, JobState::Completed, Step::Completed)).clone())
        .expect("terminal");
    let (writer, pumped) = pumping.join().expect("pump thread");
    pumped.expect("sink stayed open");
    writer.finish().expect("every write succeeded");

    assert_eq!(seqs(&store, "j1"), (1..=EVENTS).collect::<Vec<_>>());
    let job = store.job("j1").expect("read").expect("exists");
    assert_eq!((job.state, job.last_seq), (JobState::Completed, EVENTS));
}

#[test]
fn a_writer_failure_is_reported() {
    use tidemark_core::ProgressSink;

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&db_path(&dir)).expect("open");
    let mut writer =
        crate::EventWriter::spawn(Store::open(store.path()).expect("open")).expect("writer");
    // No such job: the foreign key refuses the insert.
    writer.deliver(&running("nobody", 1)).expect("queued");
    let err = writer.finish().expect_err("the failure comes back");
    assert_eq!(err.code(), ErrorCode::DbIo);
    assert!(err.to_string().contains("appending events"), "{err}");
}

/// A database exactly as release `version` left it (its migrations, then `insert`).
fn old_history(path: &std::path::Path, version: usize, insert: &str) {
    let conn = rusqlite::Connection::open(path).expect("open");
    for m in &crate::schema::MIGRATIONS[..version] {
        conn.execute_batch(m).expect("old schema");
    }
    conn.execute(insert, []).expect("old job");
    conn.pragma_update(None, "user_version", version as i64)
        .expect("version");
}

#[test]
fn a_version_1_history_is_migrated_with_its_jobs() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v1.db");
    old_history(
        &path,
        1,
        "INSERT INTO jobs (id, kind, spec, state, created_at, processed, bytes_done) VALUES \
         ('old', 'sync', '{\"kind\":\"sync\",\"sources\":[\"/a\"],\"destination\":\"/b\"}', \
         'completed', '2026-01-01T00:00:00.000Z', 3, 30)",
    );
    let store = Store::open(&path).expect("migrates");
    assert_eq!(raw_user_version(&path), SCHEMA_VERSION);
    let job = store.job("old").expect("read").expect("kept");
    assert_eq!(
        (job.state, job.counters.processed, job.owner),
        (JobState::Completed, 3, None)
    );
}

fn origin() -> crate::RemoteOrigin {
    crate::RemoteOrigin {
        agent_id: "agent-1".into(),
        agent_name: "nas".into(),
        job_id: "j1".into(),
    }
}

fn remote_events(seqs: std::ops::RangeInclusive<u64>) -> Vec<ProgressEvent> {
    seqs.map(|s| (*running("j1", s)).clone()).collect()
}

#[test]
fn a_version_2_history_is_migrated_and_its_jobs_are_local() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v2.db");
    old_history(
        &path,
        2,
        "INSERT INTO jobs (id, kind, spec, state, created_at, processed, bytes_done, owner) \
         VALUES ('old', 'sync', '{\"kind\":\"sync\",\"sources\":[\"/a\"],\"destination\":\"/b\"}', \
         'running', '2026-01-01T00:00:00.000Z', 3, 30, 'ci')",
    );
    let mut store = Store::open(&path).expect("migrates");
    assert_eq!(raw_user_version(&path), SCHEMA_VERSION);
    let job = store.job("old").expect("read").expect("kept");
    assert_eq!(
        (job.state, job.owner.as_deref(), job.remote),
        (JobState::Running, Some("ci"), None)
    );
    // Still a local job: recovery finds it.
    assert_eq!(crate::recover(&mut store).expect("recover"), ["old"]);
}

#[test]
fn remote_events_are_stored_once_in_order_and_never_with_a_hole() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    let id = store
        .create_remote_job(&origin(), &snapshot_spec(), &timestamp(0))
        .expect("create");
    assert_eq!(id, "remote-agent-1-j1");
    assert_eq!(
        store
            .create_remote_job(&origin(), &snapshot_spec(), &timestamp(5))
            .expect("again"),
        id,
        "a second watch finds the same row"
    );
    let got = store
        .append_remote_events(&id, &remote_events(1..=3))
        .expect("append");
    assert_eq!((got.stored_up_to, got.gap_at), (3, None));
    // A second watch delivering the same events, then more.
    let got = store
        .append_remote_events(&id, &remote_events(2..=5))
        .expect("replay");
    assert_eq!((got.stored_up_to, got.gap_at), (5, None));
    // A hole: nothing from 8 on is stored.
    let mut holed = remote_events(6..=6);
    holed.extend(remote_events(8..=9));
    let got = store.append_remote_events(&id, &holed).expect("gap");
    assert_eq!((got.stored_up_to, got.gap_at), (6, Some(8)));
    assert_eq!(seqs(&store, &id), [1, 2, 3, 4, 5, 6]);
    let stored = store.events_since(&id, 0).expect("events");
    assert!(
        stored.iter().all(|e| e.job_id == "j1"),
        "stored as the agent sent them"
    );
    let job = store.job(&id).expect("read").expect("exists");
    assert_eq!((job.last_seq, job.state), (6, JobState::Running));
    assert_eq!(job.remote, Some(origin()));
    // Local ids never take the remote path.
    store
        .create_job("local", &snapshot_spec(), &timestamp(1))
        .expect("local");
    assert!(
        store
            .append_remote_events("local", &remote_events(1..=1))
            .is_err()
    );
}

#[test]
fn a_resync_replaces_the_remote_copy_with_the_agents_list() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = Store::open(&db_path(&dir)).expect("open");
    let id = store
        .create_remote_job(&origin(), &snapshot_spec(), &timestamp(0))
        .expect("create");
    store
        .append_remote_events(&id, &remote_events(1..=2))
        .expect("append");
    let state = (*running("j1", 12)).clone();
    let got = store
        .replace_remote_events(&id, &remote_events(10..=12), &state)
        .expect("replace");
    assert_eq!(got.stored_up_to, 12);
    assert_eq!(seqs(&store, &id), [10, 11, 12]);
    // Nothing kept by the agent: no event, the summary is the full state.
    let state = (*running("j1", 20)).clone();
    store
        .replace_remote_events(&id, &[], &state)
        .expect("replace");
    assert!(seqs(&store, &id).is_empty());
    assert_eq!(store.job(&id).expect("read").expect("job").last_seq, 20);
    let got = store
        .append_remote_events(&id, &remote_events(21..=21))
        .expect("next");
    assert_eq!((got.stored_up_to, got.gap_at), (21, None));
}

#[test]
fn a_remote_job_is_neither_recovered_nor_resumed_locally() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = db_path(&dir);
    let mut store = Store::open(&path).expect("open");
    let id = store
        .create_remote_job(&origin(), &snapshot_spec(), &timestamp(0))
        .expect("create");
    store
        .append_remote_events(&id, &remote_events(1..=2))
        .expect("append");
    assert!(crate::recover(&mut store).expect("recover").is_empty());
    assert!(store.mark_interrupted().expect("mark").is_empty());
    assert_eq!(
        store.job(&id).expect("read").expect("job").state,
        JobState::Running
    );
    let mut interrupted = (*running("j1", 3)).clone();
    interrupted.state = JobState::Interrupted;
    store
        .append_remote_events(&id, &[interrupted])
        .expect("append");
    let err = crate::RecordedJob::resume(&path, &id).expect_err("not here");
    assert_eq!(err.code(), ErrorCode::JobNotResumable, "{err}");
    assert_eq!(seqs(&store, &id), [1, 2, 3]);
}
