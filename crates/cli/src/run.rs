//! Starting and resuming jobs, with their progress rendered and their history recorded.

use std::path::Path;
use std::process::ExitCode;

use tidemark_core::{ErrorCode, JobSpec, JobState, pump};
use tidemark_store::{RecordedJob, RunError};

use crate::render::{self, Bars, JsonLines, Lines};
use crate::{EXIT_CANCELLED, EXIT_FAILED, EXIT_WARNINGS, fail};

pub fn start(db: &Path, spec: JobSpec, json: bool) -> ExitCode {
    follow(RecordedJob::start(db, spec), json)
}

pub fn resume(db: &Path, id: &str, json: bool) -> ExitCode {
    follow(RecordedJob::resume(db, id), json)
}

/// Follows a started job to its end, rendering its progress; the exit code says how it ended.
pub fn follow(job: Result<RecordedJob, RunError>, json: bool) -> ExitCode {
    let job = match job {
        Ok(job) => job,
        Err(e) => return fail(e.code(), e),
    };
    let control = job.handle().control().clone();
    if let Err(e) = ctrlc::set_handler(move || control.cancel()) {
        say!("warning: Ctrl-C will not cancel cleanly: {e}");
    }
    // Render from the start of this run (a resumed run's events follow the stored ones).
    let sub = job.handle().subscribe(job.handle().log().started_after());
    let rendered = if json {
        pump(sub, &mut JsonLines::stdout())
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pump(sub, &mut Bars::new())
    } else {
        pump(sub, &mut Lines::stderr())
    };
    if rendered.is_err() {
        // Nobody is reading our output any more (a closed pipe): stop the job cleanly.
        job.handle().control().cancel();
    }
    let (end, recorded) = job.wait();
    if let Err(e) = &recorded {
        say!(
            "error[{}]: the history of this run is incomplete: {e}",
            e.code()
        );
    }
    let Some(end) = end else {
        return fail(ErrorCode::Internal, "the job ended without a result");
    };
    render::summary(&end);
    match (end.state, recorded) {
        // Some files were left out or not copied: said by the status too, for scripts.
        (JobState::Completed, Ok(())) if !end.warnings.is_empty() => ExitCode::from(EXIT_WARNINGS),
        (JobState::Completed, Ok(())) => ExitCode::SUCCESS,
        (JobState::Cancelled, _) => ExitCode::from(EXIT_CANCELLED),
        _ => ExitCode::from(EXIT_FAILED),
    }
}
