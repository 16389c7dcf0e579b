//! What the app keeps of a job while it runs here, beside its log and controls (the
//! registry, `tidemark_store::Registry`, keeps those).

use tidemark_core::JobSpec;
use tidemark_store::LiveJob;

#[derive(Debug, Clone)]
pub(crate) struct JobInfo {
    pub spec: JobSpec,
    pub created_at: String,
    /// The plan it is a run of, if any (its id), and the plan's name.
    pub plan: Option<String>,
    pub plan_name: Option<String>,
}

pub(crate) type Active = LiveJob<JobInfo>;

/// "Pause everything" while it lasts (see `pause`).
pub(crate) struct Paused {
    pub until: chrono::DateTime<chrono::Local>,
    /// The jobs this pause paused (and so resumes).
    pub jobs: Vec<String>,
    /// Ends the pause when the time comes; stopped when the pause ends otherwise.
    pub timer: Option<tokio::task::AbortHandle>,
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}
