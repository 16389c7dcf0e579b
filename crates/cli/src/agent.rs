//! `tidemark agent`: the headless agent, and its token management.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use tidemark_agent::{AgentConfig, add_named, serve};
use tidemark_core::ErrorCode;
use tidemark_store::Places;

use crate::{fail, ui};

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    /// Address to listen on; anything but loopback needs --insecure-listen.
    #[arg(long, default_value = "127.0.0.1:7040")]
    listen: SocketAddr,
    /// A folder jobs may read from and write to (repeatable); nothing outside is allowed.
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Listen on a non-loopback address without TLS.
    #[arg(long)]
    insecure_listen: bool,
    /// Most concurrent progress streams one token may hold.
    #[arg(long, default_value_t = tidemark_agent::MAX_STREAMS_PER_TOKEN)]
    max_streams_per_token: usize,
    /// The token file [default: agent-tokens.json in the config folder, see `tidemark paths`].
    #[arg(long, value_name = "PATH")]
    tokens: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Manage the agent's access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a named token; its holder sees only the jobs it starts.
    Add { name: String },
}

impl AgentArgs {
    /// Whether this runs the agent (rather than managing its tokens).
    pub fn serves(&self) -> bool {
        self.command.is_none()
    }
}

/// The agent's token file in the config folder; older versions kept it beside the history.
const TOKENS_FILE: &str = "agent-tokens.json";

pub fn run(places: &Places, args: AgentArgs) -> ExitCode {
    let tokens = args.tokens.unwrap_or_else(|| {
        places.adopt_config_kept_beside_the_history(&[TOKENS_FILE]);
        places.config.join(TOKENS_FILE)
    });
    if let Some(AgentCommand::Token {
        command: TokenCommand::Add { name },
    }) = args.command
    {
        return match add_named(&tokens, &name) {
            Ok(token) => {
                let written = ui::line(format_args!("{token}"));
                say!(
                    "token {name:?} added to {}; it is shown only this once",
                    tokens.display()
                );
                ui::ended(written)
            }
            Err(e) => fail(ErrorCode::Tokens, e),
        };
    }
    let cfg = AgentConfig {
        listen: args.listen,
        roots: args.roots,
        db: places.db.clone(),
        tokens: tokens.clone(),
        insecure_listen: args.insecure_listen,
        max_streams_per_token: args.max_streams_per_token,
    };
    // Requests run their SQLite work on blocking threads, each a few milliseconds; a burst of
    // watchers connecting at once should queue for a few threads, not start hundreds.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(32)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(ErrorCode::Internal, e),
    };
    let served = runtime.block_on(serve(cfg, |started| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Tidemark agent listening on http://{}", started.addr);
        if let Some(token) = started.new_admin_token {
            let _ = writeln!(
                out,
                "admin token: {token} (saved in {}; shown only this once)",
                tokens.display()
            );
        }
        let _ = out.flush();
    }));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.code(), e),
    }
}
