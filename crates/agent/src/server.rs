//! Connections: accepted, bounded per address, taken through TLS, and served by hyper with
//! the axum router, the progress streams included.
//!
//! `axum::serve` is not used: it has no TLS, no header-read timeout and no bound on
//! connections, and a client that sends half a request line and stops would hold its
//! connection for ever. Here a TLS handshake must end within [`Limits::handshake`], a request
//! head must arrive within [`Limits::head`], and one address holds at most
//! [`Limits::per_address`] connections; anything past that is closed at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time a client has to end its TLS handshake.
    pub handshake: Duration,
    /// Time a client has to send a request's head.
    pub head: Duration,
    /// Connections one address may hold at once.
    pub per_address: usize,
}

/// Connections one address may hold, unless configured otherwise: room for many windows
/// and watchers behind one NAT, not for a flood.
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            head: Duration::from_secs(10),
            per_address: MAX_CONNECTIONS_PER_ADDRESS,
        }
    }
}

/// The connections each address holds now.
#[derive(Debug, Default, Clone)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted against its address, given back when dropped.
#[derive(Debug)]
struct Slot {
    ip: IpAddr,
    counts: PerAddress,
}

impl PerAddress {
    fn take(&self, ip: IpAddr, most: usize) -> Option<Slot> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= most {
            return None;
        }
        *n += 1;
        Some(Slot {
            ip,
            counts: self.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` until `stop` resolves; then stops accepting and returns the
/// handle that ends the open connections.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let per_address = PerAddress::default();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => return graceful,
        };
        let Some(slot) = per_address.take(peer.ip(), limits.per_address) else {
            tracing::debug!(%peer, "too many connections from this address; closed");
            continue;
        };
        // Progress frames are small and written one at a time: Nagle's algorithm would
        // hold one back until the client acknowledged the one before.
        let _ = tcp.set_nodelay(true);
        let (tls, app, watcher) = (tls.clone(), app.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(tcp, app, limits, watcher).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(limits.handshake, async {
                        if speaks_plain_http(&tcp).await {
                            refuse_plain_http(tcp).await;
                            return None;
                        }
                        acceptor
                            .accept(tcp)
                            .await
                            .map_err(|e| tracing::debug!(%peer, error = %e, "TLS handshake failed"))
                            .ok()
                    });
                    match handshake.await {
                        Ok(Some(stream)) => connection(stream, app, limits, watcher).await,
                        Ok(None) => {}
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Whether a client opened with plain HTTP (a letter) rather than a TLS handshake (0x16).
async fn speaks_plain_http(tcp: &tokio::net::TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(tcp.peek(&mut first).await, Ok(1) if first[0].is_ascii_uppercase())
}

/// Tells a plain-HTTP client, in its own terms, that this port speaks HTTPS; without it
/// the client would only see the connection closed.
async fn refuse_plain_http(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The request's head is read first: closing with it unread would reset the connection
    // and lose the answer.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = serde_json::json!({
        "code": tidemark_core::ErrorCode::BadRequest,
        "message": "this agent speaks HTTPS only: use an https:// address or a pairing link",
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// The address a client is told to use.
pub(crate) fn url(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

async fn connection<I>(io: I, app: Router, limits: Limits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.head)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_slots_back() {
        let counts = PerAddress::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let a = counts.take(ip, 2).expect("first");
        let _b = counts.take(ip, 2).expect("second");
        assert!(counts.take(ip, 2).is_none(), "a third is refused");
        assert!(
            counts.take([10, 0, 0, 2].into(), 2).is_some(),
            "another address is not"
        );
        drop(a);
        assert!(counts.take(ip, 2).is_some(), "a closed one frees its slot");
    }
}
