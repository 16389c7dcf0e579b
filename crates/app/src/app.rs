//! [`App`]: one plain function per IPC command. It is a cheap handle (clone it freely) over
//! the running jobs, the subscriptions and the persisted settings and agents.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tidemark_core::snapshot::is_url;
use tidemark_core::{
    Control, EventLog, JobSpec, JobState, ProgressEvent, SnapshotSpec, SyncSpec, fsutil,
};
use tidemark_store::{JobFilter, RecordedJob, RemoteOrigin, Store, recover};
use tokio::runtime::Handle;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::notify::{self, Notification, Notifier};
use crate::record::RemoteRecorder;
use crate::settings::{self, AGENTS_FILE, SETTINGS_FILE};
use crate::subscribe::{self, UpdateSink};
use crate::summary;
use crate::types::*;

/// About 10 updates a second to a window.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(100);

/// Where the app keeps its things. Tests point it at a temporary folder.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The history database; settings and agents live in the same folder.
    pub db: PathBuf,
}

impl AppConfig {
    pub fn data_dir(&self) -> PathBuf {
        self.db
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

/// What the shell is told about, beside command results. Every method has a quiet default.
pub trait Hooks: Send + Sync {
    /// Jobs that started, moved on or ended: only those, as they are now (see `announce`).
    fn jobs_changed(&self, _change: &JobsChanged) {}
    /// A job ended (completed, failed or cancelled).
    fn job_ended(&self, _job: &JobSummary) {}
}

#[derive(Debug, Clone, Default)]
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Notifications go nowhere (tests, or a shell without a notification service).
#[derive(Debug, Clone, Default)]
pub struct NoNotifier;
impl Notifier for NoNotifier {
    fn notify(&self, _: &Notification) -> Result<(), crate::notify::NotifyError> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub log: Arc<EventLog>,
    control: Control,
    spec: JobSpec,
    created_at: String,
    started: Instant,
}

/// An agent as stored, token included; [`AgentInfo`] is what the UI sees.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAgent {
    id: String,
    name: String,
    url: String,
    token: String,
}

impl StoredAgent {
    fn info(&self) -> AgentInfo {
        AgentInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
        }
    }
}

pub(crate) struct Inner {
    config: AppConfig,
    pub runtime: Handle,
    jobs: Mutex<HashMap<String, Active>>,
    subs: Mutex<HashMap<u32, JoinHandle<()>>>,
    next_sub: AtomicU32,
    settings: Mutex<Settings>,
    agents: Mutex<Vec<StoredAgent>>,
    /// Ids of jobs (re)started in this process, for subscribers waiting on an interrupted job.
    pub started: broadcast::Sender<String>,
    pub(crate) hooks: Arc<dyn Hooks>,
    /// Held while a job's change is announced and while a job leaves `jobs`, so that no
    /// announcement of it as active can follow the one of its end.
    pub(crate) announcing: Mutex<()>,
    notifier: Arc<dyn Notifier>,
}

#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("db", &self.inner.config.db)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every later command down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// Opens the app's state. Jobs a dead process left running become `interrupted` now;
    /// a history that cannot be opened is reported by the commands that need it, so the
    /// window still comes up and says what is wrong.
    pub fn new(
        config: AppConfig,
        runtime: Handle,
        hooks: Arc<dyn Hooks>,
        notifier: Arc<dyn Notifier>,
    ) -> App {
        let dir = config.data_dir();
        let settings = settings::load_json(&dir.join(SETTINGS_FILE));
        let agents = settings::load_json(&dir.join(AGENTS_FILE));
        if let Err(e) = Store::open(&config.db).and_then(|mut s| recover(&mut s)) {
            tracing::error!("history: {e}");
        }
        App {
            inner: Arc::new(Inner {
                config,
                runtime,
                jobs: Mutex::new(HashMap::new()),
                subs: Mutex::new(HashMap::new()),
                next_sub: AtomicU32::new(1),
                settings: Mutex::new(settings),
                agents: Mutex::new(agents),
                started: broadcast::channel(64).0,
                hooks,
                announcing: Mutex::new(()),
                notifier,
            }),
        }
    }

    pub fn db(&self) -> &Path {
        &self.inner.config.db
    }

    fn store(&self) -> Result<Store> {
        Ok(Store::open(self.db())?)
    }

    // ---- jobs ----

    pub fn start_snapshot(&self, req: StartSnapshot) -> Result<JobSummary> {
        let source = non_empty(&req.source, "source folder")?;
        let destination = non_empty(&req.destination, "destination")?;
        fsutil::source_dir(Path::new(source))?;
        if !is_url(destination) && !Path::new(destination).is_absolute() {
            return Err(Error::InvalidInput(format!(
                "destination {destination:?} must be an absolute folder path or an http(s) URL"
            )));
        }
        let name = req
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        if let Some(n) = &name
            && (n.contains('/') || n.contains('\\') || n.starts_with('.'))
        {
            return Err(Error::InvalidInput(format!(
                "snapshot name {n:?} must be a plain file name"
            )));
        }
        self.start(JobSpec::Snapshot(SnapshotSpec {
            source: PathBuf::from(source),
            destination: destination.to_owned(),
            name,
        }))
    }

    pub fn start_sync(&self, req: StartSync) -> Result<JobSummary> {
        if req.sources.is_empty() {
            return Err(Error::InvalidInput(
                "pick at least one source folder".into(),
            ));
        }
        // A source that is missing or unreadable does not stop the others: the job runs,
        // and its row says what is wrong (the engine checks each source when it gets to it).
        let mut sources = Vec::new();
        for s in &req.sources {
            let s = non_empty(s, "source folder")?;
            if !Path::new(s).is_absolute() {
                return Err(Error::InvalidInput(format!(
                    "source {s:?} must be an absolute folder path"
                )));
            }
            sources.push(PathBuf::from(s));
        }
        let destination = non_empty(&req.destination, "destination")?;
        if !Path::new(destination).is_absolute() {
            return Err(Error::InvalidInput(format!(
                "destination {destination:?} must be an absolute folder path"
            )));
        }
        self.start(JobSpec::Sync(SyncSpec {
            sources,
            destination: PathBuf::from(destination),
            delete: req.delete,
        }))
    }

    fn start(&self, spec: JobSpec) -> Result<JobSummary> {
        let job = RecordedJob::start(self.db(), spec.clone())?;
        Ok(self.track(job, spec))
    }

    /// Keeps a started job in the active list, and waits for its end on a thread of its
    /// own: the end is when history is complete, notifications go out and lists change.
    fn track(&self, job: RecordedJob, spec: JobSpec) -> JobSummary {
        let id = job.id().to_owned();
        // A resumed job keeps the creation time it has in the history.
        let created_at = self
            .store()
            .ok()
            .and_then(|s| s.job(&id).ok().flatten())
            .map(|r| r.created_at)
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let active = Active {
            log: job.handle().log().clone(),
            control: job.handle().control().clone(),
            spec,
            created_at,
            started: Instant::now(),
        };
        lock(&self.inner.jobs).insert(id.clone(), active);
        let app = self.clone();
        let waiter_id = id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wait-{id}"))
            .spawn(move || {
                let (_end, recorded) = job.wait();
                if let Err(e) = recorded {
                    tracing::error!(job = %waiter_id, "recording the job: {e}");
                }
                app.job_finished(&waiter_id);
            });
        if let Err(e) = spawned {
            tracing::error!(job = %id, "cannot watch the job end: {e}");
        }
        let _nobody_waiting = self.inner.started.send(id.clone());
        let summary = self
            .active_summary(&id)
            .unwrap_or_else(|| self.placeholder(&id));
        crate::announce::started(self, &id);
        summary
    }

    fn placeholder(&self, id: &str) -> JobSummary {
        // Only reachable if the job ended between insert and read: the history has it.
        self.store()
            .ok()
            .and_then(|s| s.job(id).ok().flatten())
            .map(|r| summary::from_record(&r))
            .unwrap_or_else(|| {
                summary::queued(
                    id,
                    tidemark_core::JobKind::Snapshot,
                    chrono::Utc::now().to_rfc3339(),
                )
            })
    }

    fn job_finished(&self, id: &str) {
        let active = {
            let _order = lock(&self.inner.announcing);
            lock(&self.inner.jobs).remove(id)
        };
        let Some(active) = active else { return };
        let ended = self
            .store()
            .ok()
            .and_then(|s| s.job(id).ok().flatten())
            .map(|r| summary::from_record(&r));
        let ended = match (ended, active.log.latest()) {
            (Some(s), Some(ev)) if !s.state.is_terminal() => summary::with_live(s, &ev),
            (Some(s), _) => s,
            (None, Some(ev)) => summary::with_live(self.summary_of(id, &active), &ev),
            (None, None) => self.summary_of(id, &active),
        };
        let duration = Some(active.started.elapsed().as_millis() as u64);
        if let Some(n) = notify::for_job_end(&ended, duration) {
            self.send_notification(&n);
        }
        self.inner.hooks.job_ended(&ended);
        self.inner.hooks.jobs_changed(&JobsChanged {
            active: Vec::new(),
            ended: vec![ended],
        });
    }

    pub(crate) fn send_notification(&self, n: &Notification) {
        let now = chrono::Local::now().time();
        if !notify::allowed(n.kind, &lock(&self.inner.settings), now) {
            return;
        }
        if let Err(e) = self.inner.notifier.notify(n) {
            tracing::warn!(title = %n.title, "notification not shown: {e}");
        }
    }

    fn summary_of(&self, id: &str, a: &Active) -> JobSummary {
        JobSummary {
            title: summary::title(&a.spec),
            source: summary::source_text(&a.spec),
            destination: summary::destination(&a.spec),
            ..summary::queued(id, a.spec.kind(), a.created_at.clone())
        }
    }

    pub(crate) fn active_summary(&self, id: &str) -> Option<JobSummary> {
        let active = lock(&self.inner.jobs).get(id).cloned()?;
        let base = self.summary_of(id, &active);
        Some(match active.log.latest() {
            Some(ev) => summary::with_live(base, &ev),
            None => base,
        })
    }

    pub(crate) fn active(&self, id: &str) -> Option<Active> {
        lock(&self.inner.jobs).get(id).cloned()
    }

    /// The jobs running (or paused) in this process, oldest first.
    pub fn active_jobs(&self) -> Vec<JobSummary> {
        let mut ids: Vec<(String, Instant)> = lock(&self.inner.jobs)
            .iter()
            .map(|(id, a)| (id.clone(), a.started))
            .collect();
        ids.sort_by_key(|(_, t)| *t);
        ids.iter()
            .filter_map(|(id, _)| self.active_summary(id))
            .collect()
    }

    pub fn cancel_job(&self, id: &str) -> Result<()> {
        if let Some(a) = self.active(id) {
            a.control.cancel();
            return Ok(());
        }
        self.refuse_remote(id, "cancelled", Error::InvalidInput)?;
        // Already over (a race with its end, or a second click): nothing left to cancel.
        self.known(id).map(|_| ())
    }

    pub fn pause_job(&self, id: &str) -> Result<()> {
        match self.active(id) {
            Some(a) => {
                a.control.pause();
                Ok(())
            }
            None => {
                self.refuse_remote(id, "paused", Error::InvalidInput)?;
                let s = self.known(id)?;
                Err(Error::InvalidInput(format!(
                    "{} is {}, not running: it cannot be paused",
                    s.title,
                    s.state.as_str()
                )))
            }
        }
    }

    /// A paused job continues; an interrupted one (its process died) is resumed from its
    /// last checkpoint in a new run.
    pub fn resume_job(&self, id: &str) -> Result<JobSummary> {
        if let Some(a) = self.active(id) {
            a.control.resume();
            return self.active_summary(id).ok_or_else(|| self.gone(id));
        }
        let record = self.store()?.job(id)?;
        let Some(record) = record else {
            return Err(Error::NotFound(format!("no job {id}")));
        };
        self.refuse_remote(id, "resumed", Error::NotResumable)?;
        if record.state != JobState::Interrupted {
            return Err(Error::NotResumable(format!(
                "{} is {}; only a paused or interrupted job can be resumed",
                summary::title(&record.spec),
                record.state.as_str()
            )));
        }
        let job = RecordedJob::resume(self.db(), id)?;
        Ok(self.track(job, record.spec))
    }

    /// A new run with the spec of a job that ended (failed, cancelled, or even completed).
    pub fn retry_job(&self, id: &str) -> Result<JobSummary> {
        if self.active(id).is_some() {
            return Err(Error::InvalidInput(format!("job {id} is still running")));
        }
        let record = self
            .store()?
            .job(id)?
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
        self.refuse_remote(id, "retried", Error::NotResumable)?;
        if !record.state.is_terminal() {
            return Err(Error::NotResumable(format!(
                "{} is {}; resume it instead of retrying",
                summary::title(&record.spec),
                record.state.as_str()
            )));
        }
        self.start(record.spec)
    }

    pub fn pause_all(&self) {
        for a in lock(&self.inner.jobs).values() {
            a.control.pause();
        }
    }

    pub fn resume_all(&self) {
        for a in lock(&self.inner.jobs).values() {
            a.control.resume();
        }
    }

    /// A run recorded from an agent is the agent's: this app neither runs nor controls it.
    fn refuse_remote(&self, id: &str, what: &str, err: fn(String) -> Error) -> Result<()> {
        let Some(record) = self.store()?.job(id)? else {
            return Ok(());
        };
        match record.remote {
            Some(o) => Err(err(format!(
                "{} runs on the agent {} (job {} there): it cannot be {what} from this history",
                summary::title(&record.spec),
                o.agent_name,
                o.job_id
            ))),
            None => Ok(()),
        }
    }

    /// The history's id for job `job_id` of agent `agent_id`, once watched.
    pub fn remote_history_id(agent_id: &str, job_id: &str) -> String {
        RemoteOrigin {
            agent_id: agent_id.to_owned(),
            agent_name: String::new(),
            job_id: job_id.to_owned(),
        }
        .local_id()
    }

    fn gone(&self, id: &str) -> Error {
        Error::NotFound(format!("job {id} is no longer running"))
    }

    fn known(&self, id: &str) -> Result<JobSummary> {
        if let Some(s) = self.active_summary(id) {
            return Ok(s);
        }
        self.store()?
            .job(id)?
            .map(|r| summary::from_record(&r))
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))
    }

    // ---- history ----

    pub fn list_history(&self, filter: HistoryFilter) -> Result<Vec<JobSummary>> {
        let records = self.store()?.list_jobs(&JobFilter {
            limit: Some(filter.limit.unwrap_or(200).min(10_000) as usize),
            state: filter.state,
            kind: filter.kind,
            owner: None,
        })?;
        Ok(records
            .iter()
            .map(|r| match self.active_summary(&r.id) {
                Some(live) => live,
                None => summary::from_record(r),
            })
            .collect())
    }

    pub fn job_detail(&self, id: &str) -> Result<JobDetail> {
        let job = self.known(id)?;
        let events = self.job_events(id, 0)?;
        Ok(JobDetail {
            job,
            steps: summary::step_timings(&events),
            last: events.last().cloned(),
        })
    }

    /// Every event after `since`: the stored ones, then what the live log has that the
    /// history writer has not stored yet, without a gap or a duplicate.
    pub fn job_events(&self, id: &str, since: u64) -> Result<Vec<ProgressEvent>> {
        let active = self.active(id);
        let store = self.store()?;
        if active.is_none() && store.job(id)?.is_none() {
            return Err(Error::NotFound(format!("no job {id}")));
        }
        let mut events = store.events_since(id, since)?;
        if let Some(a) = active {
            let after = events.last().map_or(since, |e| e.seq);
            events.extend(a.log.since(after).iter().map(|e| (**e).clone()));
        }
        Ok(events)
    }

    /// The newest event of a job, live or stored.
    pub(crate) fn latest_event(&self, id: &str) -> Result<Option<ProgressEvent>> {
        if let Some(ev) = self.active(id).and_then(|a| a.log.latest()) {
            return Ok(Some((*ev).clone()));
        }
        let store = self.store()?;
        let record = store
            .job(id)?
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
        Ok(store
            .events_since(id, record.last_seq.saturating_sub(1))?
            .pop())
    }

    pub(crate) fn job_state(&self, id: &str) -> Result<JobState> {
        Ok(self.known(id)?.state)
    }

    // ---- subscriptions ----

    /// Feeds `sink` the job's updates: its current state first, then live events
    /// throttled to about 10/s (a step change or the end passes at once). Returns the
    /// subscription's id for [`Self::unsubscribe`].
    pub fn subscribe_job(&self, id: &str, sink: Box<dyn UpdateSink>) -> Result<u32> {
        let first = self.latest_event(id)?;
        let state = self.job_state(id)?;
        let task = subscribe::local(self.clone(), id.to_owned(), first, state, sink);
        Ok(self.register(task))
    }

    pub(crate) fn register(&self, task: JoinHandle<()>) -> u32 {
        let n = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let mut subs = lock(&self.inner.subs);
        subs.retain(|_, t| !t.is_finished());
        subs.insert(n, task);
        n
    }

    pub fn unsubscribe(&self, subscription: u32) -> Result<()> {
        if let Some(task) = lock(&self.inner.subs).remove(&subscription) {
            task.abort();
        }
        Ok(())
    }

    // ---- agents ----

    pub fn list_agents(&self) -> Vec<AgentInfo> {
        lock(&self.inner.agents)
            .iter()
            .map(StoredAgent::info)
            .collect()
    }

    /// Adds an agent once it answered a listing of its jobs with this token.
    pub async fn add_agent(&self, req: AddAgent) -> Result<AgentInfo> {
        let name = non_empty(&req.name, "agent name")?.to_owned();
        let url = non_empty(&req.url, "agent URL")?
            .trim_end_matches('/')
            .to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidInput(format!(
                "agent URL {url:?} must start with http:// or https://"
            )));
        }
        let token = non_empty(&req.token, "token")?.to_owned();
        tidemark_remote::list_jobs(&url, &token)
            .await
            .map_err(|e| remote_error(&url, e))?;
        let agent = StoredAgent {
            id: tidemark_core::job::new_job_id(),
            name,
            url,
            token,
        };
        let info = agent.info();
        let mut agents = lock(&self.inner.agents).clone();
        agents.push(agent);
        self.save_agents(agents)?;
        Ok(info)
    }

    pub fn remove_agent(&self, id: &str) -> Result<()> {
        let mut agents = lock(&self.inner.agents).clone();
        let before = agents.len();
        agents.retain(|a| a.id != id);
        if agents.len() == before {
            return Err(Error::NotFound(format!("no agent {id}")));
        }
        self.save_agents(agents)
    }

    fn save_agents(&self, agents: Vec<StoredAgent>) -> Result<()> {
        let path = self.inner.config.data_dir().join(AGENTS_FILE);
        settings::save_json(&path, &agents, true)?;
        *lock(&self.inner.agents) = agents;
        Ok(())
    }

    fn agent(&self, id: &str) -> Result<StoredAgent> {
        lock(&self.inner.agents)
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no agent {id}")))
    }

    pub async fn list_remote_jobs(&self, agent_id: &str) -> Result<Vec<RemoteJobInfo>> {
        let agent = self.agent(agent_id)?;
        let jobs = tidemark_remote::list_jobs(&agent.url, &agent.token)
            .await
            .map_err(|e| remote_error(&agent.url, e))?;
        Ok(jobs
            .into_iter()
            .map(|j| RemoteJobInfo {
                agent_id: agent.id.clone(),
                title: format!(
                    "{} on {}",
                    match j.kind {
                        tidemark_core::JobKind::Snapshot => "Snapshot",
                        tidemark_core::JobKind::Sync => "Sync",
                    },
                    agent.name
                ),
                id: j.id,
                kind: j.kind,
                state: j.state,
                percent: None,
            })
            .collect())
    }

    /// Follows a job of an agent: connection states and events, throttled like local ones.
    /// Every event is also recorded in the history, under the id
    /// [`Self::remote_history_id`], as a gap-free copy of the agent's event list.
    pub fn watch_remote_job(
        &self,
        agent_id: &str,
        job_id: &str,
        sink: Box<dyn UpdateSink>,
    ) -> Result<u32> {
        let agent = self.agent(agent_id)?;
        let origin = RemoteOrigin {
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            job_id: job_id.to_owned(),
        };
        let transport = tidemark_remote::HttpTransport::new(
            &agent.url,
            &agent.token,
            job_id,
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&agent.url, e))?;
        let (recorder, not_recorded) = RemoteRecorder::spawn(
            self.db().to_owned(),
            origin,
            transport,
            self.inner.runtime.clone(),
        )?;
        let _in_runtime = self.inner.runtime.enter();
        let (rx, watcher) = tidemark_remote::watch(
            &agent.url,
            &agent.token,
            job_id,
            0,
            tidemark_remote::WatchConfig::default(),
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&agent.url, e))?;
        let task = subscribe::remote(
            self.clone(),
            agent.name,
            rx,
            watcher,
            sink,
            recorder,
            not_recorded,
        );
        Ok(self.register(task))
    }

    // ---- settings ----

    pub fn get_settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    pub fn set_settings(&self, new: Settings) -> Result<Settings> {
        settings::validate(&new)?;
        let path = self.inner.config.data_dir().join(SETTINGS_FILE);
        settings::save_json(&path, &new, false)?;
        *lock(&self.inner.settings) = new.clone();
        Ok(new)
    }

    // ---- files ----

    /// Checks a path the UI wants revealed: it must be an existing folder or file; a file
    /// reveals its folder. The shell does the opening.
    pub fn folder_to_open(&self, path: &str) -> Result<PathBuf> {
        let p = Path::new(non_empty(path, "path")?);
        if !p.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "{path:?} is not an absolute path"
            )));
        }
        let meta = std::fs::metadata(p)
            .map_err(|_| Error::NotFound(format!("{} does not exist", p.display())))?;
        Ok(if meta.is_dir() {
            p.to_path_buf()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        })
    }

    #[cfg(test)]
    pub(crate) fn attach_for_test(&self, id: &str, log: Arc<EventLog>, spec: JobSpec) -> Control {
        let control = Control::new();
        lock(&self.inner.jobs).insert(
            id.to_owned(),
            Active {
                log,
                control: control.clone(),
                spec,
                created_at: chrono::Utc::now().to_rfc3339(),
                started: Instant::now(),
            },
        );
        control
    }
}

fn non_empty<'a>(s: &'a str, what: &str) -> Result<&'a str> {
    let t = s.trim();
    if t.is_empty() {
        Err(Error::InvalidInput(format!("the {what} is empty")))
    } else {
        Ok(t)
    }
}

fn remote_error(url: &str, e: tidemark_remote::TransportError) -> Error {
    use tidemark_remote::TransportError as T;
    match e {
        T::Auth(reason) => Error::AgentAuthFailed {
            url: url.to_owned(),
            reason,
        },
        T::NotFound(m) => Error::NotFound(m),
        other => Error::AgentUnreachable {
            url: url.to_owned(),
            reason: other.to_string(),
        },
    }
}
