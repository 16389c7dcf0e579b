//! `tidemark`: run snapshot and sync jobs from a terminal. A thin adapter: parse arguments,
//! start the core's job, render its events, map its end to an exit code.

mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidemark_core::{JobHandle, JobOptions, JobSpec, JobState, SnapshotSpec, SyncSpec, pump};

use crate::render::{Bars, JsonLines, Lines};

/// Exit codes: 0 done, 1 the job failed, 2 usage error (clap's own), 130 cancelled.
const EXIT_FAILED: u8 = 1;
const EXIT_CANCELLED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Run and watch long snapshot and sync jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Archive a folder (tar + zstd) into a folder or to an http(s) URL.
    Snapshot {
        /// The folder to archive.
        source: PathBuf,
        /// A destination folder, or an http(s) URL to PUT the archive to.
        #[arg(long = "to", value_name = "DEST")]
        to: String,
        /// Archive name (without .tar.zst); defaults to <folder>-<UTC time>.
        #[arg(long)]
        name: Option<String>,
        /// Print every progress event as one JSON line on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Mirror one or more folders into DEST/<folder name>/, copying only what changed.
    Sync {
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<PathBuf>,
        #[arg(long = "to", value_name = "DEST")]
        to: PathBuf,
        /// Also remove from the mirror what no longer exists in the source.
        #[arg(long)]
        delete: bool,
        /// Print every progress event as one JSON line on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (spec, json) = match cli.command {
        Command::Snapshot {
            source,
            to,
            name,
            json,
        } => (
            JobSpec::Snapshot(SnapshotSpec {
                source,
                destination: to,
                name,
            }),
            json,
        ),
        Command::Sync {
            sources,
            to,
            delete,
            json,
        } => (
            JobSpec::Sync(SyncSpec {
                sources,
                destination: to,
                delete,
            }),
            json,
        ),
    };
    run(spec, json)
}

fn run(spec: JobSpec, json: bool) -> ExitCode {
    let job = JobHandle::spawn(spec, JobOptions::default());
    let control = job.control().clone();
    if let Err(e) = ctrlc::set_handler(move || control.cancel()) {
        eprintln!("warning: Ctrl-C will not cancel cleanly: {e}");
    }
    let sub = job.subscribe(0);
    let rendered = if json {
        pump(sub, &mut JsonLines::stdout())
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pump(sub, &mut Bars::new())
    } else {
        pump(sub, &mut Lines::stderr())
    };
    if rendered.is_err() {
        // Nobody is reading our output any more (a closed pipe): stop the job cleanly.
        job.control().cancel();
    }
    let Some(end) = job.wait() else {
        eprintln!("error[internal]: the job ended without a result");
        return ExitCode::from(EXIT_FAILED);
    };
    render::summary(&end);
    match end.state {
        JobState::Completed => ExitCode::SUCCESS,
        JobState::Cancelled => ExitCode::from(EXIT_CANCELLED),
        _ => ExitCode::from(EXIT_FAILED),
    }
}
