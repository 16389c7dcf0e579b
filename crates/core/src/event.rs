//! The one progress event type (the wire format ARCHITECTURE.md describes) and the job model around it.

use serde::{Deserialize, Serialize};

use crate::error::ErrorInfo;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Snapshot,
    Sync,
    Restore,
    Verify,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Steps as users know them. A snapshot goes through six, a sync through four, a restore
/// through five, a verify through four; the last step of each is named after how the run ended.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// A restore's or a verify's first step: the archive, its manifest, the target.
    Checking,
    /// Reading the manifest beside the archive: what the archive should hold.
    Reading,
    Extracting,
    Verifying,
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
            Self::Checking => "Checking",
            Self::Reading => "Reading the manifest",
            Self::Extracting => "Extracting",
            Self::Verifying => "Verifying",
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Pending,
    Running,
    Done,
    Failed,
}

/// How far a job (or one of its sources) got: what the event, the history row and the summary
/// all carry. Embedded flattened, so the JSON keeps these keys at the level of the object around
/// it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub processed: u64,
    pub total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

/// Where an event's `etaSeconds` comes from when it is not this run's own measured speed
/// alone (the field is absent then, as in events of older versions).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtaSource {
    /// From past runs only: this run's speed is not known yet. An estimate, rounded.
    History,
    /// Past runs blended with this run's speed, which weighs more as the run goes on.
    Blend,
}

/// One row of a multi-source job (a sync's source).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemProgress {
    pub name: String,
    #[serde(flatten)]
    pub counters: Counters,
    pub state: ItemState,
    pub error: Option<ErrorInfo>,
}

impl ItemProgress {
    pub fn pending(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            counters: Counters::default(),
            state: ItemState::Pending,
            error: None,
        }
    }
}

/// Something the run could not include but that did not stop it (an unreadable file, a FIFO).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    pub path: String,
    pub message: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[serde(flatten)]
    pub counters: Counters,
    pub rate_per_sec: Option<f64>,
    pub eta_seconds: Option<f64>,
    /// Set when the ETA draws on past runs (`history`, `blend`); absent when it is this run's
    /// own estimate or there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub eta_source: Option<EtaSource>,
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
            counters: Counters::default(),
            rate_per_sec: None,
            eta_seconds: None,
            eta_source: None,
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        k.sort_unstable();
        k
    }

    fn sample() -> ProgressEvent {
        ProgressEvent {
            seq: 7,
            state: JobState::Running,
            step: Step::Copying,
            step_number: 2,
            percent: Some(41.5),
            counters: Counters {
                processed: 3,
                total: Some(10),
                bytes_done: 300,
                bytes_total: None,
            },
            items: vec![ItemProgress {
                counters: Counters {
                    processed: 1,
                    total: None,
                    bytes_done: 100,
                    bytes_total: Some(1000),
                },
                ..ItemProgress::pending("photos")
            }],
            timestamp: "2026-01-02T03:04:05.678Z".into(),
            ..ProgressEvent::blank("job-1", JobKind::Sync, 5)
        }
    }

    #[test]
    fn counters_are_flat_keys_of_the_event_and_its_items() {
        let v = serde_json::to_value(sample()).expect("json");
        assert_eq!(
            keys(&v),
            [
                "bytesDone",
                "bytesTotal",
                "error",
                "etaSeconds",
                "items",
                "jobId",
                "kind",
                "message",
                "percent",
                "processed",
                "ratePerSec",
                "resultUrl",
                "seq",
                "state",
                "step",
                "stepNumber",
                "timestamp",
                "total",
                "totalSteps",
                "warnings",
            ]
        );
        assert_eq!(
            (
                &v["processed"],
                &v["total"],
                &v["bytesDone"],
                &v["bytesTotal"]
            ),
            (&json!(3), &json!(10), &json!(300), &Value::Null)
        );
        let item = &v["items"][0];
        assert_eq!(
            keys(item),
            [
                "bytesDone",
                "bytesTotal",
                "error",
                "name",
                "processed",
                "state",
                "total"
            ]
        );
        assert_eq!(
            (item["bytesDone"].as_u64(), item["bytesTotal"].as_u64()),
            (Some(100), Some(1000))
        );
    }

    #[test]
    fn an_event_in_the_flat_json_shape_reads_back() {
        let old = json!({
            "jobId": "job-1", "seq": 7, "kind": "sync", "state": "running", "step": "copying",
            "stepNumber": 2, "totalSteps": 5, "percent": 41.5,
            "processed": 3, "total": 10, "bytesDone": 300, "bytesTotal": null,
            "ratePerSec": null, "etaSeconds": null, "message": "Queued",
            "items": [{
                "name": "photos", "processed": 1, "total": null, "bytesDone": 100,
                "bytesTotal": 1000, "state": "pending", "error": null
            }],
            "warnings": [], "error": null, "resultUrl": null,
            "timestamp": "2026-01-02T03:04:05.678Z"
        });
        let ev: ProgressEvent = serde_json::from_value(old.clone()).expect("the flat shape reads");
        let mut want = sample();
        want.message = "Queued".into();
        assert_eq!(ev, want);
        // And round-trips through a string, the way the wire carries it.
        let text = serde_json::to_string(&ev).expect("json");
        let back: ProgressEvent = serde_json::from_str(&text).expect("reads back");
        assert_eq!(
            (back, serde_json::to_value(&ev).expect("json")),
            (want, old)
        );
    }
}
