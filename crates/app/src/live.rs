//! What the app keeps of a job while it runs here, beside its log and controls (the
//! registry, `tidemark_store::Registry`, keeps those).

use tidemark_core::JobSpec;
use tidemark_store::LiveJob;

#[derive(Debug, Clone)]
pub(crate) struct JobInfo {
    pub spec: JobSpec,
    pub created_at: String,
    /// The plan it is a run of, if any.
    pub plan: Option<String>,
}

pub(crate) type Active = LiveJob<JobInfo>;
