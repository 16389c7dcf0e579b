//! Seeds for estimates: what a plan's past runs took, from their recorded events.

use tidemark_core::{EtaSeed, JobState};

use crate::error::StoreError;
use crate::store::Store;

impl Store {
    /// The ETA seed of the completed runs among `job_ids` (a plan's last runs, say), from
    /// their recorded events. Runs that did not complete, that are unknown, or whose events
    /// were pruned are left out; `None` if none is left.
    pub fn eta_seed(&self, job_ids: &[String]) -> Result<Option<EtaSeed>, StoreError> {
        let mut runs = Vec::new();
        for id in job_ids {
            if self.job(id)?.is_none_or(|j| j.state != JobState::Completed) {
                continue;
            }
            runs.push(self.events_since(id, 0)?);
        }
        Ok(EtaSeed::from_runs(runs.iter().map(Vec::as_slice)))
    }
}

#[cfg(test)]
#[path = "seed_tests.rs"]
mod tests;
