//! The types that cross the IPC boundary (the contract with ui/). TypeScript gets them from
//! ts-rs through `make types`; serde's camelCase is what both sides see.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tidemark_core::{Counters, JobKind, JobState, ProgressEvent, Step};

pub use tidemark_core::{ErrorCode, ErrorInfo};

/// What every failed command rejects with: the core's `{code, message}`, under the name the
/// commands have always used.
pub type AppError = ErrorInfo;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StartSnapshot {
    pub source: String,
    /// A folder path or an http(s) URL.
    pub destination: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StartSync {
    pub sources: Vec<String>,
    pub destination: String,
    pub delete: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct JobSummary {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    /// "Snapshot of photos", "Sync of 3 sources".
    pub title: String,
    /// The source folder, or the sync's sources joined by ", ".
    pub source: String,
    pub destination: String,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub percent: Option<f64>,
    #[serde(flatten)]
    pub counters: Counters,
    pub result_url: Option<String>,
    pub error: Option<ErrorInfo>,
    /// Resume (an interrupted run) is offered here; never for a remote run.
    pub resumable: bool,
    /// Set for a run of an agent, recorded while it was watched; `null` for a local run.
    pub remote: Option<RemoteRun>,
}

/// Where a remote run happens: the agent, and the job's id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RemoteRun {
    pub agent_id: String,
    /// The agent's name when the run was recorded.
    pub agent_name: String,
    /// The job's id on the agent (what `watch_remote_job` takes).
    pub job_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct HistoryFilter {
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StepTiming {
    pub step: Step,
    pub step_number: u32,
    pub label: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct JobDetail {
    pub job: JobSummary,
    pub steps: Vec<StepTiming>,
    pub last: Option<ProgressEvent>,
}

/// How a subscription reaches its job. Local jobs are always `live`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ConnectionState {
    Connecting,
    Live,
    Reconnecting {
        attempt: u32,
        of: u32,
        delay_ms: u64,
    },
    Polling,
    Offline {
        reason: String,
    },
    AuthFailed {
        message: String,
    },
}

/// What a subscription's channel carries. The first message is the job's current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum JobUpdate {
    /// Shared with the log and every other subscriber: an event is never copied to be sent.
    Event {
        event: Arc<ProgressEvent>,
    },
    Connection {
        state: ConnectionState,
    },
    /// A remote job's events could not be written to the history (progress still shows);
    /// sent once per run of failures, and the recording keeps retrying.
    NotRecorded {
        error: AppError,
    },
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    pub id: String,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AddAgent {
    pub name: String,
    pub url: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RemoteJobInfo {
    pub agent_id: String,
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub percent: Option<f64>,
    /// "Snapshot on NAS".
    pub title: String,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<ErrorInfo>,
}

/// What a job on an agent is asked to do, with the agent's own paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RemoteJobRequest {
    Snapshot(StartSnapshot),
    Sync(StartSync),
}

/// Whether the app reaches an agent, as its background check last found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Reachability {
    /// Not checked yet (the app just started, or the agent was just added).
    Checking,
    /// Answering since `since` (RFC 3339).
    Online { since: String },
    /// Not answering since `since`: why, in words, and as a code.
    Unreachable {
        reason: String,
        code: ErrorCode,
        since: String,
    },
}

/// One agent as the fleet's background checks see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct FleetAgent {
    pub id: String,
    pub name: String,
    /// Where it is (its `https://` address, never the pairing link).
    pub url: String,
    pub reachability: Reachability,
    /// Known once it answered.
    pub version: Option<String>,
    /// The folders jobs there may use (absolute, the agent's paths).
    pub roots: Vec<String>,
    /// The app's token there may follow jobs but not start or change them.
    pub read_only: bool,
    /// Its jobs that have not ended (queued, running, paused, interrupted), newest first, as
    /// last seen (kept while it is unreachable).
    pub running: Vec<RemoteJobInfo>,
    /// The last few that ended, newest first.
    pub recent: Vec<RemoteJobInfo>,
}

/// Every agent the app knows, as `fleet` answers and `fleet-changed` carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Fleet {
    /// Grows with every change: a window keeps the highest it has seen, so an older answer
    /// arriving late never replaces a newer one.
    pub revision: u64,
    pub agents: Vec<FleetAgent>,
    /// Where the agents' tokens are kept.
    pub tokens: TokenStorage,
}

/// Where the agents' tokens are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum TokenStorage {
    /// In the system's keychain (Secret Service, macOS Keychain, Windows Credential Manager).
    #[default]
    Keychain,
    /// In `path`, a file only this user may read, because no keychain answered (`reason`).
    File { path: String, reason: String },
}

/// "HH:MM" to "HH:MM", local time; an end before the start spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub notify_completed: bool,
    pub notify_failed: bool,
    pub notify_agent_unreachable: bool,
    pub quiet_hours: Option<QuietHours>,
    pub close_to_tray: bool,
    /// Start (hidden, in the tray) when the user logs in, so plans run on time. Off until
    /// the user turns it on; the shell applies it to the system's login items.
    pub launch_at_login: bool,
    /// At most this many of the app's jobs run at once; the others wait, queued.
    pub max_jobs: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            notify_completed: true,
            notify_failed: true,
            notify_agent_unreachable: true,
            quiet_hours: None,
            close_to_tray: true,
            launch_at_login: false,
            max_jobs: tidemark_core::queue::DEFAULT_LIMIT as u32,
        }
    }
}

/// What `jobs-changed` carries: only the jobs whose summary changed, as they are now. A
/// receiver keeps its list of active jobs by merging these by id, after one `active_jobs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct JobsChanged {
    /// Jobs that started or moved on (queued, running, paused), as they are now.
    pub active: Vec<JobSummary>,
    /// Jobs that ended, as they ended: no longer active, and never active again under
    /// this id (a retry is a new job; only an interrupted run resumes, and it never ended).
    pub ended: Vec<JobSummary>,
}

/// The app-wide events the shell emits to every window (name and payload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "event", content = "payload")]
pub enum AppEvent {
    /// A job started, moved on or ended.
    #[serde(rename = "jobs-changed")]
    JobsChanged(JobsChanged),
    /// An agent was added or removed, or its check found something new (reachability,
    /// jobs, their percent): the whole fleet, as `fleet` answers.
    #[serde(rename = "fleet-changed")]
    FleetChanged(Fleet),
    /// "Pause everything" began, moved or ended.
    #[serde(rename = "pause-changed")]
    PauseChanged(crate::pause::PauseState),
    /// A plan was added, changed or removed, started a run or saw one end: every plan.
    #[serde(rename = "plans-changed")]
    PlansChanged(Vec<tidemark_plans::PlanSummary>),
}

impl AppEvent {
    pub const JOBS_CHANGED: &'static str = "jobs-changed";
    pub const FLEET_CHANGED: &'static str = "fleet-changed";
    pub const PAUSE_CHANGED: &'static str = "pause-changed";
    pub const PLANS_CHANGED: &'static str = "plans-changed";
}
