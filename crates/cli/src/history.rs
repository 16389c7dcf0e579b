//! `history`, `show` and `events`: reading the SQLite history.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset};
use indicatif::HumanBytes;
use tidemark_core::{ErrorCode, JobSpec, JobState, ProgressEvent, Step};
use tidemark_store::{JobFilter, JobRecord, Places, Store, StoreError, recover};

use crate::{fail, ui};

pub use tidemark_store::DEFAULT_KEEP_RUNS as KEEP_RUNS;

/// A `--state` that names no state.
#[derive(Debug, thiserror::Error)]
#[error("one of queued, running, paused, completed, failed, cancelled, interrupted")]
pub struct UnknownState;

pub fn parse_state(s: &str) -> Result<JobState, UnknownState> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| UnknownState)
}

/// Opens the history and settles jobs whose process is gone, so what is listed is true.
fn open(db: &Path) -> Result<Store, StoreError> {
    let mut store = Store::open(db)?;
    recover(&mut store)?;
    Ok(store)
}

pub fn list(
    db: &Path,
    json: bool,
    limit: usize,
    state: Option<JobState>,
    plan_id: Option<String>,
    prune: Option<usize>,
) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(e) => return fail(e.code(), e),
    };
    if let Some(keep) = prune {
        return match store.prune(keep) {
            Ok(n) => {
                say!("pruned {n} events; the newest {keep} runs keep theirs");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e.code(), e),
        };
    }
    let filter = JobFilter {
        limit: Some(limit),
        state,
        plan_id,
        ..JobFilter::default()
    };
    let jobs = match store.list_jobs(&filter) {
        Ok(j) => j,
        Err(e) => return fail(e.code(), e),
    };
    if json {
        return ui::output(|out| {
            let text = serde_json::to_string_pretty(&jobs).unwrap_or_default();
            writeln!(out, "{text}")
        });
    }
    if jobs.is_empty() {
        say!("no jobs yet");
    }
    ui::output(|out| {
        for j in &jobs {
            let outcome = match (&j.error, &j.result_url) {
                (Some(e), _) => format!("[{}] {}", e.code, e.message),
                (None, Some(url)) => url.clone(),
                _ => String::new(),
            };
            writeln!(
                out,
                "{}  {:<8}  {:<11}  {}  {:>6}  {}",
                j.id,
                kind_name(&j.spec),
                j.state.as_str(),
                short_time(&j.created_at),
                j.percent
                    .map(|p| format!("{p:.0}%"))
                    .unwrap_or_else(|| "-".into()),
                outcome
            )?;
        }
        Ok(())
    })
}

pub fn show(db: &Path, id: &str, json: bool) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(e) => return fail(e.code(), e),
    };
    let (job, events) = match store
        .job(id)
        .and_then(|j| Ok((j, store.events_since(id, 0)?)))
    {
        Ok((Some(job), events)) => (job, events),
        Ok((None, _)) => {
            return fail(
                ErrorCode::JobNotFound,
                format!("no job {id} in the history"),
            );
        }
        Err(e) => return fail(e.code(), e),
    };
    let steps = step_durations(&events);
    if json {
        let steps: Vec<_> = steps
            .iter()
            .map(|(step, secs)| serde_json::json!({ "step": step, "seconds": secs }))
            .collect();
        let value = serde_json::json!({ "job": job, "steps": steps });
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        return ui::output(|out| writeln!(out, "{text}"));
    }
    ui::output(|out| print_job(out, &job, &steps, events.last()))
}

fn print_job(
    out: &mut dyn Write,
    job: &JobRecord,
    steps: &[(Step, f64)],
    last: Option<&ProgressEvent>,
) -> io::Result<()> {
    writeln!(
        out,
        "{}  {}  {}",
        job.id,
        kind_name(&job.spec),
        job.state.as_str()
    )?;
    match &job.spec {
        JobSpec::Snapshot(s) => writeln!(out, "  {} → {}", s.source.display(), s.destination)?,
        JobSpec::Sync(s) => {
            let sources: Vec<String> = s.sources.iter().map(|p| p.display().to_string()).collect();
            writeln!(
                out,
                "  {} → {}",
                sources.join(", "),
                s.destination.display()
            )?;
        }
        JobSpec::Restore(s) => writeln!(out, "  {} → {}", s.archive, s.to.display())?,
        JobSpec::Verify(s) => writeln!(out, "  {}", s.archive)?,
    }
    writeln!(out, "  created  {}", short_time(&job.created_at))?;
    if let Some(t) = &job.started_at {
        writeln!(out, "  started  {}", short_time(t))?;
    }
    if let Some(t) = &job.finished_at {
        writeln!(out, "  finished {}", short_time(t))?;
    }
    if !steps.is_empty() {
        writeln!(out, "  steps:")?;
        for (step, secs) in steps {
            writeln!(out, "    {:<18} {secs:>8.1} s", step.label())?;
        }
    }
    if let Some(ev) = last {
        for item in &ev.items {
            writeln!(
                out,
                "  source {}: {:?}, {} files, {}",
                item.name,
                item.state,
                item.counters.processed,
                HumanBytes(item.counters.bytes_done)
            )?;
        }
        for w in &ev.warnings {
            writeln!(out, "  warning: {}: {}", w.path, w.message)?;
        }
    }
    match (&job.error, &job.result_url) {
        (Some(e), _) => writeln!(out, "  error [{}]: {}", e.code, e.message),
        (None, Some(url)) => writeln!(out, "  result: {url}"),
        _ => Ok(()),
    }
}

pub fn events(db: &Path, id: &str, since: u64) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(e) => return fail(e.code(), e),
    };
    match store.job(id) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return fail(
                ErrorCode::JobNotFound,
                format!("no job {id} in the history"),
            );
        }
        Err(e) => return fail(e.code(), e),
    }
    match store.events_since(id, since) {
        Ok(events) => ui::output(|out| {
            for ev in events {
                writeln!(out, "{}", serde_json::to_string(&ev).unwrap_or_default())?;
            }
            Ok(())
        }),
        Err(e) => fail(e.code(), e),
    }
}

/// `tidemark paths`: the folders, one per line as `what: path`, or one JSON object.
pub fn paths(places: &Places, json: bool) -> ExitCode {
    ui::output(|out| {
        if json {
            writeln!(out, "{}", serde_json::to_string(places).unwrap_or_default())
        } else {
            writeln!(out, "history: {}", places.db.display())?;
            writeln!(out, "config:  {}", places.config.display())?;
            writeln!(out, "logs:    {}", places.logs.display())
        }
    })
}

/// Time spent in each step, in order of first appearance. The time between an event and the
/// next is the earlier event's step's; time after an `interrupted` event (the process was
/// gone) counts for nothing.
pub fn step_durations(events: &[ProgressEvent]) -> Vec<(Step, f64)> {
    let mut out: Vec<(Step, f64)> = Vec::new();
    let parse = |ts: &str| DateTime::<FixedOffset>::parse_from_rfc3339(ts).ok();
    for pair in events.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.state == JobState::Interrupted || a.state == JobState::Queued {
            continue;
        }
        let secs = match (parse(&a.timestamp), parse(&b.timestamp)) {
            (Some(ta), Some(tb)) => (tb - ta).num_milliseconds().max(0) as f64 / 1000.0,
            _ => 0.0,
        };
        match out.iter_mut().find(|(s, _)| *s == a.step) {
            Some((_, total)) => *total += secs,
            None => out.push((a.step, secs)),
        }
    }
    out
}

fn kind_name(spec: &JobSpec) -> &'static str {
    match spec {
        JobSpec::Snapshot(_) => "snapshot",
        JobSpec::Sync(_) => "sync",
        JobSpec::Restore(_) => "restore",
        JobSpec::Verify(_) => "verify",
    }
}

fn short_time(ts: &str) -> String {
    DateTime::<FixedOffset>::parse_from_rfc3339(ts)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| ts.to_owned())
}
