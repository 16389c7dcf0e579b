//! What the agent logs: one line per request, once it is answered (a progress stream once it
//! ends), and each job's start and end. A caller is logged by its token's name, never by the
//! token.

use std::time::Duration;

use tidemark_core::{JobKind, ProgressEvent};

use crate::auth::Identity;

pub(crate) fn request(
    method: &str,
    path: &str,
    status: u16,
    took: Duration,
    who: Option<&Identity>,
) {
    tracing::info!(
        %method,
        %path,
        status,
        ms = took.as_millis() as u64,
        token = who.map(Identity::name),
        "request"
    );
}

pub(crate) fn job_started(id: &str, kind: JobKind) {
    tracing::info!(job = id, ?kind, "job started");
}

// A failure to record the job is logged by the registry that waits for it.
pub(crate) fn job_ended(id: &str, end: Option<&ProgressEvent>) {
    match end {
        Some(end) => tracing::info!(
            job = id,
            kind = ?end.kind,
            state = end.state.as_str(),
            error = end.error.as_ref().map(|e| tracing::field::display(e.code)),
            "job ended"
        ),
        None => tracing::warn!(job = id, "job ended without a final event"),
    }
}
