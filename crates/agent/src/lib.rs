//! Tidemark's headless agent: runs the core's jobs with their history, and serves them over
//! HTTPS (REST + Server-Sent Events) to the desktop app and other clients.

mod about;
pub mod auth;
pub mod cert;
mod extract;
mod handlers;
pub mod http;
mod logs;
pub mod metrics;
mod openapi;
mod plan_handlers;
mod plans;
mod server;
pub mod service;
pub mod stream;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemark_core::{ErrorCode, Fingerprint};

pub use about::AgentInfo;
pub use auth::{
    Identity, TokenError, TokenInfo, Tokens, add_named, free_name, list_named, remove_named,
};
pub use cert::{AgentCert, CertError, CertSource};
pub use server::{Limits, MAX_CONNECTIONS_PER_ADDRESS};
pub use service::{Agent, ApiError, EMIT_INTERVAL, MAX_STREAMS_PER_TOKEN, OpenError};

/// How many jobs run at once by default (`--max-jobs`): two keep a disk and the cores busy
/// without thrashing either; the rest wait as `queued`.
pub const MAX_JOBS: usize = tidemark_core::queue::DEFAULT_LIMIT;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    pub roots: Vec<PathBuf>,
    pub db: PathBuf,
    pub tokens: PathBuf,
    /// The certificate served; `None` serves plain HTTP, for a TLS proxy in front, and only
    /// on loopback.
    pub tls: Option<CertSource>,
    /// Where the agent records the address it listens on and its fingerprint, for
    /// `tidemark agent pair`.
    pub record: Option<PathBuf>,
    /// Most concurrent progress streams per token.
    pub max_streams_per_token: usize,
    /// How often jobs log counter updates, each of which goes to every watcher.
    pub emit_interval: Duration,
    /// Most jobs running at once; the others wait as `queued` (at least 1).
    pub max_jobs: usize,
    pub limits: Limits,
}

impl AgentConfig {
    /// The defaults for everything but where it listens and what it keeps where.
    pub fn new(listen: SocketAddr, roots: Vec<PathBuf>, db: PathBuf, tokens: PathBuf) -> Self {
        let tls = Some(CertSource::beside(&tokens));
        Self {
            listen,
            roots,
            db,
            tokens,
            tls,
            record: None,
            max_streams_per_token: MAX_STREAMS_PER_TOKEN,
            emit_interval: EMIT_INTERVAL,
            max_jobs: MAX_JOBS,
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "refusing to serve plain HTTP on {0}: tokens and paths would cross the network in \
         clear text. --no-tls is for a TLS proxy in front of the agent, on 127.0.0.1 or ::1"
    )]
    InsecureListen(SocketAddr),
    #[error("give at least one --root folder: jobs may only use folders under a root")]
    NoRoot,
    #[error("--max-jobs must be at least 1: with 0 no job would ever start")]
    NoJobSlots,
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(transparent)]
    Cert(#[from] CertError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("the agent's setup thread failed: {0}")]
    SetupThread(#[from] tokio::task::JoinError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl AgentError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InsecureListen(_) => ErrorCode::InsecureListen,
            Self::NoRoot => ErrorCode::NoRoot,
            Self::NoJobSlots => ErrorCode::InvalidInput,
            Self::Tokens(_) => ErrorCode::Tokens,
            Self::Cert(_) => ErrorCode::Certificate,
            Self::Open(e) => e.code(),
            Self::SetupThread(_) => ErrorCode::Internal,
            Self::Bind { .. } => ErrorCode::Bind,
        }
    }
}

/// What the agent tells its operator once it listens.
#[derive(Debug)]
pub struct Started {
    pub addr: SocketAddr,
    /// `https://ADDR`, or `http://ADDR` without TLS.
    pub url: String,
    /// The SHA-256 fingerprint of the certificate served, clients pin it.
    pub fingerprint: Option<Fingerprint>,
    /// The admin token, when this start created it (it is shown only this once).
    pub new_admin_token: Option<String>,
}

/// Where an agent last listened, as it recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub address: SocketAddr,
    pub fingerprint: Option<Fingerprint>,
}

impl AgentRecord {
    /// The record at `path`, if an agent wrote one.
    pub fn read(path: &Path) -> Option<AgentRecord> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn write(&self, path: &Path) {
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::from)
            .and_then(|json| auth::write_private(path, &json));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "cannot record where the agent listens; `tidemark agent pair` will need --url");
        }
    }
}

/// Runs the agent until Ctrl-C / SIGTERM; `on_start` is told where it listens.
pub async fn serve(cfg: AgentConfig, on_start: impl FnOnce(Started)) -> Result<(), AgentError> {
    serve_until(cfg, on_start, shutdown_signal()).await
}

/// [`serve`] until `stop` resolves.
pub async fn serve_until(
    cfg: AgentConfig,
    on_start: impl FnOnce(Started),
    stop: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    if cfg.tls.is_none() && !cfg.listen.ip().is_loopback() {
        return Err(AgentError::InsecureListen(cfg.listen));
    }
    if cfg.roots.is_empty() {
        return Err(AgentError::NoRoot);
    }
    if cfg.max_jobs == 0 {
        return Err(AgentError::NoJobSlots);
    }
    let (tokens, new_admin_token) = Tokens::load_or_create(&cfg.tokens)?;
    let cert = cfg.tls.as_ref().map(AgentCert::load).transpose()?;
    let acceptor = cert
        .as_ref()
        .map(|c| c.server_config().map(tokio_rustls::TlsAcceptor::from))
        .transpose()?;
    let agent = {
        let (db, roots) = (cfg.db.clone(), cfg.roots.clone());
        let (max, every) = (cfg.max_streams_per_token, cfg.emit_interval);
        tokio::task::spawn_blocking(move || Agent::open(db, &roots, max, every)).await??
    };
    agent.set_max_jobs(cfg.max_jobs);
    let agent = Arc::new(agent);
    agent.start_scheduler(&tokio::runtime::Handle::current());
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| AgentError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AgentError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let fingerprint = cert.as_ref().map(AgentCert::fingerprint);
    if let Some(path) = &cfg.record {
        let record = AgentRecord {
            address: addr,
            fingerprint,
        };
        record.write(path);
    }
    on_start(Started {
        addr,
        url: server::url(addr, acceptor.is_some()),
        fingerprint,
        new_admin_token,
    });
    let state = stream::AppState {
        agent: agent.clone(),
        tokens: Arc::new(tokens),
        frames: Arc::default(),
        metrics: Arc::default(),
    };
    let app = http::router(state);
    let connections = server::serve(listener, acceptor, app, cfg.limits, stop).await;
    // Jobs end cleanly (cancelled, nothing half-written) rather than being cut off; their
    // streams end with them, and what is left (idle connections, streams of interrupted
    // jobs) is given a moment to close.
    let _joined = tokio::task::spawn_blocking(move || agent.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), connections.shutdown()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ignored = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
