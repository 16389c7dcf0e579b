//! `tidemark`: run snapshot and sync jobs from a terminal and look through their history. A
//! thin adapter: parse arguments, call the core and the store, render, map to an exit code.

#[macro_use]
mod ui;
mod agent;
mod diff;
mod history;
mod plan;
mod render;
mod run;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidemark_core::{
    ErrorCode, JobSpec, JobState, RestoreSpec, SnapshotSpec, SyncSpec, VerifySpec,
};

/// Exit codes: 0 done, 1 the job (or the command) failed, 2 usage error (clap's own),
/// 23 done with warnings (files left out or not copied, as rsync's 23), 130 cancelled.
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_WARNINGS: u8 = 23;
pub const EXIT_CANCELLED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "tidemark",
    version,
    about = "Run and watch long snapshot, sync and restore jobs"
)]
struct Cli {
    /// The history database; settings, tokens and logs go beside it
    /// [default: the platform's folders, see `tidemark paths`].
    #[arg(long, global = true, env = "TIDEMARK_DB", value_name = "PATH")]
    db: Option<PathBuf>,
    /// Show logs on stderr: -v what happens, -vv details (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
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
    /// Restore an archive (a .tar.zst file or http(s) URL) into a folder, each file checked
    /// against the manifest beside the archive when there is one.
    Restore {
        /// The archive: a path, or an http(s) URL (streamed as it is read).
        archive: String,
        /// The folder to restore into (made when missing).
        #[arg(long = "to", value_name = "DIR")]
        to: PathBuf,
        /// Only this file or folder (a path under the archive's top folder); repeatable.
        #[arg(long = "only", value_name = "PATH")]
        only: Vec<String>,
        /// Replace files already in DIR (without it they are kept, and said so).
        #[arg(long)]
        overwrite: bool,
        /// The manifest to check against [default: NAME.manifest.json beside NAME.tar.zst].
        #[arg(long, value_name = "MANIFEST")]
        manifest: Option<String>,
        /// Print every progress event as one JSON line on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check an archive against its manifest: every file present with its hash, nothing extra.
    Verify {
        archive: String,
        #[arg(long, value_name = "MANIFEST")]
        manifest: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Compare two snapshots (manifests or archives): files added, removed and changed.
    Diff {
        old: String,
        new: String,
        #[arg(long)]
        json: bool,
    },
    /// Continue an interrupted job from its last checkpoint.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List past and running jobs, newest first.
    History {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only jobs in this state (queued, running, paused, completed, failed, cancelled,
        /// interrupted).
        #[arg(long, value_parser = history::parse_state)]
        state: Option<JobState>,
        /// Delete the events of all but the newest N runs (summaries are kept).
        #[arg(long)]
        prune: bool,
        #[arg(long, default_value_t = history::KEEP_RUNS, requires = "prune")]
        keep: usize,
        /// Only the runs of this plan.
        #[arg(long, value_name = "NAME")]
        plan: Option<String>,
    },
    /// Saved jobs with a schedule, retention and a staleness limit.
    Plan(plan::PlanArgs),
    /// One job: its steps with their durations, totals, result or error.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run the headless agent: jobs over HTTP, progress over Server-Sent Events.
    Agent(agent::AgentArgs),
    /// Follow jobs running on an agent (progress and connection state).
    Watch(watch::WatchArgs),
    /// Where the history, the settings and the logs are kept.
    Paths {
        #[arg(long)]
        json: bool,
    },
    /// A job's stored progress events as JSON lines.
    Events {
        id: String,
        /// Only events after this seq.
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
}

fn main() -> ExitCode {
    // Before anything can open a TLS connection: ring is the one provider Tidemark builds.
    tidemark_remote::tls::install_default_provider();
    let cli = Cli::parse();
    // The agent is a service: it logs what it serves unasked.
    let service = matches!(&cli.command, Command::Agent(a) if a.serves());
    ui::init_logs(cli.verbose, service);
    let places = match tidemark_store::Places::for_db(cli.db) {
        Some(places) => places,
        None => {
            return fail(
                ErrorCode::DbIo,
                "no data folder is known here; give --db PATH",
            );
        }
    };
    let db = places.db.clone();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), db = %db.display(), "starting");
    match cli.command {
        // Jobs are stored with absolute paths: a resume may run from another folder.
        Command::Snapshot {
            source,
            to,
            name,
            json,
        } => {
            let destination = if tidemark_core::snapshot::is_url(&to) {
                to
            } else {
                absolute(to.into())
            };
            let spec = SnapshotSpec {
                source: absolute_path(source),
                destination,
                name,
            };
            run::start(&db, JobSpec::Snapshot(spec), json)
        }
        Command::Sync {
            sources,
            to,
            delete,
            json,
        } => {
            let sources = sources.into_iter().map(absolute_path).collect();
            let spec = SyncSpec {
                sources,
                destination: absolute_path(to),
                delete,
            };
            run::start(&db, JobSpec::Sync(spec), json)
        }
        Command::Restore {
            archive,
            to,
            only,
            overwrite,
            manifest,
            json,
        } => {
            let spec = RestoreSpec {
                archive: location(archive),
                to: absolute_path(to),
                only,
                overwrite,
                manifest: manifest.map(location),
            };
            run::start(&db, JobSpec::Restore(spec), json)
        }
        Command::Verify {
            archive,
            manifest,
            json,
        } => {
            let spec = VerifySpec {
                archive: location(archive),
                manifest: manifest.map(location),
            };
            run::start(&db, JobSpec::Verify(spec), json)
        }
        Command::Diff { old, new, json } => diff::run(&old, &new, json),
        Command::Resume { id, json } => run::resume(&db, &id, json),
        Command::History {
            json,
            limit,
            state,
            prune,
            keep,
            plan,
        } => {
            let plan_id = match plan.map(|name| plan::plan_id(&db, &name)).transpose() {
                Ok(id) => id,
                Err(code) => return code,
            };
            history::list(&db, json, limit, state, plan_id, prune.then_some(keep))
        }
        Command::Plan(args) => plan::run(&db, args),
        Command::Show { id, json } => history::show(&db, &id, json),
        Command::Events { id, since } => history::events(&db, &id, since),
        Command::Agent(args) => agent::run(&places, args),
        Command::Paths { json } => history::paths(&places, json),
        Command::Watch(args) => watch::run(args),
    }
}

/// A URL as given, a path made absolute (a resumed job may run from another folder).
fn location(s: String) -> String {
    if tidemark_core::snapshot::is_url(&s) {
        s
    } else {
        absolute(s.into())
    }
}

fn absolute_path(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn absolute(p: PathBuf) -> String {
    absolute_path(p).to_string_lossy().into_owned()
}

/// Prints `error[code]: message` and gives the failure exit code.
pub fn fail(code: ErrorCode, message: impl std::fmt::Display) -> ExitCode {
    say!("error[{code}]: {message}");
    ExitCode::from(EXIT_FAILED)
}
