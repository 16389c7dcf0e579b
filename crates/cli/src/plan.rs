//! `tidemark plan …`: saved jobs with a schedule, through tidemark-plans' operations. The
//! schedule itself is run by `tidemark agent` (or the desktop app) on the same history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tidemark_core::{JobSpec, SnapshotSpec, SyncSpec};
use tidemark_plans::{PlanError, PlanInput, PlanSummary, ops, parse_duration, retention};
use tidemark_store::{RecordedJob, Store, recover};

use crate::{absolute, absolute_path, fail, run, ui};

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    command: PlanCommand,
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Save a plan: `add NAME snapshot SRC --to DEST` or `add NAME sync SRC... --to DEST`.
    Add {
        name: String,
        /// snapshot or sync.
        #[arg(value_parser = ["snapshot", "sync"])]
        kind: String,
        /// The folder to archive (snapshot), or the folders to mirror (sync).
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<PathBuf>,
        /// A destination folder (or, for a snapshot, an http(s) URL).
        #[arg(long = "to", value_name = "DEST")]
        to: String,
        /// Sync: also remove from the mirror what no longer exists in the source.
        #[arg(long)]
        delete: bool,
        /// hourly, "daily 02:00", "weekly mon 09:00", "every 6h", or a 5-field cron expression.
        #[arg(long, value_name = "SPEC")]
        schedule: Option<String>,
        /// Snapshot to a folder: keep the newest N archives of this plan there.
        #[arg(long, value_name = "N")]
        keep: Option<u32>,
        /// Say the plan is stale after this long without a successful run (30m, 12h, 3d).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        stale_after: Option<std::time::Duration>,
    },
    /// Every plan: kind, schedule, last run, last success, next run, staleness.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One plan in full.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Run the plan now, in the foreground with its progress, until it ends.
    Run {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove the plan (its runs stay in the history).
    Remove { name: String },
    /// Pause the plan (its due runs are skipped), for a while or until resumed.
    Pause {
        name: String,
        #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
        for_: Option<std::time::Duration>,
    },
    /// Resume a paused plan.
    Resume { name: String },
}

fn open(db: &Path) -> Result<Store, ExitCode> {
    let mut store = Store::open(db).map_err(|e| fail(e.code(), e))?;
    recover(&mut store).map_err(|e| fail(e.code(), e))?;
    Ok(store)
}

fn refused(e: PlanError) -> ExitCode {
    fail(e.code(), e)
}

pub fn run(db: &Path, args: PlanArgs) -> ExitCode {
    let mut store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match args.command {
        PlanCommand::Add {
            name,
            kind,
            sources,
            to,
            delete,
            schedule,
            keep,
            stale_after,
        } => {
            let spec = match spec_of(&kind, sources, to, delete) {
                Ok(spec) => spec,
                Err(code) => return code,
            };
            let input = PlanInput {
                name,
                spec,
                schedule,
                keep,
                stale_after: stale_after.map(|d| d.as_secs()),
            };
            match ops::add(&store, &input) {
                Ok(plan) => {
                    say!("plan {:?} saved", plan.name);
                    if plan.schedule.is_some() {
                        say!(
                            "its schedule runs while `tidemark agent` or the desktop app runs on this history"
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => refused(e),
            }
        }
        PlanCommand::List { json } => match ops::list(&store) {
            Ok(plans) if json => print_json(&plans),
            Ok(plans) => {
                if plans.is_empty() {
                    say!("no plans yet: `tidemark plan add` saves one");
                }
                ui::output(|out| {
                    for p in &plans {
                        writeln!(out, "{}", row(p))?;
                    }
                    Ok(())
                })
            }
            Err(e) => refused(e),
        },
        PlanCommand::Show { name, json } => match ops::show(&store, &name) {
            Ok(p) if json => print_json(&p),
            Ok(p) => ui::output(|out| show(out, &p)),
            Err(e) => refused(e),
        },
        PlanCommand::Run { name, json } => run_now(db, &mut store, &name, json),
        PlanCommand::Remove { name } => match ops::remove(&mut store, &name) {
            Ok(p) => {
                say!("plan {:?} removed; its runs stay in the history", p.name);
                ExitCode::SUCCESS
            }
            Err(e) => refused(e),
        },
        PlanCommand::Pause { name, for_ } => match ops::pause(&store, &name, for_) {
            Ok(p) => {
                match (for_, p.paused_until) {
                    (Some(_), Some(until)) => say!("plan {:?} paused until {}", p.name, until),
                    _ => say!("plan {:?} paused until resumed", p.name),
                }
                ExitCode::SUCCESS
            }
            Err(e) => refused(e),
        },
        PlanCommand::Resume { name } => match ops::resume(&store, &name) {
            Ok(p) => {
                say!("plan {:?} resumed", p.name);
                ExitCode::SUCCESS
            }
            Err(e) => refused(e),
        },
    }
}

fn spec_of(
    kind: &str,
    sources: Vec<PathBuf>,
    to: String,
    delete: bool,
) -> Result<JobSpec, ExitCode> {
    let usage = |m: &str| fail(tidemark_core::ErrorCode::InvalidInput, m);
    if kind == "snapshot" {
        if delete {
            return Err(usage("--delete applies to a sync"));
        }
        let mut sources = sources.into_iter();
        let (Some(source), None) = (sources.next(), sources.next()) else {
            return Err(usage("a snapshot plan archives one folder"));
        };
        let destination = if tidemark_core::snapshot::is_url(&to) {
            to
        } else {
            absolute(to.into())
        };
        Ok(JobSpec::Snapshot(SnapshotSpec {
            source: absolute_path(source),
            destination,
            name: None,
        }))
    } else {
        Ok(JobSpec::Sync(SyncSpec {
            sources: sources.into_iter().map(absolute_path).collect(),
            destination: absolute_path(to.into()),
            delete,
        }))
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> ExitCode {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    ui::output(|out| writeln!(out, "{text}"))
}

fn row(p: &PlanSummary) -> String {
    let last = match &p.last_run {
        Some(r) => format!(
            "{} {}",
            r.state.as_str(),
            r.finished_at.as_deref().map(short).unwrap_or_default()
        ),
        None => "never run".into(),
    };
    let next = if p.paused {
        "paused".to_owned()
    } else {
        p.next_run_at
            .as_deref()
            .map(short)
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "{:<20}  {:<8}  {:<18}  last: {:<28}  next: {}{}",
        p.plan.name,
        kind_name(&p.plan.spec),
        p.plan.schedule.as_deref().unwrap_or("manual"),
        last,
        next,
        if p.stale { "  STALE" } else { "" }
    )
}

fn show(out: &mut dyn Write, p: &PlanSummary) -> std::io::Result<()> {
    writeln!(out, "{}", p.plan.name)?;
    writeln!(out, "  kind:        {}", kind_name(&p.plan.spec))?;
    match &p.plan.spec {
        JobSpec::Snapshot(s) => {
            writeln!(out, "  source:      {}", s.source.display())?;
            writeln!(out, "  destination: {}", s.destination)?;
        }
        JobSpec::Sync(s) => {
            for src in &s.sources {
                writeln!(out, "  source:      {}", src.display())?;
            }
            writeln!(out, "  destination: {}", s.destination.display())?;
            writeln!(out, "  delete:      {}", s.delete)?;
        }
        // Never saved as a plan (`ops::validate` refuses them).
        JobSpec::Restore(_) | JobSpec::Verify(_) => {}
    }
    writeln!(
        out,
        "  schedule:    {}",
        p.plan.schedule.as_deref().unwrap_or("manual")
    )?;
    if let Some(keep) = p.plan.keep {
        writeln!(out, "  keep:        {keep} archives")?;
    }
    if let Some(secs) = p.plan.stale_after {
        writeln!(out, "  stale after: {secs} s")?;
    }
    if p.paused {
        writeln!(
            out,
            "  paused until {}",
            p.plan.paused_until.as_deref().unwrap_or("resumed")
        )?;
    }
    match &p.last_run {
        Some(r) => writeln!(
            out,
            "  last run:    {} {} (job {})",
            r.state.as_str(),
            r.finished_at.as_deref().unwrap_or(""),
            r.job_id
        )?,
        None => writeln!(out, "  last run:    never")?,
    }
    writeln!(
        out,
        "  last success: {}",
        p.last_success_at.as_deref().unwrap_or("never")
    )?;
    writeln!(
        out,
        "  next run:    {}",
        p.next_run_at.as_deref().unwrap_or("-")
    )?;
    if p.stale {
        writeln!(out, "  STALE: no successful run within its limit")?;
    }
    Ok(())
}

fn kind_name(spec: &JobSpec) -> &'static str {
    match spec {
        JobSpec::Snapshot(_) => "snapshot",
        JobSpec::Sync(_) => "sync",
        JobSpec::Restore(_) => "restore",
        JobSpec::Verify(_) => "verify",
    }
}

/// `2026-05-06T10:17:05.123Z` as the local `2026-05-06 12:17`.
fn short(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_owned())
}

/// Claims a run (so no scheduler starts one meanwhile), runs it in the foreground, then
/// applies the plan's retention if it completed.
fn run_now(db: &Path, store: &mut Store, name: &str, json: bool) -> ExitCode {
    let (plan, key) = match ops::claim_now(store, name) {
        Ok(c) => c,
        Err(e) => return refused(e),
    };
    let launch = tidemark_store::Launch {
        eta_seed: ops::eta_seed_of(store, &plan),
        ..ops::launch_of(&plan)
    };
    let job = RecordedJob::start_with(db, plan.spec.clone(), None, launch);
    let recorded = ops::record_launch(store, &plan, &key, job.as_ref().ok().map(|j| j.id()));
    if let Err(e) = recorded {
        say!("warning: {e}");
    }
    let code = run::follow(job, json);
    match retention::apply(store, &plan) {
        Ok(deleted) => {
            for d in deleted {
                say!("retention: deleted {}", d.display());
            }
        }
        Err(e) => say!("warning: retention: {e}"),
    }
    code
}

/// The id of the plan named `name`, for `history --plan`.
pub fn plan_id(db: &Path, name: &str) -> Result<String, ExitCode> {
    let store = open(db)?;
    ops::get(&store, name).map(|p| p.id).map_err(refused)
}
