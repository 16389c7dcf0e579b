//! Tidemark's headless agent: runs the core's jobs with their history, and serves them over
//! HTTP (REST + Server-Sent Events) to the desktop app and other clients.

pub mod auth;
pub mod http;
pub mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::serve::ListenerExt;

pub use auth::{Identity, TokenError, Tokens, add_named};
pub use service::{Agent, ApiError, MAX_STREAMS_PER_TOKEN};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    pub roots: Vec<PathBuf>,
    pub db: PathBuf,
    pub tokens: PathBuf,
    /// Allow a non-loopback address without TLS.
    pub insecure_listen: bool,
    /// Most concurrent progress streams per token.
    pub max_streams_per_token: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "refusing to listen on {0} without TLS: tokens and paths would cross the network in \
         clear text. Listen on 127.0.0.1 (and reach it through an SSH tunnel or a TLS proxy), \
         or pass --insecure-listen on a network you trust"
    )]
    InsecureListen(SocketAddr),
    #[error("give at least one --root folder: jobs may only use folders under a root")]
    NoRoot,
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error("{0}")]
    Setup(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl AgentError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InsecureListen(_) => "insecure_listen",
            Self::NoRoot => "no_root",
            Self::Tokens(_) => "tokens",
            Self::Setup(_) => "setup",
            Self::Bind { .. } => "bind",
        }
    }
}

/// What the agent tells its operator once it listens.
#[derive(Debug)]
pub struct Started {
    pub addr: SocketAddr,
    /// The admin token, when this start created it (it is shown only this once).
    pub new_admin_token: Option<String>,
}

/// Runs the agent until Ctrl-C / SIGTERM; `on_start` is told where it listens.
pub async fn serve(cfg: AgentConfig, on_start: impl FnOnce(Started)) -> Result<(), AgentError> {
    if !cfg.listen.ip().is_loopback() && !cfg.insecure_listen {
        return Err(AgentError::InsecureListen(cfg.listen));
    }
    if cfg.roots.is_empty() {
        return Err(AgentError::NoRoot);
    }
    let (tokens, new_admin_token) = Tokens::load_or_create(&cfg.tokens)?;
    let agent = {
        let (db, roots, max) = (cfg.db.clone(), cfg.roots.clone(), cfg.max_streams_per_token);
        tokio::task::spawn_blocking(move || Agent::open(db, &roots, max))
            .await
            .map_err(|e| AgentError::Setup(e.to_string()))?
            .map_err(AgentError::Setup)?
    };
    let agent = Arc::new(agent);
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
    on_start(Started {
        addr,
        new_admin_token,
    });
    let app = http::router(http::AppState {
        agent: agent.clone(),
        tokens: Arc::new(tokens),
        json: Arc::default(),
    });
    // Progress frames are small and written one at a time: Nagle's algorithm would hold one
    // back until the client acknowledged the one before.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Jobs end cleanly (cancelled, nothing half-written) rather than being cut off.
    let _joined = tokio::task::spawn_blocking(move || agent.shutdown()).await;
    served.map_err(|source| AgentError::Bind { addr, source })
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
