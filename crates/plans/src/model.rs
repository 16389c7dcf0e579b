//! The plan types that cross a boundary (JSON, camelCase), and the one error type.

use serde::{Deserialize, Serialize};
use tidemark_core::{ErrorCode, ErrorInfo, JobKind, JobSpec, JobState};
use tidemark_store::{PlanRow, StoreError};

/// A saved job with its schedule, retention and staleness limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Plan {
    pub id: String,
    pub name: String,
    pub kind: JobKind,
    pub spec: JobSpec,
    /// As written (`daily 02:00`, a cron expression…); `null`: runs only when asked.
    pub schedule: Option<String>,
    /// Snapshots to a folder: how many archives of this plan to keep there.
    pub keep: Option<u32>,
    /// Seconds without a successful run after which the plan is stale.
    pub stale_after: Option<u64>,
    /// The plan does not run until then (RFC 3339).
    pub paused_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<PlanRow> for Plan {
    fn from(r: PlanRow) -> Self {
        Plan {
            id: r.id,
            name: r.name,
            kind: r.kind,
            spec: r.spec,
            schedule: r.schedule,
            keep: r.keep,
            stale_after: r.stale_after_secs,
            paused_until: r.paused_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// What a plan is made of, for `add` and `edit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanInput {
    /// Unique without regard to case; 1 to 100 characters.
    pub name: String,
    /// A snapshot or a sync (a restore or a verify is asked for once, never saved).
    #[cfg_attr(feature = "openapi", schema(value_type = PlanSpec))]
    pub spec: JobSpec,
    #[serde(default)]
    pub schedule: Option<String>,
    /// Snapshots only: archives to keep at a folder destination (1 to 100000).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100_000))]
    pub keep: Option<u32>,
    /// Seconds without a successful run after which the plan is stale (at most a hundred
    /// years).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3_155_760_000_u64))]
    pub stale_after: Option<u64>,
}

/// What a plan runs, as the API document says it: the kinds of `JobSpec` a plan takes.
/// Only a schema: `PlanInput::spec` is a `JobSpec`, and `ops::validate` refuses the others.
#[cfg(feature = "openapi")]
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PlanSpec {
    Snapshot(tidemark_core::SnapshotSpec),
    Sync(tidemark_core::SyncSpec),
}

/// A run's outcome, as a plan's row shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LastRun {
    pub job_id: String,
    pub state: JobState,
    pub finished_at: Option<String>,
    pub error: Option<ErrorInfo>,
}

/// A plan with how it is doing: what `plan list` and the Plans view show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanSummary {
    #[serde(flatten)]
    pub plan: Plan,
    /// The newest run, whatever its outcome.
    pub last_run: Option<LastRun>,
    pub last_success_at: Option<String>,
    /// When the scheduler runs it next (in the past: a missed run about to catch up);
    /// `null` without a schedule.
    pub next_run_at: Option<String>,
    /// No successful run within its stale-after limit.
    pub stale: bool,
    /// Paused, by itself or by the global pause, now.
    pub paused: bool,
}

/// One run of a plan, for its chart and its export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanRun {
    pub job_id: String,
    pub state: JobState,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_secs: Option<f64>,
    /// Bytes of the last step (a snapshot's archive, a sync's copied bytes).
    pub bytes: u64,
    /// Files of the last step.
    pub files: u64,
    /// `bytes` over the duration.
    pub bytes_per_sec: Option<f64>,
    pub result_url: Option<String>,
    pub error: Option<ErrorInfo>,
}

/// Why an operation on plans was refused or failed. Nothing is saved when it is refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error("a plan named {0:?} exists already")]
    Exists(String),
    #[error("no plan named {0:?}")]
    NotFound(String),
    #[error("plan {name:?} is already running{}", job.as_deref().map(|j| format!(" (job {j})")).unwrap_or_default())]
    Busy { name: String, job: Option<String> },
    /// A source or destination that is not usable (missing folder, bad URL, bad option).
    #[error("{}", .0.message)]
    Invalid(ErrorInfo),
    #[error("cannot start plan {name:?}: {}", error.message)]
    Launch { name: String, error: ErrorInfo },
}

impl PlanError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::Schedule(_) => ErrorCode::BadSchedule,
            Self::Exists(_) => ErrorCode::PlanExists,
            Self::NotFound(_) => ErrorCode::PlanNotFound,
            Self::Busy { .. } => ErrorCode::PlanBusy,
            Self::Invalid(e) | Self::Launch { error: e, .. } => e.code,
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo::new(self.code(), self.to_string())
    }

    pub(crate) fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid(ErrorInfo::new(code, message))
    }
}
