//! What a failed HTTP transfer (a snapshot's upload, a restore's download) tells its user: the
//! server's status and the start of its answer when it answered, otherwise the cause they can
//! act on (nothing listens, no such host, TLS, no answer in time, the connection broke), never
//! the HTTP library's own wording.

use std::error::Error as _;
use std::io;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, JobError};

/// Why a transfer failed without an answer from the server; each cause has its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetCause {
    Refused,
    NoHost,
    Tls,
    TimedOut,
    Lost,
    Other,
}

impl NetCause {
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Refused => ErrorCode::ConnectionRefused,
            Self::NoHost => ErrorCode::HostNotFound,
            Self::Tls => ErrorCode::TlsFailed,
            Self::TimedOut => ErrorCode::TimedOut,
            Self::Lost => ErrorCode::ConnectionLost,
            Self::Other => ErrorCode::NetworkUnreachable,
        }
    }

    /// The sentence a user reads, naming the server and, where it helps, the detail.
    pub fn sentence(self, url: &str, detail: &str) -> String {
        let host = Url::parse(url)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port_or_known_default() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| url.to_owned());
        match self {
            Self::Refused => format!(
                "{host} refused the connection: nothing listens there (is the server running, \
                 and is the port right?)"
            ),
            Self::NoHost => format!(
                "the host of {url} was not found: its name does not resolve (check the URL \
                 and the network's DNS)"
            ),
            Self::Tls => format!("the secure connection to {host} failed: {detail}"),
            Self::TimedOut => format!("{host} did not answer in time"),
            Self::Lost => {
                format!("the connection to {host} broke before the transfer finished ({detail})")
            }
            Self::Other => format!("cannot reach {host}: {detail}"),
        }
    }
}

/// The cause of `err` and a short detail in plain words.
pub fn classify(err: &reqwest::Error) -> (NetCause, String) {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut cur = err.source();
    while let Some(c) = cur {
        chain.push(c);
        cur = c.source();
    }
    let texts: Vec<String> = chain.iter().map(|c| c.to_string().to_lowercase()).collect();
    let any = |needle: &str| texts.iter().any(|t| t.contains(needle));
    // The innermost cause is the most specific sentence (an OS error, a TLS alert).
    let inner = chain
        .last()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "no detail".into());
    if any("dns error") || any("failed to lookup address") || any("name or service not known") {
        return (NetCause::NoHost, inner);
    }
    let io_kind = chain
        .iter()
        .find_map(|c| c.downcast_ref::<io::Error>().map(io::Error::kind));
    let https = err.url().is_some_and(|u| u.scheme() == "https");
    // rustls reports a peer that does not speak TLS (plain HTTP on the port) as a corrupt
    // message, through an `InvalidData` I/O error.
    if any("certificate")
        || any("tls")
        || any("handshake")
        || any("alert")
        || (https && (any("corrupt message") || io_kind == Some(io::ErrorKind::InvalidData)))
    {
        return (NetCause::Tls, inner);
    }
    match io_kind {
        Some(io::ErrorKind::ConnectionRefused) => return (NetCause::Refused, inner),
        Some(io::ErrorKind::TimedOut) => return (NetCause::TimedOut, inner),
        Some(
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected,
        ) => return (NetCause::Lost, "the server closed the connection".into()),
        _ => {}
    }
    if err.is_timeout() {
        return (NetCause::TimedOut, inner);
    }
    if any("connection closed")
        || any("receiver is gone")
        || any("incomplete")
        || any("end of file")
        || err.is_body()
    {
        return (NetCause::Lost, "the server closed the connection".into());
    }
    (NetCause::Other, inner)
}

/// The job's error for a transfer to or from `url` that failed without an answer.
pub fn network_error(url: &Url, err: &reqwest::Error) -> JobError {
    let (cause, detail) = classify(err);
    JobError::Network {
        url: url.to_string(),
        cause,
        detail,
    }
}

/// The job's error for an `io::Error` met while reading a download's body: reqwest's own
/// error is inside when it has one.
pub fn body_error(url: &Url, err: io::Error) -> JobError {
    if let Some(inner) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<reqwest::Error>())
    {
        return network_error(url, inner);
    }
    let cause = match err.kind() {
        io::ErrorKind::TimedOut => NetCause::TimedOut,
        io::ErrorKind::ConnectionRefused => NetCause::Refused,
        _ => NetCause::Lost,
    };
    JobError::Network {
        url: url.to_string(),
        cause,
        detail: err.to_string(),
    }
}

/// First line-ish of a server's error body, short enough for a notification.
pub fn summarize(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = one_line.chars().take(200).collect();
    if one_line.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// How much of an error answer's body is read: its start says what happened.
pub const ERROR_BODY_LIMIT: usize = 4096;
