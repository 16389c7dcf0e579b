//! Tidemark's headless agent: runs the core's jobs with their history, and serves them over
//! HTTP (REST + Server-Sent Events) to the desktop app and other clients.

pub mod auth;
pub mod http;
mod logs;
pub mod service;
pub mod sse;
pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tidemark_core::ErrorCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use auth::{Identity, TokenError, Tokens, add_named};
pub use service::{Agent, ApiError, MAX_STREAMS_PER_TOKEN, OpenError};

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
            Self::Tokens(_) => ErrorCode::Tokens,
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
        tokio::task::spawn_blocking(move || Agent::open(db, &roots, max)).await??
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
    let state = stream::AppState {
        agent: agent.clone(),
        tokens: Arc::new(tokens),
        frames: Arc::default(),
    };
    let app = http::router(state.clone());
    let served = axum::serve(route_connections(listener, addr, state), app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Jobs end cleanly (cancelled, nothing half-written) rather than being cut off.
    let _joined = tokio::task::spawn_blocking(move || agent.shutdown()).await;
    served.map_err(|source| AgentError::Bind { addr, source })
}

/// The connections axum serves: every accepted one except those that open with a progress
/// stream request, which [`sse::serve`] takes (see there why).
#[derive(Debug)]
struct Routed {
    rx: mpsc::Receiver<(TcpStream, SocketAddr)>,
    addr: SocketAddr,
}

impl axum::serve::Listener for Routed {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accepting task is gone (the runtime is shutting down): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// How long a new connection has to show enough of its request line to be routed.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

fn route_connections(
    mut listener: TcpListener,
    addr: SocketAddr,
    state: stream::AppState,
) -> Routed {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // axum's own accept: it waits out errors such as too many open files. Once axum
            // stops (shutting down) and drops its end, the listening socket is closed too.
            let (tcp, peer) = tokio::select! {
                conn = axum::serve::Listener::accept(&mut listener) => conn,
                () = tx.closed() => return,
            };
            // Progress frames are small and written one at a time: Nagle's algorithm would
            // hold one back until the client acknowledged the one before.
            let _ = tcp.set_nodelay(true);
            let (tx, state) = (tx.clone(), state.clone());
            tokio::spawn(async move {
                if opens_with_stream(&tcp).await {
                    sse::serve(tcp, state).await;
                } else {
                    let _ = tx.send((tcp, peer)).await;
                }
            });
        }
    });
    Routed { rx, addr }
}

/// Looks at the start of a connection, without consuming it, for a stream request.
async fn opens_with_stream(tcp: &TcpStream) -> bool {
    let deadline = tokio::time::Instant::now() + ROUTE_TIMEOUT;
    let mut start = [0u8; sse::PEEK];
    loop {
        let n = match tokio::time::timeout_at(deadline, tcp.peek(&mut start)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        if let Some(yes) = sse::is_stream_request(&start[..n]) {
            return yes;
        }
        // Part of a request line so far; `peek` returns at once while any byte is waiting,
        // so wait a little before looking again.
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
