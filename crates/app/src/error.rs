//! What can go wrong in a command, and how it reaches the UI: `{code, message}`.

use tidemark_core::JobError;
use tidemark_store::{RunError, StoreError};

use crate::types::{AppError, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotResumable(String),
    #[error("cannot reach the agent at {url}: {reason}")]
    AgentUnreachable { url: String, reason: String },
    #[error("the agent at {url} refused the token: {reason}")]
    AgentAuthFailed { url: String, reason: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Job(e) => job_code(e.code()),
            Self::Store(e) => store_code(e.code()),
            Self::Run(RunError::Store(e)) => store_code(e.code()),
            Self::Run(RunError::NotFound(_)) | Self::NotFound(_) => ErrorCode::NotFound,
            Self::Run(RunError::NotResumable { .. }) | Self::NotResumable(_) => {
                ErrorCode::NotResumable
            }
            Self::Run(RunError::StillRunning(_)) => ErrorCode::StillRunning,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::AgentUnreachable { .. } => ErrorCode::AgentUnreachable,
            Self::AgentAuthFailed { .. } => ErrorCode::AgentAuthFailed,
            Self::Io { .. } => ErrorCode::Io,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for AppError {}

/// The core's codes are a subset of the app's, under the same names.
pub fn job_code(code: tidemark_core::ErrorCode) -> ErrorCode {
    use tidemark_core::ErrorCode as C;
    match code {
        C::SourceMissing => ErrorCode::SourceMissing,
        C::SourceNotDirectory => ErrorCode::SourceNotDirectory,
        C::SourceUnreadable => ErrorCode::SourceUnreadable,
        C::SourceChanged => ErrorCode::SourceChanged,
        C::DestInsideSource => ErrorCode::DestInsideSource,
        C::DestMissing => ErrorCode::DestMissing,
        C::DestUnwritable => ErrorCode::DestUnwritable,
        C::DestExists => ErrorCode::DestExists,
        C::DiskFull => ErrorCode::DiskFull,
        C::InvalidUrl => ErrorCode::InvalidUrl,
        C::NetworkUnreachable => ErrorCode::NetworkUnreachable,
        C::UploadRejected => ErrorCode::UploadRejected,
        C::InvalidInput => ErrorCode::InvalidInput,
        C::SourcesFailed => ErrorCode::SourcesFailed,
        C::Cancelled => ErrorCode::Cancelled,
        C::Io => ErrorCode::Io,
        C::Internal => ErrorCode::Internal,
    }
}

/// The store names its codes as strings; an unknown one (a newer store) is still a db error.
pub fn store_code(code: &str) -> ErrorCode {
    match code {
        "db_not_a_database" => ErrorCode::DbNotADatabase,
        "db_read_only" => ErrorCode::DbReadOnly,
        "db_locked" => ErrorCode::DbLocked,
        "db_too_new" => ErrorCode::DbTooNew,
        _ => ErrorCode::DbIo,
    }
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
            Self::SourcesFailed => "sources_failed",
            Self::Cancelled => "cancelled",
            Self::Io => "io",
            Self::DbNotADatabase => "db_not_a_database",
            Self::DbReadOnly => "db_read_only",
            Self::DbLocked => "db_locked",
            Self::DbTooNew => "db_too_new",
            Self::DbIo => "db_io",
            Self::NotFound => "not_found",
            Self::InvalidInput => "invalid_input",
            Self::AgentUnreachable => "agent_unreachable",
            Self::AgentAuthFailed => "agent_auth_failed",
            Self::NotResumable => "not_resumable",
            Self::StillRunning => "still_running",
            Self::Internal => "internal",
        }
    }
}
