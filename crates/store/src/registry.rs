//! [`Registry`]: the jobs running in this process, reachable by id while they run. The app
//! and the agent both keep their running jobs here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tidemark_core::{Control, EventLog};

use crate::runs::RecordedJob;

/// A running job as its registry keeps it: its log and controls, when it started here, and
/// what the keeper adds (`extra`).
#[derive(Debug, Clone)]
pub struct LiveJob<T> {
    pub log: Arc<EventLog>,
    pub control: Control,
    pub started: Instant,
    pub extra: T,
}

/// The running jobs by id. Cheap to clone: every clone is the same registry.
#[derive(Debug)]
pub struct Registry<T> {
    jobs: Arc<Mutex<HashMap<String, LiveJob<T>>>>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Registry {
            jobs: self.jobs.clone(),
        }
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            jobs: Arc::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every later call down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Clone + Send + 'static> Registry<T> {
    /// Keeps `job` reachable until it ends. A thread of its own waits for the end (the
    /// history is complete then; a failure to record it is logged), forgets the job, and
    /// hands what was kept to `on_end`.
    pub fn track(
        &self,
        job: RecordedJob,
        extra: T,
        on_end: impl FnOnce(&str, LiveJob<T>) + Send + 'static,
    ) {
        let id = job.id().to_owned();
        let live = LiveJob {
            log: job.handle().log().clone(),
            control: job.handle().control().clone(),
            started: Instant::now(),
            extra,
        };
        self.insert(id.clone(), live);
        let jobs = self.jobs.clone();
        let waiter_id = id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("wait-{id}"))
            .spawn(move || {
                let (_end, recorded) = job.wait();
                if let Err(e) = recorded {
                    tracing::error!(job = %waiter_id, "recording the job: {e}");
                }
                let ended = lock(&jobs).remove(&waiter_id);
                if let Some(ended) = ended {
                    on_end(&waiter_id, ended);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(job = %id, "cannot watch for the job's end: {e}");
        }
    }

    /// Keeps a job that something else runs and waits for.
    pub fn insert(&self, id: String, live: LiveJob<T>) {
        lock(&self.jobs).insert(id, live);
    }

    pub fn get(&self, id: &str) -> Option<LiveJob<T>> {
        lock(&self.jobs).get(id).cloned()
    }

    /// The running jobs' ids, oldest first.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<(String, Instant)> = lock(&self.jobs)
            .iter()
            .map(|(id, j)| (id.clone(), j.started))
            .collect();
        ids.sort_by_key(|(_, t)| *t);
        ids.into_iter().map(|(id, _)| id).collect()
    }

    /// Every running job's controls (pause all, cancel all).
    pub fn controls(&self) -> Vec<Control> {
        lock(&self.jobs)
            .values()
            .map(|j| j.control.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.jobs).is_empty()
    }
}
