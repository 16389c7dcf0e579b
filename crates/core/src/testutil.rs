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
        seq,
        state: JobState::Running,
        step,
        step_number: 4,
        // Fixed, so that events built twice compare equal.
        timestamp: String::new(),
        ..ProgressEvent::blank("job", JobKind::Snapshot, 6)
    }
}
