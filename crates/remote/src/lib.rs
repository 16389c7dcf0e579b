//! Watching jobs that run on a Tidemark agent, over an unreliable network.
//!
//! `watch` gives a stream of progress events and connection states. It reads the agent's
//! Server-Sent Events; when the stream fails it reconnects on a backoff schedule (1, 2, 4, 8,
//! 15, 30 s, jittered); after five failed reconnections in a row it polls every second by seq,
//! keeps trying the stream in the background and returns to it when it works. Every event
//! reaches the consumer exactly once, in seq order.
//!
//! An agent is an [`Endpoint`]: a paired one (from its `tidemark://` link) is reached over
//! HTTPS and must present the certificate it was paired with; see [`tls`].

pub mod api;
pub mod backoff;
pub mod endpoint;
pub mod http;
pub mod tls;
pub mod watcher;

use std::time::Duration;

use serde::Deserialize;
use tidemark_core::{Counters, ErrorInfo, JobKind, JobSpec, JobState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use api::{AgentInfo, JobControl, agent_info, control_job, list_jobs, start_job};
pub use endpoint::{Endpoint, EndpointError};
pub use http::{HttpTransport, Timeouts};
pub use watcher::{ConnState, Transport, TransportError, WatchConfig, WatchEnd, WatchItem};

/// Starts watching `job` on `agent` from after seq `after` (0: from the start), on the
/// current tokio runtime.
pub fn watch(
    agent: &Endpoint,
    job: &str,
    after: u64,
    cfg: WatchConfig,
    timeouts: Timeouts,
) -> Result<(mpsc::Receiver<WatchItem>, JoinHandle<WatchEnd>), TransportError> {
    let transport = HttpTransport::new(agent, job, timeouts)?;
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(watcher::run(transport, after, cfg, tx));
    Ok((rx, task))
}

/// A job as the agent lists it (its `JobRecord`, the fields a client uses).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJob {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub created_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The whole job's, as of its newest stored event; `None` while unknown.
    #[serde(default)]
    pub percent: Option<f64>,
    #[serde(flatten)]
    pub counters: Counters,
    #[serde(default)]
    pub result_url: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
}

/// One job as the agent details it (`GET /api/v1/jobs/{id}`): the listing's fields and the
/// spec it runs, with the agent's paths.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteJobDetail {
    pub id: String,
    pub kind: JobKind,
    pub state: JobState,
    pub created_at: String,
    pub spec: JobSpec,
}

/// Watches every job of an agent that has not ended, picking up new ones as they appear.
/// Items come tagged with their job id.
pub fn watch_all(
    agent: &Endpoint,
    cfg: WatchConfig,
    timeouts: Timeouts,
) -> mpsc::Receiver<(String, WatchItem)> {
    let (tx, rx) = mpsc::channel(256);
    let agent = agent.clone();
    tokio::spawn(async move {
        let mut watched = std::collections::HashSet::new();
        loop {
            match list_jobs(&agent).await {
                Ok(jobs) => {
                    for job in jobs.into_iter().rev() {
                        if job.state.is_terminal() || !watched.insert(job.id.clone()) {
                            continue;
                        }
                        let Ok((mut items, _task)) =
                            watch(&agent, &job.id, 0, cfg.clone(), timeouts.clone())
                        else {
                            continue;
                        };
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            while let Some(item) = items.recv().await {
                                if tx.send((job.id.clone(), item)).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                }
                Err(TransportError::Auth(m)) => {
                    let _ = tx
                        .send((
                            String::new(),
                            WatchItem::State(ConnState::AuthFailed { message: m }),
                        ))
                        .await;
                    return;
                }
                Err(_) => {}
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    rx
}

#[cfg(test)]
mod watcher_tests;
