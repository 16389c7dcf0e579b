//! The jobs of this process: starting them, following them to their end, controlling them.

use std::path::{Path, PathBuf};

use tidemark_core::snapshot::is_url;
use tidemark_core::{JobSpec, JobState, SnapshotSpec, SyncSpec, fsutil};
use tidemark_store::{RecordedJob, RemoteOrigin};

use crate::app::{App, lock, non_empty};
use crate::error::{Error, Result};
use crate::live::{Active, JobInfo};
use crate::notify;
use crate::summary;
use crate::types::*;

impl App {
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
        self.start_job(JobSpec::Snapshot(SnapshotSpec {
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
        self.start_job(JobSpec::Sync(SyncSpec {
            sources,
            destination: PathBuf::from(destination),
            delete: req.delete,
        }))
    }

    pub(crate) fn start_job(&self, spec: JobSpec) -> Result<JobSummary> {
        let job = RecordedJob::start_with(self.db(), spec.clone(), None, self.launch_for(None))?;
        Ok(self.track(job, spec))
    }

    /// How this app's jobs run: in the app's one queue. A plan's run is recorded with its
    /// plan, and its ETA starts from the plan's past runs.
    pub(crate) fn launch_for(&self, plan: Option<&tidemark_plans::Plan>) -> tidemark_store::Launch {
        let launch = plan.map(tidemark_plans::ops::launch_of).unwrap_or_default();
        tidemark_store::Launch {
            queue: Some(self.inner.queue.clone()),
            eta_seed: plan.and_then(|p| self.eta_seed(p)),
            ..launch
        }
    }

    /// The plan's last few completed runs, as an ETA's starting point; none without any.
    fn eta_seed(&self, plan: &tidemark_plans::Plan) -> Option<tidemark_core::EtaSeed> {
        tidemark_plans::ops::eta_seed_of(&*self.store().ok()?, plan)
    }

    /// Keeps a started job in the active list, and waits for its end on a thread of its
    /// own: the end is when history is complete, notifications go out and lists change.
    pub(crate) fn track(&self, job: RecordedJob, spec: JobSpec) -> JobSummary {
        let id = job.id().to_owned();
        // A resumed job keeps the creation time it has in the history, and its plan.
        let store = self.store().ok();
        let record = store.as_ref().and_then(|s| s.job(&id).ok().flatten());
        let plan = record.as_ref().and_then(|r| r.plan_id.clone());
        let plan_name = plan.as_deref().and_then(|p| {
            let row = store.as_ref()?.plan(p).ok().flatten()?;
            Some(row.name)
        });
        drop(store);
        let created_at = record
            .map(|r| r.created_at)
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        let app = self.clone();
        let info = JobInfo {
            spec,
            created_at,
            plan,
            plan_name,
        };
        self.inner
            .jobs
            .track(job, info, move |id, ended| app.job_finished(id, ended));
        let _nobody_waiting = self.inner.started.send(id.clone());
        let summary = self
            .active_summary(&id)
            .unwrap_or_else(|| self.placeholder(&id));
        crate::announce::started(self, &id);
        summary
    }

    pub(crate) fn placeholder(&self, id: &str) -> JobSummary {
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

    fn job_finished(&self, id: &str, active: Active) {
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
        // The registry took the job out of the active ones before this; `announce` looks
        // for it under the same lock, so nothing announces it as active after this.
        let _order = lock(&self.inner.announcing);
        self.inner.hooks.jobs_changed(&JobsChanged {
            active: Vec::new(),
            ended: vec![ended],
        });
        drop(_order);
        // A plan's run ended: its row and the tray say so now, and the scheduler applies
        // the plan's retention now rather than at its next look.
        if active.extra.plan.is_some() {
            self.plans_changed();
        }
    }

    fn summary_of(&self, id: &str, a: &Active) -> JobSummary {
        JobSummary {
            // A plan's run is known by its plan's name ("Photos"), not by its folder's.
            title: a
                .extra
                .plan_name
                .clone()
                .unwrap_or_else(|| summary::title(&a.extra.spec)),
            source: summary::source_text(&a.extra.spec),
            destination: summary::destination(&a.extra.spec),
            ..summary::queued(id, a.extra.spec.kind(), a.extra.created_at.clone())
        }
    }

    pub(crate) fn active_summary(&self, id: &str) -> Option<JobSummary> {
        let active = self.inner.jobs.get(id)?;
        let base = self.summary_of(id, &active);
        Some(match active.log.latest() {
            Some(ev) => summary::with_live(base, &ev),
            None => base,
        })
    }

    pub(crate) fn active(&self, id: &str) -> Option<Active> {
        self.inner.jobs.get(id)
    }

    /// The jobs running (or paused) in this process, oldest first.
    pub fn active_jobs(&self) -> Vec<JobSummary> {
        self.inner
            .jobs
            .ids()
            .iter()
            .filter_map(|id| self.active_summary(id))
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
        let job = RecordedJob::resume_with(self.db(), id, self.launch_for(None))?;
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
        self.start_job(record.spec)
    }

    pub fn pause_all(&self) {
        for control in self.inner.jobs.controls() {
            control.pause();
        }
    }

    pub fn resume_all(&self) {
        for control in self.inner.jobs.controls() {
            control.resume();
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

    pub(crate) fn known(&self, id: &str) -> Result<JobSummary> {
        if let Some(s) = self.active_summary(id) {
            return Ok(s);
        }
        self.store()?
            .job(id)?
            .map(|r| summary::from_record(&r))
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))
    }

    #[cfg(test)]
    pub(crate) fn attach_for_test(
        &self,
        id: &str,
        log: std::sync::Arc<tidemark_core::EventLog>,
        spec: JobSpec,
    ) -> tidemark_core::Control {
        let control = tidemark_core::Control::new();
        self.inner.jobs.insert(
            id.to_owned(),
            Active {
                log,
                control: control.clone(),
                started: std::time::Instant::now(),
                extra: JobInfo {
                    spec,
                    created_at: chrono::Utc::now().to_rfc3339(),
                    plan: None,
                    plan_name: None,
                },
            },
        );
        control
    }
}
