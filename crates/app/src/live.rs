//! A job running in this process, as the app keeps it while it runs.

use std::sync::Arc;
use std::time::Instant;

use tidemark_core::{Control, EventLog, JobSpec};

#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub log: Arc<EventLog>,
    pub control: Control,
    pub spec: JobSpec,
    pub created_at: String,
    pub started: Instant,
}
