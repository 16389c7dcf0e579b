//! What can go wrong in a command, and how it reaches the UI: `{code, message}`, with a code
//! from the one `tidemark_core::ErrorCode`.

use tidemark_core::{ErrorInfo, JobError};
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
    /// The agent answered with an error of its own (a read-only token, a path outside its
    /// roots, a job that is not running): its code is kept.
    #[error("the agent at {url} refused: {}", error.message)]
    Refused { url: String, error: ErrorInfo },
    #[error("{0}")]
    BadPairingLink(String),
    /// The agent presented another certificate than the one it was paired with.
    #[error("{0}")]
    FingerprintMismatch(String),
    #[error("{0}")]
    UntrustedCertificate(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// An operation on plans was refused or failed (`tidemark_plans::PlanError`), its code
    /// kept.
    #[error("{}", .0.message)]
    Plan(ErrorInfo),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Job(e) => e.code(),
            Self::Store(e) | Self::Run(RunError::Store(e)) => e.code(),
            // The store's `job_*` codes are the CLI's; the app says it the way it says it of
            // anything else it does not know or cannot do.
            Self::Run(RunError::NotFound(_)) | Self::NotFound(_) => ErrorCode::NotFound,
            Self::Run(RunError::NotResumable { .. }) | Self::NotResumable(_) => {
                ErrorCode::NotResumable
            }
            Self::Run(RunError::StillRunning(_)) => ErrorCode::StillRunning,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::AgentUnreachable { .. } => ErrorCode::AgentUnreachable,
            Self::AgentAuthFailed { .. } => ErrorCode::AgentAuthFailed,
            Self::Refused { error, .. } => error.code,
            Self::BadPairingLink(_) => ErrorCode::BadPairingLink,
            Self::FingerprintMismatch(_) => ErrorCode::FingerprintMismatch,
            Self::UntrustedCertificate(_) => ErrorCode::Certificate,
            Self::Io { .. } => ErrorCode::Io,
            Self::Internal(_) => ErrorCode::Internal,
            Self::Plan(e) => e.code,
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
        AppError::new(e.code(), e.to_string())
    }
}
