//! Running a job: one function per kind of work, and a handle to a job running on its own
//! thread (its log, its control, its end).

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::control::Control;
use crate::error::JobError;
use crate::event::{JobKind, ProgressEvent};
use crate::log::{EventLog, Subscription};
use crate::progress::{DEFAULT_EMIT_INTERVAL, Reporter, StepPlan};
use crate::queue::{JobQueue, Slot, Ticket};
use crate::restore::{self, RestoreSpec, VerifySpec};
use crate::resume::{NoResume, ResumeState};
use crate::seed::EtaSeed;
use crate::snapshot::{self, SnapshotSpec};
use crate::sync::{self, SyncSpec};

/// What a job does, tagged by `kind`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    Snapshot(SnapshotSpec),
    Sync(SyncSpec),
    Restore(RestoreSpec),
    Verify(VerifySpec),
}

impl JobSpec {
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Snapshot(_) => JobKind::Snapshot,
            Self::Sync(_) => JobKind::Sync,
            Self::Restore(_) => JobKind::Restore,
            Self::Verify(_) => JobKind::Verify,
        }
    }
}

/// Runs `spec` to the end on the calling thread, reporting through `rep`. Returns the result
/// location; the caller turns the outcome into the terminal event.
pub fn execute(spec: &JobSpec, rep: &mut Reporter) -> Result<String, JobError> {
    #[cfg(any(test, feature = "test-panic"))]
    crate::panic::inject::check(&match spec {
        JobSpec::Snapshot(s) => vec![s.source.as_path()],
        JobSpec::Sync(s) => s.sources.iter().map(std::path::PathBuf::as_path).collect(),
        JobSpec::Restore(s) => vec![s.to.as_path()],
        JobSpec::Verify(s) => vec![std::path::Path::new(&s.archive)],
    });
    match spec {
        JobSpec::Snapshot(s) => snapshot::run(s, rep),
        JobSpec::Sync(s) => sync::run(s, rep),
        JobSpec::Restore(s) => restore::run(s, rep),
        JobSpec::Verify(s) => restore::run_verify(s, rep),
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
    pub priority: Priority,
    /// The line the job waits in before it runs (see [`crate::queue`]); `None` runs it at
    /// once.
    pub queue: Option<JobQueue>,
    /// What past runs of the same work took: the run's ETA starts from it (see
    /// [`crate::seed`]).
    pub eta_seed: Option<EtaSeed>,
}

/// How a job's threads compete for the CPU with the rest of their process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Priority {
    /// Like any other thread: the job is what the user waits for (the CLI, the desktop app).
    #[default]
    Normal,
    /// Behind the process's other threads (nice + 10 on Linux, "utility" on macOS, background
    /// mode on Windows: see `platform::priority`): in the agent, a job that
    /// keeps every core busy must not slow the API and the progress streams down. It still
    /// gets every cycle nothing else wants.
    Background,
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
            priority: Priority::Normal,
            queue: None,
            eta_seed: None,
        }
    }
}

pub fn new_job_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `job-` and the end of the id: Linux keeps 15 bytes of a thread's name, and an id's first
/// characters are its start time, the same for jobs started in the same second.
pub fn thread_name(id: &str) -> String {
    let tail: Vec<char> = id.chars().rev().take(11).collect();
    format!("job-{}", tail.into_iter().rev().collect::<String>())
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
    /// subscriber from seq 0 misses nothing. With a queue, the job takes its place in line
    /// here and its thread waits for a slot (its events stay `queued`, saying how many jobs
    /// are ahead); cancelled while waiting, it ends `cancelled` without starting.
    pub fn spawn(spec: JobSpec, opts: JobOptions) -> JobHandle {
        let id = opts.id.unwrap_or_else(new_job_id);
        let kind = spec.kind();
        let log = match opts.resume_from {
            Some(p) => EventLog::resuming(crate::log::DEFAULT_CAPACITY, p.last_seq),
            None => EventLog::new(),
        };
        let control = Control::new();
        let plan = plan_of(&spec);
        let mut rep = Reporter::new(id.clone(), kind, log.clone(), control.clone(), plan)
            .with_interval(opts.emit_interval)
            .with_percent_floor(opts.resume_from.and_then(|p| p.percent))
            .with_resume_state(opts.resume_state, opts.resume_from.is_some())
            .with_eta_seed(opts.eta_seed);
        if opts.resume_from.is_some() {
            rep.set_message("Resuming");
        }
        let ticket = opts.queue.as_ref().map(|q| q.enter(&control));
        if let Some(place) = ticket.as_ref().and_then(Ticket::waiting_place) {
            rep.set_message(place.message());
        }
        rep.queued();
        let priority = opts.priority;
        let thread = std::thread::Builder::new()
            .name(thread_name(&id))
            .spawn(move || {
                if priority == Priority::Background {
                    crate::platform::priority::lower_this_thread();
                }
                // Held until the terminal event is in the log, whatever the end: the next
                // job never overlaps this one's last event.
                let _slot: Option<Slot> = match ticket {
                    Some(t) => match wait_in_line(t, &mut rep) {
                        Ok(slot) => Some(slot),
                        Err(cancelled) => {
                            rep.finish(&Err(cancelled.into()));
                            return;
                        }
                    },
                    None => None,
                };
                run_to_end(&spec, &mut rep)
            })
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

/// Waits for a slot, telling the job's log each new place in line.
fn wait_in_line(ticket: Ticket, rep: &mut Reporter) -> Result<Slot, crate::error::Cancelled> {
    let resumed = rep.is_resumed();
    let slot = ticket.wait(|place| {
        rep.set_message(place.message());
        rep.flush();
    })?;
    // The place in line said nothing about the run itself.
    if resumed {
        rep.set_message("Resuming");
    } else {
        rep.clear_message();
    }
    Ok(slot)
}

/// Runs the engine and always ends the log with one terminal event, even if the engine
/// panicked: that is a bug, so it ends as `internal` and is logged with where it happened.
pub fn run_to_end(spec: &JobSpec, rep: &mut Reporter) {
    let outcome = crate::panic::catch(|| execute(spec, rep)).unwrap_or_else(|panicked| {
        tracing::error!(
            job = rep.job_id(),
            location = panicked.location.as_deref().unwrap_or("unknown"),
            "the job panicked: {}",
            panicked.message
        );
        Err(JobError::Panicked(panicked))
    });
    rep.finish(&outcome);
}

/// The steps a job of `spec` goes through, with their shares of the work.
pub fn plan_of(spec: &JobSpec) -> StepPlan {
    match spec {
        JobSpec::Snapshot(s) => snapshot::plan_for(s),
        JobSpec::Sync(_) => sync::plan(),
        JobSpec::Restore(_) => restore::restore_plan(),
        JobSpec::Verify(_) => restore::verify_plan(),
    }
}

impl JobKind {
    /// How many steps a job of this kind shows, its end included, from its step plan (a
    /// snapshot's destination changes the steps' shares, never their number).
    pub fn total_steps(self) -> u32 {
        match self {
            JobKind::Snapshot => snapshot::plan_for(&SnapshotSpec {
                source: PathBuf::new(),
                destination: String::new(),
                name: None,
            })
            .total_steps(),
            JobKind::Sync => sync::plan().total_steps(),
            JobKind::Restore => restore::restore_plan().total_steps(),
            JobKind::Verify => restore::verify_plan().total_steps(),
        }
    }
}

#[cfg(test)]
mod step_count_tests {
    use super::*;

    #[test]
    fn a_kind_counts_its_plans_steps_and_its_end() {
        let sync = JobSpec::Sync(SyncSpec {
            sources: vec![PathBuf::from("/a")],
            destination: PathBuf::from("/b"),
            delete: false,
        });
        assert_eq!(JobKind::Sync.total_steps(), plan_of(&sync).total_steps());
        assert_eq!(JobKind::Sync.total_steps(), 4);
        for destination in ["/backups", "https://example.com/up"] {
            let snap = JobSpec::Snapshot(SnapshotSpec {
                source: PathBuf::from("/a"),
                destination: destination.into(),
                name: None,
            });
            assert_eq!(
                JobKind::Snapshot.total_steps(),
                plan_of(&snap).total_steps()
            );
        }
        assert_eq!(JobKind::Snapshot.total_steps(), 6);
        assert_eq!(JobKind::Restore.total_steps(), 5);
        assert_eq!(JobKind::Verify.total_steps(), 4);
    }
}
