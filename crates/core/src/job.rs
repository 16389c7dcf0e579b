//! Running a job: one function per kind of work, and a handle to a job running on its own
//! thread (its log, its control, its end).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::Control;
use crate::error::JobError;
use crate::event::{JobKind, ProgressEvent};
use crate::log::{EventLog, Subscription};
use crate::progress::{DEFAULT_EMIT_INTERVAL, Reporter};
use crate::resume::{NoResume, ResumeState};
use crate::snapshot::{self, SnapshotSpec};
use crate::sync::{self, SyncSpec};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    Snapshot(SnapshotSpec),
    Sync(SyncSpec),
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Snapshot(_) => JobKind::Snapshot,
            Self::Sync(_) => JobKind::Sync,
        }
    }
}

/// Runs `spec` to the end on the calling thread, reporting through `rep`. Returns the result
/// location; the caller turns the outcome into the terminal event.
pub fn execute(spec: &JobSpec, rep: &mut Reporter) -> Result<String, JobError> {
    match spec {
        JobSpec::Snapshot(s) => snapshot::run(s, rep),
        JobSpec::Sync(s) => sync::run(s, rep),
    }
}

#[derive(Debug)]
pub struct JobOptions {
    pub id: Option<String>,
    pub emit_interval: Duration,
    /// Where the run keeps what a resume needs (nothing by default).
    pub resume_state: Box<dyn ResumeState>,
    /// Set when this run continues an interrupted one.
    pub resume_from: Option<ResumePoint>,
}

/// Where an interrupted run stopped: its events continue after `last_seq`, its bar from
/// `percent`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResumePoint {
    pub last_seq: u64,
    pub percent: Option<f64>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            id: None,
            emit_interval: DEFAULT_EMIT_INTERVAL,
            resume_state: Box::new(NoResume),
            resume_from: None,
        }
    }
}

pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A job running on its own thread.
#[derive(Debug)]
pub struct JobHandle {
    id: String,
    kind: JobKind,
    log: Arc<EventLog>,
    control: Control,
    thread: Option<JoinHandle<()>>,
}

impl JobHandle {
    /// Starts `spec`. Its first event (`queued`) is in the log before this returns, so a
    /// subscriber from seq 0 misses nothing.
    pub fn spawn(spec: JobSpec, opts: JobOptions) -> JobHandle {
        let id = opts.id.unwrap_or_else(new_job_id);
        let kind = spec.kind();
        let log = match opts.resume_from {
            Some(p) => EventLog::resuming(crate::log::DEFAULT_CAPACITY, p.last_seq),
            None => EventLog::new(),
        };
        let control = Control::new();
        let plan = match &spec {
            JobSpec::Snapshot(s) => snapshot::plan_for(s),
            JobSpec::Sync(_) => sync::plan(),
        };
        let mut rep = Reporter::new(id.clone(), kind, log.clone(), control.clone(), plan)
            .with_interval(opts.emit_interval)
            .with_percent_floor(opts.resume_from.and_then(|p| p.percent))
            .with_resume_state(opts.resume_state, opts.resume_from.is_some());
        if opts.resume_from.is_some() {
            rep.set_message("Resuming");
        }
        rep.queued();
        let thread = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || run_to_end(&spec, &mut rep))
            .ok();
        if thread.is_none() {
            // Could not even start a thread: end the log so nobody waits forever.
            log.close();
        }
        JobHandle {
            id,
            kind,
            log,
            control,
            thread,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> JobKind {
        self.kind
    }

    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    pub fn subscribe(&self, after: u64) -> Subscription {
        self.log.subscribe(after)
    }

    /// Waits for the job's end; returns its terminal event.
    pub fn wait(mut self) -> Option<Arc<ProgressEvent>> {
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
        self.log.latest().filter(|e| e.is_terminal())
    }
}

/// Runs the engine and always ends the log with one terminal event, even if the engine
/// panicked.
pub fn run_to_end(spec: &JobSpec, rep: &mut Reporter) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute(spec, rep)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(JobError::Io {
                context: "internal error".into(),
                source: std::io::Error::other(what),
            })
        });
    rep.finish(&outcome);
}
