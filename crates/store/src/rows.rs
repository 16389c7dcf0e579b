//! The rows: what a job record is, and how events and records are written and read.

use std::sync::Arc;

use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark_core::{Counters, ErrorCode, ErrorInfo, JobKind, JobSpec, JobState, ProgressEvent};

pub(crate) const JOB_COLUMNS: &str = "id, kind, spec, state, created_at, started_at, finished_at, percent, \
     processed, total, bytes_done, bytes_total, result_url, error_code, error_message, last_seq, owner, \
     remote_agent_id, remote_agent_name, remote_job_id, plan_id";
/// Newest first; rowid breaks ties between jobs created in the same millisecond.
pub(crate) const NEWEST_FIRST: &str = "ORDER BY created_at DESC, rowid DESC";

/// One job as the history shows it: its spec and a summary of its newest event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub kind: JobKind,
    pub spec: JobSpec,
    pub state: JobState,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub percent: Option<f64>,
    #[serde(flatten)]
    pub counters: Counters,
    pub result_url: Option<String>,
    pub error: Option<ErrorInfo>,
    /// seq of the newest stored event; a resumed run's log continues after it.
    pub last_seq: u64,
    /// The agent token name that started the job; `None` for local jobs.
    pub owner: Option<String>,
    /// Set for a job that runs on an agent and was recorded while the app watched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteOrigin>,
    /// The plan this run came from (`None` for a job started by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
}

/// Where a recorded remote job runs: the agent (as the app knows it) and the job's id there.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteOrigin {
    /// The app's id for the agent.
    pub agent_id: String,
    /// The agent's name when the job was recorded (it stays readable if the agent is removed).
    pub agent_name: String,
    /// The job's id on the agent.
    pub job_id: String,
}

impl RemoteOrigin {
    /// The local id of the job: one per (agent, job there), never equal to a local job's id
    /// (those are bare UUIDs). Deterministic, so every watch of the job finds the same row.
    pub fn local_id(&self) -> String {
        format!("remote-{}-{}", self.agent_id, self.job_id)
    }
}

/// What [`Store::append_remote_events`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAppend {
    /// seq of the newest stored event of the job after the call.
    pub stored_up_to: u64,
    /// The seq of the first event not stored because events before it are missing.
    pub gap_at: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobFilter {
    pub limit: Option<usize>,
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    /// Only the jobs this token name started.
    pub owner: Option<String>,
    /// Only the runs of this plan (its id).
    pub plan_id: Option<String>,
}

/// `created_at` orders the history as text, so every one is stored in the same UTC form.
pub(crate) fn normalize_timestamp(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .unwrap_or_else(|_| ts.to_owned())
}

/// SQLite reads a negative LIMIT as none.
pub(crate) fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

pub(crate) struct Summary<'a> {
    pub newest: &'a ProgressEvent,
    pub first_running: Option<&'a ProgressEvent>,
}

pub(crate) fn summaries(events: &[Arc<ProgressEvent>]) -> Vec<Summary<'_>> {
    let mut out: Vec<Summary<'_>> = Vec::new();
    for ev in events.iter().map(|e| &**e) {
        let i = match out.iter().position(|s| s.newest.job_id == ev.job_id) {
            Some(i) => i,
            None => {
                out.push(Summary {
                    newest: ev,
                    first_running: None,
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        if ev.seq > s.newest.seq {
            s.newest = ev;
        }
        if ev.state == JobState::Running && s.first_running.is_none_or(|f| ev.seq < f.seq) {
            s.first_running = Some(ev);
        }
    }
    out
}

pub(crate) fn insert_event(
    c: &Connection,
    job_id: &str,
    ev: &ProgressEvent,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO events (job_id, seq, state, step, timestamp, json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        job_id,
        ev.seq,
        ev.state.as_str(),
        enum_text(&ev.step),
        ev.timestamp,
        to_json(ev)?,
    ])
    .map(drop)
}

/// Brings the job's summary up to `ev`, unless a newer one is there (`force`: regardless).
pub(crate) fn update_summary(
    c: &Connection,
    job_id: &str,
    ev: &ProgressEvent,
    first_running: Option<&ProgressEvent>,
    force: bool,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE jobs SET state = ?2, percent = ?3, processed = ?4, total = ?5, \
         bytes_done = ?6, bytes_total = ?7, result_url = ?8, error_code = ?9, \
         error_message = ?10, last_seq = ?11, \
         started_at = COALESCE(started_at, ?12), finished_at = ?13 \
         WHERE id = ?1 AND (?14 OR last_seq < ?11)",
    )?
    .execute(params![
        job_id,
        ev.state.as_str(),
        ev.percent,
        ev.counters.processed,
        ev.counters.total,
        ev.counters.bytes_done,
        ev.counters.bytes_total,
        ev.result_url,
        ev.error.as_ref().map(|e| e.code.as_str()),
        ev.error.as_ref().map(|e| &e.message),
        ev.seq,
        first_running.map(|e| &e.timestamp),
        // Cleared again when a resumed run starts.
        ev.is_terminal().then_some(&ev.timestamp),
        force,
    ])
    .map(drop)
}

pub(crate) fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let error = match r.get::<_, Option<String>>(13)? {
        None => None,
        Some(code) => Some(ErrorInfo {
            // A code from a newer build still shows, with its message.
            code: parse_enum(code).unwrap_or(ErrorCode::Internal),
            message: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
        }),
    };
    Ok(JobRecord {
        id: r.get(0)?,
        kind: enum_column(r, 1)?,
        spec: from_json(r, 2)?,
        state: enum_column(r, 3)?,
        created_at: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        percent: r.get(7)?,
        counters: Counters {
            processed: r.get::<_, Option<u64>>(8)?.unwrap_or(0),
            total: r.get(9)?,
            bytes_done: r.get::<_, Option<u64>>(10)?.unwrap_or(0),
            bytes_total: r.get(11)?,
        },
        result_url: r.get(12)?,
        error,
        last_seq: r.get(15)?,
        owner: r.get(16)?,
        remote: match (r.get(17)?, r.get::<_, Option<String>>(18)?, r.get(19)?) {
            (Some(agent_id), agent_name, Some(job_id)) => Some(RemoteOrigin {
                agent_id,
                agent_name: agent_name.unwrap_or_default(),
                job_id,
            }),
            _ => None,
        },
        plan_id: r.get(20)?,
    })
}

/// The wire name of a unit enum (`snapshot`, `browsing`, …), so columns match the JSON.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

pub(crate) fn parse_enum<T: DeserializeOwned>(text: String) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(text))
}

pub(crate) fn enum_column<T: DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    parse_enum(r.get(idx)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

pub(crate) fn from_json<T: DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    serde_json::from_str(&r.get::<_, String>(idx)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
