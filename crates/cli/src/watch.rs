//! `tidemark watch`: follow jobs running on an agent, with the connection state shown.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use tidemark_core::pairing::is_pairing_link;
use tidemark_core::{ErrorCode, JobState, ProgressSink};
use tidemark_remote::{
    ConnState, Endpoint, EndpointError, Timeouts, TransportError, WatchConfig, WatchEnd, WatchItem,
};

use crate::render::{self, Bars, JsonLines, Lines};
use crate::{EXIT_CANCELLED, EXIT_FAILED, fail, ui};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The agent's pairing link (tidemark://HOST:PORT/?fp=…&token=…), or its URL, e.g.
    /// https://agent.example:7040.
    #[arg(long)]
    agent: String,
    /// A file holding the token, when --agent is a URL [default: the TIDEMARK_TOKEN
    /// variable]. A pairing link carries its own.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The job to follow.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    job: Option<String>,
    /// Follow every job of the agent that has not ended, and new ones as they start.
    #[arg(long)]
    all: bool,
    /// Print progress events and connection states as JSON lines.
    #[arg(long)]
    json: bool,
}

/// "live", "reconnecting in 4 s (attempt 3/5)", "polling every 1 s", …
pub fn describe(state: &ConnState) -> String {
    match state {
        ConnState::Connecting => "connecting".into(),
        ConnState::Connected => "live".into(),
        ConnState::Reconnecting {
            attempt,
            of,
            delay_ms,
        } => {
            format!(
                "reconnecting in {:.0} s (attempt {attempt}/{of})",
                *delay_ms as f64 / 1000.0
            )
        }
        ConnState::Polling => "polling every 1 s".into(),
        ConnState::Offline { reason } => format!("offline: {reason}"),
        ConnState::AuthFailed { message } => format!("the agent refused the token ({message})"),
    }
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
enum NoToken {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("give --token-file FILE or set TIDEMARK_TOKEN")]
    NotGiven,
}

fn token(args: &WatchArgs) -> Result<String, NoToken> {
    match &args.token_file {
        Some(f) => std::fs::read_to_string(f)
            .map(|t| t.trim().to_owned())
            .map_err(|source| NoToken::Unreadable {
                path: f.clone(),
                source,
            }),
        None => std::env::var("TIDEMARK_TOKEN").map_err(|_| NoToken::NotGiven),
    }
}

/// The agent to watch: a pairing link carries its token; a URL takes the one given.
fn endpoint(args: &WatchArgs) -> Result<Endpoint, ExitCode> {
    let token = if is_pairing_link(&args.agent) {
        None
    } else {
        match token(args) {
            Ok(t) if !t.is_empty() => Some(t),
            Ok(_) => return Err(fail(ErrorCode::AuthFailed, "the token is empty")),
            Err(e) => return Err(fail(ErrorCode::AuthFailed, e)),
        }
    };
    Endpoint::parse(&args.agent, token.as_deref()).map_err(|e| match e {
        EndpointError::Link(_) => fail(ErrorCode::BadPairingLink, e),
        EndpointError::NotAnAddress(_) => fail(ErrorCode::InvalidUrl, e),
        EndpointError::NoToken(_) => fail(ErrorCode::AuthFailed, e),
    })
}

/// An agent whose certificate is refused (another one than paired, or one no authority
/// signed) is refused before any watch starts: the watch itself would only keep retrying.
async fn check_pin(agent: &Endpoint) -> Result<(), ExitCode> {
    if !agent.is_https() {
        return Ok(());
    }
    match tidemark_remote::list_jobs(agent).await {
        Err(e @ TransportError::Fingerprint { .. }) => Err(fail(ErrorCode::FingerprintMismatch, e)),
        Err(e @ TransportError::Untrusted(_)) => Err(fail(ErrorCode::Certificate, e)),
        // Anything else is the watch's to report and retry, as without a pin.
        _ => Ok(()),
    }
}

pub fn run(args: WatchArgs) -> ExitCode {
    let agent = match endpoint(&args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(ErrorCode::Internal, e),
    };
    runtime.block_on(async move {
        if let Err(code) = check_pin(&agent).await {
            return code;
        }
        if args.all {
            watch_all(&args, &agent).await
        } else {
            watch_one(&args, &agent, args.job.as_deref().unwrap_or_default()).await
        }
    })
}

fn sink(json: bool) -> Box<dyn ProgressSink> {
    if json {
        Box::new(JsonLines::stdout())
    } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::stderr())
    }
}

/// Fails only when stdout's reader is gone.
fn show_state(json: bool, state: &ConnState) -> std::io::Result<()> {
    if json {
        ui::line(format_args!(
            "{}",
            serde_json::json!({ "connection": state })
        ))
    } else {
        say!("connection: {}", describe(state));
        Ok(())
    }
}

async fn watch_one(args: &WatchArgs, agent: &Endpoint, job: &str) -> ExitCode {
    let (mut items, task) =
        match tidemark_remote::watch(agent, job, 0, WatchConfig::default(), Timeouts::default()) {
            Ok(w) => w,
            Err(e) => return fail(ErrorCode::NetworkUnreachable, e),
        };
    let mut out = sink(args.json);
    let mut last = None;
    while let Some(item) = items.recv().await {
        match item {
            WatchItem::Event(ev) | WatchItem::Resync(ev) => {
                let ev = Arc::new(ev);
                if out.deliver(&ev).is_err() {
                    break;
                }
                last = Some(ev);
            }
            WatchItem::State(s) => {
                if show_state(args.json, &s).is_err() {
                    break;
                }
            }
        }
    }
    // Whatever ended the loop, the watch ends too (a reader that left must not leave it
    // waiting on a full channel).
    drop((out, items));
    match task.await {
        Ok(WatchEnd::Finished) => {
            let Some(end) = last else {
                return fail(ErrorCode::Internal, "no terminal event");
            };
            render::summary(&end);
            match end.state {
                JobState::Completed => ExitCode::SUCCESS,
                JobState::Cancelled => ExitCode::from(EXIT_CANCELLED),
                _ => ExitCode::from(EXIT_FAILED),
            }
        }
        Ok(WatchEnd::AuthFailed) => fail(ErrorCode::AuthFailed, "the agent refused the token"),
        Ok(WatchEnd::NotFound) => fail(
            ErrorCode::JobNotFound,
            format!("the agent has no job {job}"),
        ),
        Ok(WatchEnd::NoContent) => fail(ErrorCode::NoContent, "the agent has nothing to stream"),
        Ok(WatchEnd::Stopped) => ExitCode::SUCCESS,
        Err(e) => fail(ErrorCode::Internal, e),
    }
}

async fn watch_all(args: &WatchArgs, agent: &Endpoint) -> ExitCode {
    let mut items = tidemark_remote::watch_all(agent, WatchConfig::default(), Timeouts::default());
    while let Some((job, item)) = items.recv().await {
        match item {
            WatchItem::Event(ev) | WatchItem::Resync(ev) => {
                if args.json {
                    let json = serde_json::to_string(&ev).unwrap_or_default();
                    if let Err(e) = ui::line(format_args!("{json}")) {
                        return ui::ended(Err(e));
                    }
                } else if ev.is_terminal() {
                    say!("{job}: {} ({})", ev.state.as_str(), ev.message);
                } else {
                    let pct = ev
                        .percent
                        .map(|p| format!("{p:.0}%"))
                        .unwrap_or_else(|| "…".into());
                    say!(
                        "{job}: {}/{} {} {pct} {}",
                        ev.step_number,
                        ev.total_steps,
                        ev.step.label(),
                        ev.message
                    );
                }
            }
            WatchItem::State(ConnState::AuthFailed { message }) => {
                return fail(
                    ErrorCode::AuthFailed,
                    format!("the agent refused the token ({message})"),
                );
            }
            WatchItem::State(s) => {
                if args.json {
                    let json = serde_json::json!({ "job": job, "connection": s });
                    if let Err(e) = ui::line(format_args!("{json}")) {
                        return ui::ended(Err(e));
                    }
                } else {
                    say!("{job}: connection: {}", describe(&s));
                }
            }
        }
    }
    ExitCode::SUCCESS
}
