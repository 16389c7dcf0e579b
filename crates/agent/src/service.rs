//! What the agent does, as plain functions over the core and the store; the HTTP layer only
//! adapts them. Everything here may block (SQLite, joining threads): call it off the async
//! executor.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tidemark_core::{ErrorCode, JobSpec, JobState, Priority, ProgressEvent, Step, Subscription};
use tidemark_store::{
    JobFilter, JobRecord, Launch, LiveJob, Pool, Pooled, RecordedJob, Registry, RunError, Store,
    StoreError, recover,
};

use crate::auth::Identity;

// Where a job's paths may lead: under the agent's roots.
mod confine;

/// Most concurrent progress streams one token may hold, unless configured otherwise.
pub const MAX_STREAMS_PER_TOKEN: usize = 64;

/// How often an agent's jobs log counter updates, unless configured otherwise: twice a
/// second, as every logged event is sent to each watcher (steps and ends are never held).
pub const EMIT_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("this token is read-only: it may follow jobs but not start or change them")]
    ReadOnly,
    #[error("{0} is outside the folders this agent may use")]
    ForbiddenPath(String),
    #[error("no job {0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("this route does not answer {0}: its Allow header says what it answers")]
    MethodNotAllowed(String),
    #[error("the request body is larger than 1 MiB")]
    PayloadTooLarge,
    #[error("more than {0} progress streams open for this token")]
    TooManyStreams(usize),
    #[error("job {id} is {state}: {what}")]
    Conflict {
        id: String,
        state: &'static str,
        what: &'static str,
    },
    #[error("the history is busy, try again: {0}")]
    Busy(StoreError),
    #[error("{0}")]
    Internal(String),
    /// A plan operation's refusal, with its own code.
    #[error("{}", .0.message)]
    Plan(tidemark_core::ErrorInfo),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::ReadOnly => ErrorCode::ReadOnly,
            Self::ForbiddenPath(_) => ErrorCode::ForbiddenPath,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadRequest(_) | Self::MethodNotAllowed(_) => ErrorCode::BadRequest,
            Self::PayloadTooLarge => ErrorCode::PayloadTooLarge,
            Self::TooManyStreams(_) => ErrorCode::TooManyStreams,
            Self::Conflict { .. } => ErrorCode::Conflict,
            Self::Busy(_) => ErrorCode::DbLocked,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Plan(e) => e.code,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.code() {
            ErrorCode::DbLocked => ApiError::Busy(e),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// Why the agent could not open its history or its roots.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("--root {}: {source}", path.display())]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--root {} is not a folder", .0.display())]
    RootNotAFolder(PathBuf),
}

impl OpenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::Root { .. } | Self::RootNotAFolder(_) => ErrorCode::Setup,
        }
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Store(e) => e.into(),
            RunError::NotFound(id) => ApiError::NotFound(id),
            RunError::NotResumable { id, state } => ApiError::Conflict {
                id,
                state,
                what: "only an interrupted or paused job resumes",
            },
            RunError::StillRunning(id) => ApiError::Conflict {
                id,
                state: "running",
                what: "it runs in another process",
            },
        }
    }
}

#[derive(Debug)]
pub struct Agent {
    pub(crate) db: PathBuf,
    roots: Vec<PathBuf>,
    live: Registry<()>,
    streams: Arc<Mutex<HashMap<String, usize>>>,
    max_streams: usize,
    pub(crate) pool: Pool,
    pub(crate) launch: Launch,
    /// The plans' scheduler, once the agent serves (see `plans`).
    pub(crate) scheduler: std::sync::OnceLock<tidemark_plans::SchedulerHandle>,
}

/// What a progress stream delivers, in order.
#[derive(Debug)]
pub enum FeedItem {
    Event(Arc<ProgressEvent>),
    /// The full current state, standing in for events no longer kept.
    Resync(Arc<ProgressEvent>),
}

/// A progress stream: stored events first, then live ones, for as long as it is held.
#[derive(Debug)]
pub struct Feed {
    pub replay: VecDeque<FeedItem>,
    pub live: Option<Subscription>,
    /// Set when the job is not running here and has not ended (interrupted): the stream
    /// stays open and follows the job if it is resumed. Holds the last seq sent.
    pub waiting_after: Option<u64>,
    pub job_id: String,
    pub slot: StreamSlot,
}

/// What a waiting stream finds when it looks again.
#[derive(Debug)]
pub enum Reattach {
    Live(Subscription),
    /// The job ended meanwhile: its remaining stored events.
    Ended(Vec<Arc<ProgressEvent>>),
    Wait,
}

/// One of a token's stream slots, given back when the stream is dropped.
#[derive(Debug)]
pub struct StreamSlot {
    key: String,
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = lock(&self.streams);
        if let Some(n) = streams.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Refuses a read-only caller anything but looking.
pub(crate) fn may_act(who: &Identity) -> Result<(), ApiError> {
    if who.may_act() {
        Ok(())
    } else {
        Err(ApiError::ReadOnly)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Agent {
    /// Opens the history (settling jobs a previous agent left running) and the roots. Jobs
    /// log counter updates every `emit_interval`: each logged event goes to every watcher.
    pub fn open(
        db: PathBuf,
        roots: &[PathBuf],
        max_streams: usize,
        emit_interval: Duration,
    ) -> Result<Agent, OpenError> {
        let mut store = Store::open(&db)?;
        recover(&mut store)?;
        let roots = roots
            .iter()
            .map(|r| {
                let p = dunce::canonicalize(r).map_err(|source| OpenError::Root {
                    path: r.clone(),
                    source,
                })?;
                if p.is_dir() {
                    Ok(p)
                } else {
                    Err(OpenError::RootNotAFolder(r.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Agent {
            pool: Pool::new(db.clone()),
            db,
            roots,
            live: Registry::default(),
            streams: Arc::default(),
            max_streams,
            scheduler: std::sync::OnceLock::new(),
            launch: Launch {
                priority: Priority::Background,
                emit_interval,
                plan_id: None,
                // Every job of the agent waits in this one line.
                queue: Some(tidemark_core::JobQueue::new(crate::MAX_JOBS)),
                eta_seed: None,
            },
        })
    }

    /// Runs at most `n` jobs at once, the others waiting as `queued` (waiting ones at once).
    pub fn set_max_jobs(&self, n: usize) {
        if let Some(q) = &self.launch.queue {
            q.set_limit(n);
        }
    }

    /// The folders jobs may use, resolved.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub(crate) fn store(&self) -> Result<Pooled<'_>, ApiError> {
        Ok(self.pool.get()?)
    }

    /// The record of a job `who` may see; others' jobs do not exist for them.
    pub(crate) fn visible(&self, who: &Identity, id: &str) -> Result<JobRecord, ApiError> {
        let job = self
            .store()?
            .job(id)?
            .ok_or_else(|| ApiError::NotFound(id.to_owned()))?;
        match who.owner() {
            Some(owner) if job.owner.as_deref() != Some(owner) => {
                Err(ApiError::NotFound(id.to_owned()))
            }
            _ => Ok(job),
        }
    }

    pub fn start(&self, who: &Identity, spec: JobSpec) -> Result<JobRecord, ApiError> {
        may_act(who)?;
        let spec = self.confine_spec(spec)?;
        let job = RecordedJob::start_with(&self.db, spec, who.owner(), self.launch.clone())?;
        let id = job.id().to_owned();
        self.track(job);
        self.visible(who, &id)
    }

    /// Keeps a started job reachable while it runs, and forgets it when it ends.
    pub(crate) fn track(&self, job: RecordedJob) {
        crate::logs::job_started(job.id(), job.handle().kind());
        self.live.track(job, (), |id, ended| {
            crate::logs::job_ended(id, ended.log.latest().as_deref());
        });
    }

    pub fn list(&self, who: &Identity) -> Result<Vec<JobRecord>, ApiError> {
        let filter = JobFilter {
            owner: who.owner().map(str::to_owned),
            ..JobFilter::default()
        };
        Ok(self.store()?.list_jobs(&filter)?)
    }

    pub fn job(&self, who: &Identity, id: &str) -> Result<JobRecord, ApiError> {
        self.visible(who, id)
    }

    fn live(&self, id: &str) -> Option<LiveJob<()>> {
        self.live.get(id)
    }

    pub fn cancel(&self, who: &Identity, id: &str) -> Result<JobRecord, ApiError> {
        may_act(who)?;
        let job = self.visible(who, id)?;
        match self.live(id) {
            Some(live) => {
                live.control.cancel();
                Ok(job)
            }
            None => Err(ApiError::Conflict {
                id: id.into(),
                state: job.state.as_str(),
                what: "it is not running",
            }),
        }
    }

    pub fn pause(&self, who: &Identity, id: &str) -> Result<JobRecord, ApiError> {
        may_act(who)?;
        let job = self.visible(who, id)?;
        match self.live(id) {
            Some(live) => {
                live.control.pause();
                Ok(job)
            }
            None => Err(ApiError::Conflict {
                id: id.into(),
                state: job.state.as_str(),
                what: "it is not running",
            }),
        }
    }

    /// Resumes a paused job, or continues an interrupted one from its last checkpoint.
    pub fn resume(&self, who: &Identity, id: &str) -> Result<JobRecord, ApiError> {
        may_act(who)?;
        self.visible(who, id)?;
        if let Some(live) = self.live(id) {
            live.control.resume();
        } else {
            let job = RecordedJob::resume_with(&self.db, id, self.launch.clone())?;
            self.track(job);
        }
        self.visible(who, id)
    }

    /// The job's current state.
    pub fn progress(&self, who: &Identity, id: &str) -> Result<Arc<ProgressEvent>, ApiError> {
        let job = self.visible(who, id)?;
        if let Some(ev) = self.live(id).and_then(|l| l.log.latest()) {
            return Ok(ev);
        }
        let last = self
            .store()?
            .events_since(id, job.last_seq.saturating_sub(1))?
            .pop();
        Ok(Arc::new(last.unwrap_or_else(|| state_of(&job))))
    }

    /// Every event after `since` that exists now (stored, then live).
    pub fn events(
        &self,
        who: &Identity,
        id: &str,
        since: u64,
    ) -> Result<Vec<Arc<ProgressEvent>>, ApiError> {
        self.visible(who, id)?;
        let live = self.live(id);
        let stored_up_to = live
            .as_ref()
            .map(|l| l.log.started_after())
            .unwrap_or(u64::MAX);
        let mut out: Vec<Arc<ProgressEvent>> = self
            .store()?
            .events_since(id, since)?
            .into_iter()
            .filter(|e| e.seq <= stored_up_to)
            .map(Arc::new)
            .collect();
        if let Some(l) = live {
            out.extend(l.log.since(since.max(stored_up_to)));
        }
        Ok(out)
    }

    /// A progress stream from after `since`: what was missed, then live events until the
    /// job ends. Events the history no longer keeps are replaced by one resync with the
    /// full state.
    pub fn subscribe(&self, who: &Identity, id: &str, since: u64) -> Result<Feed, ApiError> {
        let job = self.visible(who, id)?;
        let slot = self.take_stream_slot(who)?;
        let live = self.live(id);
        let stored_up_to = live
            .as_ref()
            .map(|l| l.log.started_after())
            .unwrap_or(job.last_seq);
        let mut replay = VecDeque::new();
        let mut after = since;
        if since < stored_up_to {
            let stored: Vec<ProgressEvent> = self
                .store()?
                .events_since(id, since)?
                .into_iter()
                .filter(|e| e.seq <= stored_up_to)
                .collect();
            if stored.first().is_some_and(|e| e.seq == since + 1) {
                after = stored.last().map(|e| e.seq).unwrap_or(since);
                replay.extend(stored.into_iter().map(|e| FeedItem::Event(Arc::new(e))));
            } else {
                // The history no longer has them: the full state stands in.
                let latest = match &live {
                    Some(l) => l.log.latest(),
                    None => None,
                };
                let latest = match latest {
                    Some(ev) => ev,
                    None => {
                        let last = self
                            .store()?
                            .events_since(id, job.last_seq.saturating_sub(1))?
                            .pop();
                        Arc::new(last.unwrap_or_else(|| state_of(&job)))
                    }
                };
                after = latest.seq;
                replay.push_back(FeedItem::Resync(latest));
            }
        }
        let waiting_after = (live.is_none() && !job.state.is_terminal()).then_some(after);
        let live = live.map(|l| l.log.subscribe(after.max(l.log.started_after())));
        Ok(Feed {
            replay,
            live,
            waiting_after,
            job_id: id.to_owned(),
            slot,
        })
    }

    /// For a stream waiting on a job that is not running: is it running now, or over?
    pub fn reattach(&self, id: &str, after: u64) -> Result<Reattach, ApiError> {
        if let Some(l) = self.live(id) {
            return Ok(Reattach::Live(
                l.log.subscribe(after.max(l.log.started_after())),
            ));
        }
        let store = self.store()?;
        let job = store
            .job(id)?
            .ok_or_else(|| ApiError::NotFound(id.to_owned()))?;
        if job.state.is_terminal() {
            let rest = store
                .events_since(id, after)?
                .into_iter()
                .map(Arc::new)
                .collect();
            return Ok(Reattach::Ended(rest));
        }
        Ok(Reattach::Wait)
    }

    /// What a metrics scrape shows of the jobs: the history's count by state, and each
    /// live job's percent.
    pub fn jobs_now(&self) -> Result<crate::metrics::JobsNow, ApiError> {
        let by_state = self.store()?.count_by_state()?;
        let percents = (self.live.ids().into_iter())
            .filter_map(|id| Some((id.clone(), self.live(&id)?.log.latest()?.percent?)))
            .collect();
        Ok(crate::metrics::JobsNow { by_state, percents })
    }

    fn take_stream_slot(&self, who: &Identity) -> Result<StreamSlot, ApiError> {
        let key = who.key();
        let mut streams = lock(&self.streams);
        let n = streams.entry(key.clone()).or_insert(0);
        if *n >= self.max_streams {
            return Err(ApiError::TooManyStreams(self.max_streams));
        }
        *n += 1;
        Ok(StreamSlot {
            key,
            streams: self.streams.clone(),
        })
    }

    /// Cancels every running job and waits (a bounded time) for them to end cleanly.
    pub fn shutdown(&self) {
        for control in self.live.controls() {
            control.cancel();
        }
        for _ in 0..200 {
            if self.live.is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A job's state as one event, from its summary (when its events are no longer kept).
fn state_of(job: &JobRecord) -> ProgressEvent {
    let total_steps = job.kind.total_steps();
    let mut ev = ProgressEvent::blank(job.id.clone(), job.kind, total_steps);
    if job.state.is_terminal() {
        ev.step = Step::for_terminal(job.state);
        ev.step_number = total_steps;
    }
    ev.seq = job.last_seq;
    ev.state = job.state;
    ev.percent = job.percent;
    ev.counters = job.counters;
    ev.message = match job.state {
        JobState::Interrupted => "Interrupted".into(),
        s => s.as_str().to_string(),
    };
    ev.error = job.error.clone();
    ev.result_url = job.result_url.clone();
    ev.timestamp = job
        .finished_at
        .clone()
        .unwrap_or_else(|| job.created_at.clone());
    ev
}
