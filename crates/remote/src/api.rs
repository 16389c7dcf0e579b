//! The agent's REST calls beside the progress stream: what the agent is, starting a job and
//! pausing, resuming or cancelling one. Each goes through the same pinned client as the
//! job list; an answer the agent refused with `{code, message}` keeps its code.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tidemark_core::{ErrorInfo, JobSpec};

use crate::RemoteJob;
use crate::endpoint::Endpoint;
use crate::http;
use crate::tls;
use crate::watcher::TransportError;

/// Short: these calls are a person's clicks and the app's background checks, and an agent
/// that does not answer in this long is shown as unreachable.
const CONNECT: Duration = Duration::from_secs(5);
const REQUEST: Duration = Duration::from_secs(5);

/// What an agent says about itself (`GET /api/v1/agent`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    pub version: String,
    /// Its roots, absolute: a job's paths must lie under one of them.
    pub roots: Vec<String>,
    /// Whether this client's token is read-only.
    pub read_only: bool,
}

/// What may be asked of a job once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobControl {
    Pause,
    Resume,
    Cancel,
}

impl JobControl {
    fn path(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }
}

/// The agent's version, roots and whether the token is read-only.
pub async fn agent_info(agent: &Endpoint) -> Result<AgentInfo, TransportError> {
    call(agent, reqwest::Method::GET, "/api/v1/agent", None::<&()>).await
}

/// The agent's jobs, newest first.
pub async fn list_jobs(agent: &Endpoint) -> Result<Vec<RemoteJob>, TransportError> {
    call(agent, reqwest::Method::GET, "/api/v1/jobs", None::<&()>).await
}

/// Starts `spec` on the agent (its paths are the agent's); the job as it started.
pub async fn start_job(agent: &Endpoint, spec: &JobSpec) -> Result<RemoteJob, TransportError> {
    call(agent, reqwest::Method::POST, "/api/v1/jobs", Some(spec)).await
}

/// Pauses, resumes or cancels job `id` on the agent; the job as the agent answered.
pub async fn control_job(
    agent: &Endpoint,
    id: &str,
    what: JobControl,
) -> Result<RemoteJob, TransportError> {
    // The id goes into the path: one that is not a plain id must not reach another route.
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(TransportError::NotFound(format!("job {id:?}")));
    }
    let path = format!("/api/v1/jobs/{id}/{}", what.path());
    call(agent, reqwest::Method::POST, &path, None::<&()>).await
}

async fn call<T: DeserializeOwned, B: serde::Serialize + ?Sized>(
    agent: &Endpoint,
    method: reqwest::Method,
    path: &str,
    body: Option<&B>,
) -> Result<T, TransportError> {
    let (tls, pin) =
        tls::client_config(agent.pin).map_err(|e| TransportError::Failed(e.to_string()))?;
    let client = http::client(&tls, CONNECT, REQUEST)?;
    let mut req = client
        .request(method, format!("{}{path}", agent.base))
        .bearer_auth(&agent.token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| http::send_error(&e, &pin, agent))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return resp
            .json()
            .await
            .map_err(|e| TransportError::Failed(format!("malformed answer to {path}: {e}")));
    }
    // 401 is the token itself; anything else the agent explains as `{code, message}`.
    if status == 401 {
        return Err(TransportError::Auth(format!("HTTP {status}")));
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorInfo>(&bytes) {
        Ok(error) => Err(TransportError::Refused { status, error }),
        Err(_) if status == 403 => Err(TransportError::Auth(format!("HTTP {status}"))),
        Err(_) => Err(TransportError::Failed(format!("HTTP {status}"))),
    }
}
