//! `tidemark agent`: the headless agent, its tokens, its certificate and pairing.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use tidemark_agent::{AgentCert, AgentConfig, AgentRecord, CertSource, Limits, serve};
use tidemark_core::ErrorCode;
use tidemark_core::PairingLink;
use tidemark_store::Places;

use crate::{fail, ui};

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    /// Address to listen on, e.g. 0.0.0.0:7040 to be reached from other machines.
    #[arg(long, default_value = "127.0.0.1:7040")]
    listen: SocketAddr,
    /// A folder jobs may read from and write to (repeatable); nothing outside is allowed.
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Serve this certificate (PEM, its chain after it) instead of the agent's own.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP, for a TLS proxy in front of the agent; only on a loopback address.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    no_tls: bool,
    /// Most concurrent progress streams one token may hold.
    #[arg(long, default_value_t = tidemark_agent::MAX_STREAMS_PER_TOKEN)]
    max_streams_per_token: usize,
    /// Most connections one client address may hold at once.
    #[arg(long, default_value_t = tidemark_agent::MAX_CONNECTIONS_PER_ADDRESS)]
    max_connections_per_address: usize,
    /// How often a job's progress is sent to watchers, in milliseconds (steps and ends are
    /// sent at once).
    #[arg(long, value_name = "MS", default_value_t = tidemark_agent::EMIT_INTERVAL.as_millis() as u64)]
    emit_interval: u64,
    /// Most jobs running at once; the others wait as `queued`, in the order they came.
    #[arg(long, value_name = "N", default_value_t = tidemark_agent::MAX_JOBS, value_parser = at_least_one)]
    max_jobs: usize,
    /// The token file [default: agent-tokens.json in the config folder, see `tidemark paths`].
    #[arg(long, value_name = "PATH")]
    tokens: Option<PathBuf>,
}

/// `--max-jobs`: 0 would queue every job for ever.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("at least 1: with 0 no job would ever start".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Manage the agent's access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Create a token for a client and print its pairing link (and the same as a QR code).
    Pair {
        /// The token's name [default: "paired", then "paired-2", …].
        #[arg(long)]
        name: Option<String>,
        /// The token may follow every job but start or change none.
        #[arg(long)]
        read_only: bool,
        /// HOST:PORT clients reach the agent by [default: where it listens].
        #[arg(long, value_name = "HOST:PORT")]
        url: Option<String>,
    },
    /// Print the SHA-256 fingerprint of the agent's certificate.
    Fingerprint,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a named token; its holder sees only the jobs it starts.
    Add {
        name: String,
        /// The token may follow every job but start or change none.
        #[arg(long)]
        read_only: bool,
    },
    /// List the named tokens.
    List,
    /// Revoke a named token: a running agent refuses it from its next request on.
    Remove { name: String },
}

impl AgentArgs {
    /// Whether this runs the agent (rather than managing its tokens).
    pub fn serves(&self) -> bool {
        self.command.is_none()
    }
}

/// The agent's token file in the config folder; older versions kept it beside the history.
const TOKENS_FILE: &str = "agent-tokens.json";
/// Where a running agent records its address and fingerprint, in the data folder.
const RECORD_FILE: &str = "agent-address.json";

fn record_path(places: &Places) -> PathBuf {
    places
        .db
        .parent()
        .unwrap_or(Path::new("."))
        .join(RECORD_FILE)
}

pub fn run(places: &Places, args: AgentArgs) -> ExitCode {
    let tokens = args.tokens.clone().unwrap_or_else(|| {
        places.adopt_config_kept_beside_the_history(&[TOKENS_FILE]);
        places.config.join(TOKENS_FILE)
    });
    let cert = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => CertSource::Given {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ => CertSource::beside(&tokens),
    };
    match args.command {
        Some(AgentCommand::Token { command }) => token(&tokens, command),
        Some(AgentCommand::Fingerprint) => match AgentCert::load(&cert) {
            Ok(c) => ui::ended(ui::line(format_args!("{}", c.fingerprint()))),
            Err(e) => fail(ErrorCode::Certificate, e),
        },
        Some(AgentCommand::Pair {
            name,
            read_only,
            url,
        }) => pair(places, &tokens, &cert, name, read_only, url),
        None => run_agent(places, args, tokens, cert),
    }
}

fn token(tokens: &Path, command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Add { name, read_only } => {
            match tidemark_agent::add_named(tokens, &name, read_only) {
                Ok(token) => {
                    let written = ui::line(format_args!("{token}"));
                    say!(
                        "token {name:?} added to {}; it is shown only this once",
                        tokens.display()
                    );
                    ui::ended(written)
                }
                Err(e) => fail(ErrorCode::Tokens, e),
            }
        }
        TokenCommand::List => match tidemark_agent::list_named(tokens) {
            Ok(list) => ui::output(|out| {
                for t in list {
                    let scope = if t.read_only { "read-only" } else { "own jobs" };
                    writeln!(out, "{}\t{scope}", t.name)?;
                }
                Ok(())
            }),
            Err(e) => fail(ErrorCode::Tokens, e),
        },
        TokenCommand::Remove { name } => match tidemark_agent::remove_named(tokens, &name) {
            Ok(()) => {
                say!("token {name:?} revoked");
                ExitCode::SUCCESS
            }
            Err(e) => fail(ErrorCode::Tokens, e),
        },
    }
}

/// Why a pairing link cannot be made.
#[derive(Debug, thiserror::Error)]
enum PairError {
    #[error(
        "no agent has listened here yet, so its address is unknown: start `tidemark agent` \
         first, or give --url HOST:PORT"
    )]
    NoAddress,
    #[error(
        "the agent listens on every address ({0}): give --url HOST:PORT with the name or \
         address clients reach it by"
    )]
    Unspecified(SocketAddr),
    #[error("--url {0:?} is not HOST:PORT")]
    BadUrl(String),
    #[error(
        "the agent serves plain HTTP (--no-tls), so its clients meet the certificate of the \
         TLS proxy in front of it: give them the proxy's https:// address and a token from \
         `tidemark agent token add` instead of a pairing link"
    )]
    NoTls,
}

fn pair(
    places: &Places,
    tokens: &Path,
    cert: &CertSource,
    name: Option<String>,
    read_only: bool,
    url: Option<String>,
) -> ExitCode {
    let record = AgentRecord::read(&record_path(places));
    // Behind a TLS proxy, the certificate clients meet is the proxy's: nothing to pin here.
    if record.as_ref().is_some_and(|r| r.fingerprint.is_none()) {
        return fail(ErrorCode::InvalidInput, PairError::NoTls);
    }
    let (host, port) = match where_clients_reach(url.as_deref(), record.as_ref()) {
        Ok(hp) => hp,
        Err(e) => return fail(ErrorCode::InvalidInput, e),
    };
    // The certificate the agent last served, else its own (made now if it never ran).
    let fingerprint = match record.as_ref().and_then(|r| r.fingerprint) {
        Some(fp) => fp,
        None => match AgentCert::load(cert) {
            Ok(c) => c.fingerprint(),
            Err(e) => return fail(ErrorCode::Certificate, e),
        },
    };
    let name = match name.map_or_else(|| tidemark_agent::free_name(tokens, "paired"), Ok) {
        Ok(n) => n,
        Err(e) => return fail(ErrorCode::Tokens, e),
    };
    let token = match tidemark_agent::add_named(tokens, &name, read_only) {
        Ok(t) => t,
        Err(e) => return fail(ErrorCode::Tokens, e),
    };
    let link = PairingLink {
        host,
        port,
        fingerprint,
        token,
    }
    .to_string();
    let written = ui::line(format_args!("{link}"));
    let scope = if read_only {
        "read-only"
    } else {
        "its own jobs"
    };
    say!(
        "token {name:?} ({scope}) added; the link above holds it and is shown only this once. \
         Paste it into Tidemark's Add agent form, or `tidemark watch --agent LINK`, or scan:"
    );
    if let Some(qr) = qr(&link) {
        say!("{qr}");
    }
    ui::ended(written)
}

/// The host and port a pairing link names.
fn where_clients_reach(
    url: Option<&str>,
    record: Option<&AgentRecord>,
) -> Result<(String, u16), PairError> {
    if let Some(url) = url {
        let bare = url
            .trim_start_matches("https://")
            .trim_start_matches("tidemark://")
            .trim_end_matches('/');
        let (host, port) = bare
            .rsplit_once(':')
            .ok_or_else(|| PairError::BadUrl(url.to_owned()))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse()
            .map_err(|_| PairError::BadUrl(url.to_owned()))?;
        if host.is_empty() || host.contains('/') {
            return Err(PairError::BadUrl(url.to_owned()));
        }
        return Ok((host.to_owned(), port));
    }
    let addr = record.ok_or(PairError::NoAddress)?.address;
    if addr.ip().is_unspecified() {
        return Err(PairError::Unspecified(addr));
    }
    Ok((addr.ip().to_string(), addr.port()))
}

/// The link as a QR code drawn with half blocks, light on dark as phones read it best.
fn qr(link: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(link.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

fn run_agent(places: &Places, args: AgentArgs, tokens: PathBuf, cert: CertSource) -> ExitCode {
    let mut cfg = AgentConfig::new(args.listen, args.roots, places.db.clone(), tokens.clone());
    cfg.tls = (!args.no_tls).then_some(cert);
    cfg.record = Some(record_path(places));
    cfg.max_streams_per_token = args.max_streams_per_token;
    cfg.emit_interval = Duration::from_millis(args.emit_interval);
    cfg.max_jobs = args.max_jobs;
    cfg.limits = Limits {
        per_address: args.max_connections_per_address,
        ..Limits::default()
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
        let _ = writeln!(out, "Tidemark agent listening on {}", started.url);
        if let Some(fp) = &started.fingerprint {
            let _ = writeln!(out, "certificate fingerprint (SHA-256): {fp}");
        }
        if let Some(token) = started.new_admin_token {
            let _ = writeln!(
                out,
                "admin token (saved in {}; shown only this once):\n{token}",
                tokens.display()
            );
        }
        let _ = writeln!(
            out,
            "to let another machine in: tidemark agent pair [--read-only]"
        );
        let _ = out.flush();
    }));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.code(), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_names_where_clients_reach_the_agent() {
        let rec = |a: &str| AgentRecord {
            address: a.parse().expect("addr"),
            fingerprint: Some(tidemark_core::Fingerprint([7; 32])),
        };
        assert_eq!(
            where_clients_reach(None, Some(&rec("192.168.1.5:7040"))).expect("v4"),
            ("192.168.1.5".to_owned(), 7040)
        );
        assert_eq!(
            where_clients_reach(None, Some(&rec("[::1]:7040"))).expect("v6"),
            ("::1".to_owned(), 7040)
        );
        assert!(matches!(
            where_clients_reach(None, Some(&rec("0.0.0.0:7040"))),
            Err(PairError::Unspecified(_))
        ));
        assert!(matches!(
            where_clients_reach(None, None),
            Err(PairError::NoAddress)
        ));
        assert_eq!(
            where_clients_reach(Some("nas.home:8443"), Some(&rec("0.0.0.0:7040")))
                .expect("--url wins"),
            ("nas.home".to_owned(), 8443)
        );
        assert!(where_clients_reach(Some("nas.home"), None).is_err());
    }
}
