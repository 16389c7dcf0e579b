//! Turning the store's records and the live log's events into what the UI lists.

use chrono::DateTime;
use tidemark_core::{Counters, JobKind, JobSpec, JobState, ProgressEvent};
use tidemark_store::JobRecord;

use crate::types::{JobSummary, RemoteRun, StepTiming};

pub fn title(spec: &JobSpec) -> String {
    match spec {
        JobSpec::Snapshot(s) => format!("Snapshot of {}", folder_name(&s.source)),
        JobSpec::Sync(s) => match s.sources.as_slice() {
            [one] => format!("Sync of {}", folder_name(one)),
            many => format!("Sync of {} sources", many.len()),
        },
        JobSpec::Restore(s) => format!("Restore of {}", archive_name(&s.archive)),
        JobSpec::Verify(s) => format!("Verify of {}", archive_name(&s.archive)),
    }
}

/// The archive's file name, from a path or a URL.
fn archive_name(archive: &str) -> String {
    archive
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(archive)
        .to_owned()
}

fn folder_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

pub fn source_text(spec: &JobSpec) -> String {
    match spec {
        JobSpec::Snapshot(s) => s.source.display().to_string(),
        JobSpec::Sync(s) => s
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        JobSpec::Restore(s) => s.archive.clone(),
        JobSpec::Verify(s) => s.archive.clone(),
    }
}

pub fn destination(spec: &JobSpec) -> String {
    match spec {
        JobSpec::Snapshot(s) => s.destination.clone(),
        JobSpec::Sync(s) => s.destination.display().to_string(),
        JobSpec::Restore(s) => s.to.display().to_string(),
        JobSpec::Verify(_) => String::new(),
    }
}

/// A job that has not started yet: nothing done, nothing known beyond its kind.
pub fn queued(id: &str, kind: JobKind, created_at: String) -> JobSummary {
    JobSummary {
        id: id.to_owned(),
        kind,
        state: JobState::Queued,
        title: String::new(),
        source: String::new(),
        destination: String::new(),
        created_at,
        started_at: None,
        finished_at: None,
        percent: None,
        counters: Counters::default(),
        result_url: None,
        error: None,
        resumable: false,
        remote: None,
    }
}

pub fn from_record(r: &JobRecord) -> JobSummary {
    JobSummary {
        id: r.id.clone(),
        kind: r.kind,
        state: r.state,
        title: title(&r.spec),
        source: source_text(&r.spec),
        destination: destination(&r.spec),
        created_at: r.created_at.clone(),
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        percent: r.percent,
        counters: r.counters,
        result_url: r.result_url.clone(),
        error: r.error.clone(),
        resumable: r.state == JobState::Interrupted && r.remote.is_none(),
        remote: r.remote.as_ref().map(|o| RemoteRun {
            agent_id: o.agent_id.clone(),
            agent_name: o.agent_name.clone(),
            job_id: o.job_id.clone(),
        }),
    }
}

/// A record brought up to date with the live log's newest event.
pub fn with_live(mut s: JobSummary, ev: &ProgressEvent) -> JobSummary {
    s.state = ev.state;
    s.percent = ev.percent;
    s.counters = ev.counters;
    s.result_url = ev.result_url.clone();
    s.error = ev.error.clone();
    s.resumable = false;
    if s.started_at.is_none() && ev.state != JobState::Queued {
        s.started_at = Some(ev.timestamp.clone());
    }
    if ev.is_terminal() {
        s.finished_at = Some(ev.timestamp.clone());
    }
    s
}

pub fn millis_between(from: &str, to: &str) -> Option<u64> {
    let a = DateTime::parse_from_rfc3339(from).ok()?;
    let b = DateTime::parse_from_rfc3339(to).ok()?;
    u64::try_from((b - a).num_milliseconds()).ok()
}

/// One entry per step the events went through, in order; a step entered twice (a resumed
/// run redoing it) gets a second entry. The running step has no end yet.
pub fn step_timings(events: &[ProgressEvent]) -> Vec<StepTiming> {
    let mut steps: Vec<StepTiming> = Vec::new();
    for ev in events {
        if steps
            .last()
            .is_some_and(|s| s.step == ev.step && s.step_number == ev.step_number)
        {
            continue;
        }
        if let Some(prev) = steps.last_mut() {
            prev.finished_at = Some(ev.timestamp.clone());
            prev.duration_ms = millis_between(&prev.started_at, &ev.timestamp);
        }
        steps.push(StepTiming {
            step: ev.step,
            step_number: ev.step_number,
            label: ev.step.label().to_owned(),
            started_at: ev.timestamp.clone(),
            finished_at: None,
            duration_ms: None,
        });
    }
    // The terminal step is an instant: it ends where it starts.
    if let (Some(last), Some(ev)) = (steps.last_mut(), events.last())
        && ev.is_terminal()
    {
        last.finished_at = Some(ev.timestamp.clone());
        last.duration_ms = Some(0);
    }
    steps
}
