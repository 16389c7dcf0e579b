//! The history and subscriptions: what a window reads about a job, live or stored.

use std::sync::Arc;

use tidemark_core::{JobState, ProgressEvent, ProgressSink};
use tidemark_store::JobFilter;

use crate::app::App;
use crate::error::{Error, Result};
use crate::subscribe;
use crate::summary;
use crate::types::*;

impl App {
    pub fn list_history(&self, filter: HistoryFilter) -> Result<Vec<JobSummary>> {
        let records = self.store()?.list_jobs(&JobFilter {
            limit: Some(filter.limit.unwrap_or(200).min(10_000) as usize),
            state: filter.state,
            kind: filter.kind,
            owner: None,
            plan_id: None,
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
    pub(crate) fn latest_event(&self, id: &str) -> Result<Option<Arc<ProgressEvent>>> {
        if let Some(ev) = self.active(id).and_then(|a| a.log.latest()) {
            return Ok(Some(ev));
        }
        let store = self.store()?;
        let record = store
            .job(id)?
            .ok_or_else(|| Error::NotFound(format!("no job {id}")))?;
        Ok(store
            .events_since(id, record.last_seq.saturating_sub(1))?
            .pop()
            .map(Arc::new))
    }

    pub(crate) fn job_state(&self, id: &str) -> Result<JobState> {
        Ok(self.known(id)?.state)
    }

    /// Feeds `sink` the job's updates: its current state first, then live events
    /// throttled to about 10/s (a step change or the end passes at once). Returns the
    /// subscription's id for [`Self::unsubscribe`].
    pub fn subscribe_job(&self, id: &str, sink: Box<dyn ProgressSink<JobUpdate>>) -> Result<u32> {
        let first = self.latest_event(id)?;
        let state = self.job_state(id)?;
        let task = subscribe::local(self.clone(), id.to_owned(), first, state, sink);
        Ok(self.register(task))
    }
}
