//! What a failed HTTP transfer (a snapshot's upload, a restore's download) tells its user: the
//! server's status and the start of its answer when it answered, otherwise the cause they can
//! act on (nothing listens, no such host, TLS, no answer in time, the connection broke), never
//! the HTTP library's own wording.

use std::error::Error as _;
use std::io;

use reqwest::Url;

use crate::error::{JobError, NetCause};

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
