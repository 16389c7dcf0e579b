//! The one progress event type (wire format of DESIGN.md) and the job model around it.

use serde::{Deserialize, Serialize};

use crate::error::ErrorInfo;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Snapshot,
    Sync,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Paused,
    Completed,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    /// A terminal event is the last one a run emits; `interrupted` is decided later, by
    /// whoever finds a run that never reached one.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

/// Steps as users know them. A snapshot goes through six, a sync through four; the last step
/// of either is named after how the run ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Waiting,
    Browsing,
    Manifest,
    Compressing,
    Uploading,
    Scanning,
    Copying,
    Completed,
    Failed,
    Cancelled,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "Waiting",
            Self::Browsing => "Browsing",
            Self::Manifest => "Building manifest",
            Self::Compressing => "Compressing",
            Self::Uploading => "Uploading",
            Self::Scanning => "Scanning",
            Self::Copying => "Copying",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
        }
    }

    pub fn for_terminal(state: JobState) -> Step {
        match state {
            JobState::Failed => Step::Failed,
            JobState::Cancelled => Step::Cancelled,
            _ => Step::Completed,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    Running,
    Done,
    Failed,
}

/// One row of a multi-source job (a sync's source).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemProgress {
    pub name: String,
    pub processed: u64,
    pub total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub state: ItemState,
    pub error: Option<ErrorInfo>,
}

impl ItemProgress {
    pub fn pending(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            processed: 0,
            total: None,
            bytes_done: 0,
            bytes_total: None,
            state: ItemState::Pending,
            error: None,
        }
    }
}

/// Something the run could not include but that did not stop it (an unreadable file, a FIFO).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    pub path: String,
    pub message: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressEvent {
    pub job_id: String,
    /// Starts at 1 and grows by exactly 1 per event of a job.
    pub seq: u64,
    pub kind: JobKind,
    pub state: JobState,
    pub step: Step,
    pub step_number: u32,
    pub total_steps: u32,
    /// Whole-job percent; `None` while the total is unknown, never a made-up 0.
    pub percent: Option<f64>,
    pub processed: u64,
    pub total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub rate_per_sec: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub message: String,
    pub items: Vec<ItemProgress>,
    pub warnings: Vec<Warning>,
    pub error: Option<ErrorInfo>,
    pub result_url: Option<String>,
    /// RFC 3339, UTC, milliseconds.
    pub timestamp: String,
}

impl ProgressEvent {
    /// A job's event before anything is known of it: queued at its first step, nothing done,
    /// totals unknown, stamped now. What stand-ins for missing events are built from.
    pub fn blank(job_id: impl Into<String>, kind: JobKind, total_steps: u32) -> ProgressEvent {
        ProgressEvent {
            job_id: job_id.into(),
            seq: 0,
            kind,
            state: JobState::Queued,
            step: Step::Waiting,
            step_number: 1,
            total_steps,
            percent: None,
            processed: 0,
            total: None,
            bytes_done: 0,
            bytes_total: None,
            rate_per_sec: None,
            eta_seconds: None,
            message: String::new(),
            items: Vec::new(),
            warnings: Vec::new(),
            error: None,
            result_url: None,
            timestamp: now_timestamp(),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal()
    }
}

/// The `timestamp` of an event made now.
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
