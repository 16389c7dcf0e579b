//! Typed errors. Every failure a user can meet has a stable code from one closed enum; the
//! code and a human sentence are what crosses any boundary (`{code, message}`).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    SourceMissing,
    SourceNotDirectory,
    SourceUnreadable,
    SourceChanged,
    DestInsideSource,
    DestMissing,
    DestUnwritable,
    DestExists,
    DiskFull,
    InvalidUrl,
    NetworkUnreachable,
    UploadRejected,
    InvalidInput,
    SourcesFailed,
    Cancelled,
    Io,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SourceMissing => "source_missing",
            Self::SourceNotDirectory => "source_not_directory",
            Self::SourceUnreadable => "source_unreadable",
            Self::SourceChanged => "source_changed",
            Self::DestInsideSource => "dest_inside_source",
            Self::DestMissing => "dest_missing",
            Self::DestUnwritable => "dest_unwritable",
            Self::DestExists => "dest_exists",
            Self::DiskFull => "disk_full",
            Self::InvalidUrl => "invalid_url",
            Self::NetworkUnreachable => "network_unreachable",
            Self::UploadRejected => "upload_rejected",
            Self::InvalidInput => "invalid_input",
            Self::SourcesFailed => "sources_failed",
            Self::Cancelled => "cancelled",
            Self::Io => "io",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The serialisable form of an error: what the UI, the CLI's JSON and the history see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorInfo {
    // A plain string to TypeScript: the same field carries the store's and the app's codes
    // once it crosses into the desktop app.
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub code: ErrorCode,
    pub message: String,
}

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
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::SourcesFailed { code, .. } => *code,
            Self::Cancelled => ErrorCode::Cancelled,
            Self::Io { .. } => ErrorCode::Io,
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code(),
            message: self.to_string(),
        }
    }

    /// Classifies an I/O error met while writing `path` at the destination.
    pub fn writing(path: &Path, err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) if code == ENOSPC || code == EDQUOT => Self::DiskFull(path.to_owned()),
            Some(code) if code == EROFS || code == EACCES || code == EPERM => {
                Self::DestUnwritable {
                    path: path.to_owned(),
                    source: err,
                }
            }
            _ => Self::Io {
                context: format!("writing {}", path.display()),
                source: err,
            },
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

// errno values are the same on every Unix we ship for; spelt out to keep libc out of the core.
const EPERM: i32 = 1;
const EACCES: i32 = 13;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;
#[cfg(target_os = "linux")]
const EDQUOT: i32 = 122;
#[cfg(not(target_os = "linux"))]
const EDQUOT: i32 = 69;

/// Returned by anything that noticed the job was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

impl From<Cancelled> for JobError {
    fn from(_: Cancelled) -> Self {
        JobError::Cancelled
    }
}
