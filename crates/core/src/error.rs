//! Typed errors. Every failure a user can meet has a stable code from one closed enum; the
//! code and a human sentence are what crosses any boundary (`{code, message}`).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Declares [`ErrorCode`] with each variant's wire string written once: serde, ts-rs,
/// [`ErrorCode::as_str`] and [`ErrorCode::ALL`] (and so the OpenAPI schema) all come from the
/// same line.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal,)*) => {
        /// Every code any part of Tidemark reports, next to a human sentence, wherever an
        /// error crosses a boundary: the CLI's `error[code]` and JSON, the history, the
        /// agent's `{code, message}` answers, the desktop app's IPC. One closed set, so the
        /// UI describes each one (a code it does not describe fails its type check); the
        /// strings are the wire format and never change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[serde(rename = $text)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

error_codes! {
    // A job (snapshot or sync), from the engines.
    SourceMissing = "source_missing",
    SourceNotDirectory = "source_not_directory",
    SourceUnreadable = "source_unreadable",
    SourceChanged = "source_changed",
    DestInsideSource = "dest_inside_source",
    DestMissing = "dest_missing",
    DestUnwritable = "dest_unwritable",
    DestExists = "dest_exists",
    DiskFull = "disk_full",
    InvalidUrl = "invalid_url",
    NetworkUnreachable = "network_unreachable",
    UploadRejected = "upload_rejected",
    /// The server answered a download (a restore's or a verify's archive) with an error status.
    DownloadRejected = "download_rejected",
    /// Nothing listens at the address (the port is closed, the server is down).
    ConnectionRefused = "connection_refused",
    /// The host's name does not resolve.
    HostNotFound = "host_not_found",
    /// The TLS handshake failed (an untrusted or expired certificate, another protocol).
    TlsFailed = "tls_failed",
    /// The server did not answer in time.
    TimedOut = "timed_out",
    /// The connection broke during a transfer (the server closed it, the network dropped).
    ConnectionLost = "connection_lost",
    // Restoring and verifying an archive.
    /// An archive entry that would write outside the target (`..`, an absolute path, through
    /// a link) or that is a device file.
    UnsafeArchiveEntry = "unsafe_archive_entry",
    /// A file's BLAKE3 differs from its manifest's.
    ChecksumMismatch = "checksum_mismatch",
    /// The archive does not hold what its manifest lists (a file missing, one extra).
    ArchiveMismatch = "archive_mismatch",
    /// The archive cannot be read as tar + zstd (damaged, cut short, another format).
    ArchiveCorrupt = "archive_corrupt",
    /// The manifest cannot be read, or is not a Tidemark manifest.
    ManifestInvalid = "manifest_invalid",
    /// Also the desktop app's refusal of a command's arguments.
    InvalidInput = "invalid_input",
    SourcesFailed = "sources_failed",
    Cancelled = "cancelled",
    Io = "io",
    /// A bug: a panic, or a state that should not occur.
    Internal = "internal",
    // The history database (the store).
    DbNotADatabase = "db_not_a_database",
    DbReadOnly = "db_read_only",
    DbLocked = "db_locked",
    DbTooNew = "db_too_new",
    DbIo = "db_io",
    // Starting or resuming a recorded job (the store, as the CLI reports it).
    JobNotFound = "job_not_found",
    JobNotResumable = "job_not_resumable",
    JobStillRunning = "job_still_running",
    // The desktop app's commands.
    /// No such job or agent.
    NotFound = "not_found",
    NotResumable = "not_resumable",
    StillRunning = "still_running",
    AgentUnreachable = "agent_unreachable",
    AgentAuthFailed = "agent_auth_failed",
    // The agent's HTTP API.
    Unauthorized = "unauthorized",
    ForbiddenPath = "forbidden_path",
    BadRequest = "bad_request",
    PayloadTooLarge = "payload_too_large",
    TooManyStreams = "too_many_streams",
    Conflict = "conflict",
    /// A read-only token asked to start, pause, resume or cancel a job.
    ReadOnly = "read_only",
    // Starting the agent.
    InsecureListen = "insecure_listen",
    NoRoot = "no_root",
    Tokens = "tokens",
    /// The agent's TLS certificate or key cannot be read, made or used, or a client does not
    /// trust the certificate it was shown.
    Certificate = "certificate",
    Setup = "setup",
    Bind = "bind",
    // Watching an agent's job from the CLI.
    AuthFailed = "auth_failed",
    NoContent = "no_content",
    // Pairing with an agent (the CLI and the desktop app).
    /// A `tidemark://` pairing link that cannot be read.
    BadPairingLink = "bad_pairing_link",
    /// The agent presented another certificate than the one it was paired with.
    FingerprintMismatch = "fingerprint_mismatch",
    // Plans (saved jobs with a schedule).
    /// A schedule that is neither a 5-field cron expression nor one of the plain forms.
    BadSchedule = "bad_schedule",
    /// Another plan has that name.
    PlanExists = "plan_exists",
    PlanNotFound = "plan_not_found",
    /// The plan has a run queued, running or paused, so another does not start.
    PlanBusy = "plan_busy",
}

// By hand rather than derived: utoipa's derive does not see the `rename` of each variant
// through the macro above, and would document the Rust names instead of the wire strings.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "What went wrong, one of a closed set of codes (the strings never change); \
                 `message` says it to a person.",
            ))
            .enum_values(Some(Self::ALL.iter().map(|c| c.as_str())))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The serialisable form of an error, `{code, message}`: what the UI, the CLI's JSON, the
/// history and the agent's answers carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorInfo {}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("source folder {} does not exist", .0.display())]
    SourceMissing(PathBuf),
    #[error("source {} is not a folder", .0.display())]
    SourceNotDirectory(PathBuf),
    #[error("cannot read source {}: {source}", path.display())]
    SourceUnreadable { path: PathBuf, source: io::Error },
    #[error("{} changed while it was being read ({what}); run the job again once it is stable", path.display())]
    SourceChanged { path: PathBuf, what: String },
    #[error("destination {} is inside the source {}; pick a folder outside it", dest.display(), src.display())]
    DestInsideSource { src: PathBuf, dest: PathBuf },
    #[error("destination folder {} does not exist", .0.display())]
    DestMissing(PathBuf),
    #[error("cannot write to destination {}: {source}", path.display())]
    DestUnwritable { path: PathBuf, source: io::Error },
    #[error("{} already exists at the destination; choose another --name", .0.display())]
    DestExists(PathBuf),
    #[error("no space left on the device while writing {}", .0.display())]
    DiskFull(PathBuf),
    #[error("invalid destination URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot reach {url}: {reason}")]
    NetworkUnreachable { url: String, reason: String },
    #[error("{url} refused the upload with HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    UploadRejected {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url} refused the download with HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    DownloadRejected {
        url: String,
        status: u16,
        body: String,
    },
    /// A transfer that failed for a cause a user can act on.
    #[error("{}", .cause.sentence(.url, .detail))]
    Network {
        url: String,
        cause: NetCause,
        detail: String,
    },
    #[error("unsafe archive entry {entry:?}: {why}; nothing was written outside the target")]
    UnsafeEntry { entry: String, why: String },
    #[error(
        "{path}: its BLAKE3 is {actual}, the manifest says {expected}: the archive is damaged or not the one the manifest describes"
    )]
    ChecksumMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("the archive does not match its manifest: {0}")]
    ArchiveMismatch(String),
    #[error("cannot read the archive {archive}{}: {reason}", .entry.as_ref().map(|e| format!(" at {e}")).unwrap_or_default())]
    ArchiveCorrupt {
        archive: String,
        entry: Option<String>,
        reason: String,
    },
    #[error("cannot use the manifest {manifest}: {reason}")]
    ManifestInvalid { manifest: String, reason: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("{failed} of {total} sources failed: {details}")]
    SourcesFailed {
        failed: usize,
        total: usize,
        details: String,
        code: ErrorCode,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// A bug in the engine: it panicked.
    #[error(transparent)]
    Panicked(#[from] crate::panic::Panicked),
}

impl JobError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::SourceMissing(_) => ErrorCode::SourceMissing,
            Self::SourceNotDirectory(_) => ErrorCode::SourceNotDirectory,
            Self::SourceUnreadable { .. } => ErrorCode::SourceUnreadable,
            Self::SourceChanged { .. } => ErrorCode::SourceChanged,
            Self::DestInsideSource { .. } => ErrorCode::DestInsideSource,
            Self::DestMissing(_) => ErrorCode::DestMissing,
            Self::DestUnwritable { .. } => ErrorCode::DestUnwritable,
            Self::DestExists(_) => ErrorCode::DestExists,
            Self::DiskFull(_) => ErrorCode::DiskFull,
            Self::InvalidUrl { .. } => ErrorCode::InvalidUrl,
            Self::NetworkUnreachable { .. } => ErrorCode::NetworkUnreachable,
            Self::UploadRejected { .. } => ErrorCode::UploadRejected,
            Self::DownloadRejected { .. } => ErrorCode::DownloadRejected,
            Self::Network { cause, .. } => cause.code(),
            Self::UnsafeEntry { .. } => ErrorCode::UnsafeArchiveEntry,
            Self::ChecksumMismatch { .. } => ErrorCode::ChecksumMismatch,
            Self::ArchiveMismatch(_) => ErrorCode::ArchiveMismatch,
            Self::ArchiveCorrupt { .. } => ErrorCode::ArchiveCorrupt,
            Self::ManifestInvalid { .. } => ErrorCode::ManifestInvalid,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::SourcesFailed { code, .. } => *code,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Io { .. } => ErrorCode::Io,
            Self::Panicked(_) => ErrorCode::Internal,
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo::new(self.code(), self.to_string())
    }

    /// Classifies an I/O error met while writing `path` at the destination.
    pub fn writing(path: &Path, err: io::Error) -> Self {
        if crate::platform::is_disk_full(&err) {
            Self::DiskFull(path.to_owned())
        } else if crate::platform::is_unwritable(&err) {
            Self::DestUnwritable {
                path: path.to_owned(),
                source: err,
            }
        } else {
            Self::Io {
                context: format!("writing {}", path.display()),
                source: err,
            }
        }
    }

    /// Classifies an I/O error met while reading `path` in the source.
    pub fn reading(path: &Path, err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => Self::SourceChanged {
                path: path.to_owned(),
                what: "it vanished".into(),
            },
            _ => Self::SourceUnreadable {
                path: path.to_owned(),
                source: err,
            },
        }
    }
}

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
        let host = reqwest::Url::parse(url)
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

/// Returned by anything that noticed the job was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

impl From<Cancelled> for JobError {
    fn from(_: Cancelled) -> Self {
        JobError::Cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings are the wire format: serde, `as_str` and `ALL` must agree, one per code.
    #[test]
    fn every_code_has_one_string_that_round_trips() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("json");
            assert_eq!(json, serde_json::json!(code.as_str()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).ok(), Some(code));
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
        // Strings the CLI, the agent and the UI already match on.
        for known in [
            "disk_full",
            "db_locked",
            "not_found",
            "unauthorized",
            "job_not_found",
        ] {
            assert!(seen.contains(known), "{known}");
        }
    }

    #[test]
    fn an_error_info_serialises_as_code_and_message() {
        let info = JobError::DiskFull(PathBuf::from("/mnt/usb/a")).info();
        assert_eq!(
            serde_json::to_value(&info).expect("json"),
            serde_json::json!({"code": "disk_full", "message": info.message})
        );
        assert!(info.to_string().starts_with("disk_full: "), "{info}");
    }
}
