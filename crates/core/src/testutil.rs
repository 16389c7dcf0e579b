//! Builders for unit tests.

use crate::event::{JobKind, JobState, ProgressEvent, Step};

pub(crate) fn event(seq: u64, terminal: bool) -> ProgressEvent {
    let mut ev = event_at_step(seq, Step::Compressing);
    if terminal {
        ev.state = JobState::Completed;
        ev.step = Step::Completed;
    }
    ev
}

pub(crate) fn event_at_step(seq: u64, step: Step) -> ProgressEvent {
    ProgressEvent {
        job_id: "job".into(),
        seq,
        kind: JobKind::Snapshot,
        state: JobState::Running,
        step,
        step_number: 4,
        total_steps: 6,
        percent: None,
        processed: 0,
        total: None,
        bytes_done: 0,
        bytes_total: None,
        rate_per_sec: None,
        eta_seconds: None,
        message: String::new(),
        items: Vec::new(),
        warnings: Vec::new(),
        error: None,
        result_url: None,
        timestamp: String::new(),
    }
}
