//! Jobs whose every event and checkpoint is recorded: the composition of the core's
//! `JobHandle` with this crate's store that the CLI, the desktop app and the agent all use.
//!
//! A running job holds an exclusive lock on `<db>-locks/<id>.lock` for its whole life. The
//! operating system drops that lock when the process dies, however it dies, so "running in
//! the store but nobody holds its lock" is exactly "interrupted" — even with several
//! processes sharing one database.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use tidemark_core::job::new_job_id;
use tidemark_core::{
    CheckpointError, ErrorCode, EtaSeed, JobHandle, JobOptions, JobQueue, JobSpec, JobState,
    Priority, ProgressEvent, ResumePoint, ResumeState, pump,
};

use crate::error::StoreError;
use crate::rows::JobFilter;
use crate::store::Store;
use crate::writer::EventWriter;

/// How many runs keep their full event history; older ones keep their summary only.
pub const DEFAULT_KEEP_RUNS: usize = 50;

/// Why a recorded job could not be started or resumed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no job {0} in the history")]
    NotFound(String),
    #[error("job {id} is {state}; only an interrupted job can be resumed")]
    NotResumable { id: String, state: &'static str },
    #[error("job {0} is still running in another process")]
    StillRunning(String),
}

impl RunError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::NotFound(_) => ErrorCode::JobNotFound,
            Self::NotResumable { .. } => ErrorCode::JobNotResumable,
            Self::StillRunning(_) => ErrorCode::JobStillRunning,
        }
    }
}

/// How a recorded job runs: its threads' priority, how often its counters reach the log
/// (an agent sends every logged event to each watcher, so it logs less often), and the line
/// it waits in before it runs.
#[derive(Debug, Clone)]
pub struct Launch {
    pub priority: Priority,
    pub emit_interval: std::time::Duration,
    /// The plan this run belongs to, recorded with the job.
    pub plan_id: Option<String>,
    /// The process's job queue; `None` runs the job at once.
    pub queue: Option<JobQueue>,
    /// Past runs of the same work, for an ETA from the first event ([`Store::eta_seed`]).
    pub eta_seed: Option<EtaSeed>,
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            priority: Priority::Normal,
            emit_interval: tidemark_core::progress::DEFAULT_EMIT_INTERVAL,
            plan_id: None,
            queue: None,
            eta_seed: None,
        }
    }
}

/// A job running with its history recorded.
#[derive(Debug)]
pub struct RecordedJob {
    handle: JobHandle,
    writer: JoinHandle<Result<(), StoreError>>,
    _lock: File,
}

impl RecordedJob {
    /// Records and starts a new job.
    pub fn start(db: &Path, spec: JobSpec) -> Result<RecordedJob, RunError> {
        Self::start_with(db, spec, None, Launch::default())
    }

    /// [`Self::start`] for a job started by `owner` (an agent's token name), run as `launch`
    /// says.
    pub fn start_with(
        db: &Path,
        spec: JobSpec,
        owner: Option<&str>,
        launch: Launch,
    ) -> Result<RecordedJob, RunError> {
        let mut store = Store::open(db)?;
        recover(&mut store)?;
        // Retention: the newest runs keep their events, every run keeps its summary.
        store.prune(DEFAULT_KEEP_RUNS)?;
        let id = new_job_id();
        let lock = lock_job(db, &id)?.ok_or_else(|| RunError::StillRunning(id.clone()))?;
        store.create_job_with(
            &id,
            &spec,
            &chrono::Utc::now().to_rfc3339(),
            owner,
            launch.plan_id.as_deref(),
        )?;
        let resume_state = StoreResume::new(db, &id, HashMap::new())?;
        let opts = JobOptions {
            id: Some(id),
            resume_state: Box::new(resume_state),
            priority: launch.priority,
            emit_interval: launch.emit_interval,
            queue: launch.queue,
            eta_seed: launch.eta_seed,
            ..JobOptions::default()
        };
        Self::run(db, spec, opts, lock, 0)
    }

    /// Continues an interrupted job from its last checkpoint; its events follow the stored
    /// ones without a gap.
    pub fn resume(db: &Path, id: &str) -> Result<RecordedJob, RunError> {
        Self::resume_with(db, id, Launch::default())
    }

    /// [`Self::resume`] run as `launch` says.
    pub fn resume_with(db: &Path, id: &str, launch: Launch) -> Result<RecordedJob, RunError> {
        let mut store = Store::open(db)?;
        recover(&mut store)?;
        let job = store
            .job(id)?
            .ok_or_else(|| RunError::NotFound(id.to_owned()))?;
        if job.remote.is_some() {
            // It runs on an agent: resuming it here would run the agent's paths locally.
            return Err(RunError::NotResumable {
                id: id.to_owned(),
                state: "running on an agent",
            });
        }
        if job.state != JobState::Interrupted {
            return Err(RunError::NotResumable {
                id: id.to_owned(),
                state: job.state.as_str(),
            });
        }
        let lock = lock_job(db, id)?.ok_or_else(|| RunError::StillRunning(id.to_owned()))?;
        let saved: HashMap<String, String> = store.checkpoints(id)?.into_iter().collect();
        let opts = JobOptions {
            id: Some(id.to_owned()),
            resume_state: Box::new(StoreResume::new(db, id, saved)?),
            resume_from: Some(ResumePoint {
                last_seq: job.last_seq,
                percent: job.percent,
            }),
            priority: launch.priority,
            emit_interval: launch.emit_interval,
            queue: launch.queue,
            eta_seed: launch.eta_seed,
        };
        Self::run(db, job.spec, opts, lock, job.last_seq)
    }

    fn run(
        db: &Path,
        spec: JobSpec,
        opts: JobOptions,
        lock: File,
        after: u64,
    ) -> Result<RecordedJob, RunError> {
        let mut sink = EventWriter::spawn(Store::open(db)?)?;
        let handle = JobHandle::spawn(spec, opts);
        let sub = handle.subscribe(after);
        let writer = std::thread::Builder::new()
            .name("tidemark-history".into())
            .spawn(move || {
                // A refused delivery means the writer failed; `finish` says why.
                let _closed = pump(sub, &mut sink);
                sink.finish()
            })
            .map_err(|source| StoreError::Io {
                path: db.to_owned(),
                source,
            })?;
        Ok(RecordedJob {
            handle,
            writer,
            _lock: lock,
        })
    }

    pub fn handle(&self) -> &JobHandle {
        &self.handle
    }

    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// Waits for the job and for its history to be written. The terminal event comes back
    /// even when recording failed, with the recording error beside it.
    pub fn wait(self) -> (Option<Arc<ProgressEvent>>, Result<(), StoreError>) {
        let end = self.handle.wait();
        let recorded = self.writer.join().unwrap_or_else(|_| {
            Err(StoreError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other("the history writer panicked"),
            })
        });
        (end, recorded)
    }
}

/// Finds the local jobs whose process is gone (no one holds their lock) and records them as
/// `interrupted`, with an event saying so after their last stored one. Returns their ids.
pub fn recover(store: &mut Store) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for state in [JobState::Queued, JobState::Running, JobState::Paused] {
        let filter = JobFilter {
            state: Some(state),
            ..JobFilter::default()
        };
        for job in store.list_jobs(&filter)? {
            // A remote job's process is the agent's, not ours: its state is the agent's to tell.
            if job.remote.is_some() {
                continue;
            }
            let Some(lock) = lock_job(store.path(), &job.id)? else {
                continue;
            };
            let last = store
                .events_since(&job.id, job.last_seq.saturating_sub(1))?
                .pop();
            let ev = interrupted_event(&job.id, job.spec.kind(), job.last_seq, last);
            store.append_events(&[Arc::new(ev)])?;
            drop(lock);
            let _gone = fs::remove_file(lock_path(store.path(), &job.id));
            found.push(job.id);
        }
    }
    Ok(found)
}

fn interrupted_event(
    id: &str,
    kind: tidemark_core::JobKind,
    last_seq: u64,
    last: Option<ProgressEvent>,
) -> ProgressEvent {
    let mut ev = last.unwrap_or_else(|| ProgressEvent::blank(id, kind, kind.total_steps()));
    ev.seq = last_seq + 1;
    ev.state = JobState::Interrupted;
    ev.rate_per_sec = None;
    ev.eta_seconds = None;
    ev.eta_source = None;
    ev.message = "Interrupted: Tidemark stopped before the job ended; it can be resumed".into();
    ev.timestamp = tidemark_core::event::now_timestamp();
    ev
}

fn lock_path(db: &Path, id: &str) -> PathBuf {
    let mut dir = db.as_os_str().to_owned();
    dir.push("-locks");
    PathBuf::from(dir).join(format!("{id}.lock"))
}

/// Takes the job's lock; `None` if a live process holds it.
fn lock_job(db: &Path, id: &str) -> Result<Option<File>, StoreError> {
    let path = lock_path(db, id);
    let io_err = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io_err(e)),
    }
}

/// Checkpoints in the store: read once when the run starts, written through as saved.
struct StoreResume {
    store: Store,
    id: String,
    saved: HashMap<String, String>,
}

impl StoreResume {
    fn new(db: &Path, id: &str, saved: HashMap<String, String>) -> Result<Self, StoreError> {
        Ok(Self {
            store: Store::open(db)?,
            id: id.to_owned(),
            saved,
        })
    }
}

impl ResumeState for StoreResume {
    fn load(&self, key: &str) -> Option<String> {
        self.saved.get(key).cloned()
    }

    fn save(&mut self, key: &str, value: &str) -> Result<(), CheckpointError> {
        self.store
            .set_checkpoint(&self.id, key, value)
            .map_err(CheckpointError::new)?;
        self.saved.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
