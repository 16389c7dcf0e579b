//! The fleet from the app's side: each stored agent handed to the fleet's background checks,
//! what the checks find published to the shell and notified under the settings' rules, and
//! the commands that start and control jobs on an agent.

use std::path::PathBuf;
use std::sync::Arc;

use tidemark_core::{JobSpec, JobState, SnapshotSpec, SyncSpec};
use tidemark_remote::JobControl;
use tidemark_store::RemoteOrigin;

use crate::agents::remote_error;
use crate::app::{App, non_empty};
use crate::config::StoredAgent;
use crate::error::Result;
use crate::fleet::state::Failure;
use crate::fleet::{CannotAsk, HttpProbe, Member, Probe, state};
use crate::types::*;

impl App {
    /// Starts the background checks of a stored agent. One that cannot be asked (no token
    /// kept for it, an address edited by hand) is listed all the same, unreachable with why.
    pub(crate) fn check_in_background(&self, agent: &StoredAgent) {
        let probe: Arc<dyn Probe> = match agent.endpoint() {
            Ok(endpoint) => Arc::new(HttpProbe(endpoint)),
            Err(e) => Arc::new(CannotAsk(Failure {
                code: e.code(),
                reason: e.to_string(),
            })),
        };
        self.inner.fleet.add(Member {
            id: agent.id.clone(),
            name: agent.name.clone(),
            url: agent.info().url,
            probe,
        });
    }

    /// Every agent as its background check last found it.
    pub async fn fleet(&self) -> Fleet {
        Fleet {
            tokens: self.inner.tokens.storage(),
            ..self.inner.fleet.get().await
        }
    }

    /// Starts a job on an agent, with the agent's paths (it checks them against its roots).
    pub async fn start_remote_job(
        &self,
        agent_id: &str,
        request: RemoteJobRequest,
    ) -> Result<RemoteJobInfo> {
        let agent = self.agent(agent_id)?;
        let spec = remote_spec(request)?;
        let endpoint = agent.endpoint()?;
        let job = tidemark_remote::start_job(&endpoint, &spec)
            .await
            .map_err(|e| remote_error(&endpoint, e))?;
        self.inner.fleet.started(agent_id, &job.id);
        Ok(state::info(&agent.id, &agent.name, &job))
    }

    pub async fn pause_remote_job(&self, agent_id: &str, job_id: &str) -> Result<RemoteJobInfo> {
        self.control_remote_job(agent_id, job_id, JobControl::Pause)
            .await
    }

    pub async fn resume_remote_job(&self, agent_id: &str, job_id: &str) -> Result<RemoteJobInfo> {
        self.control_remote_job(agent_id, job_id, JobControl::Resume)
            .await
    }

    pub async fn cancel_remote_job(&self, agent_id: &str, job_id: &str) -> Result<RemoteJobInfo> {
        self.control_remote_job(agent_id, job_id, JobControl::Cancel)
            .await
    }

    async fn control_remote_job(
        &self,
        agent_id: &str,
        job_id: &str,
        what: JobControl,
    ) -> Result<RemoteJobInfo> {
        let agent = self.agent(agent_id)?;
        let job_id = non_empty(job_id, "job id")?;
        let endpoint = agent.endpoint()?;
        let job = tidemark_remote::control_job(&endpoint, job_id, what)
            .await
            .map_err(|e| remote_error(&endpoint, e))?;
        self.inner.fleet.check_now(agent_id);
        Ok(state::info(&agent.id, &agent.name, &job))
    }
}

/// The spec an agent runs. Its paths are the agent's, on its system: only the agent can
/// tell whether they exist, are absolute there and lie under its roots, and it says so
/// (`bad_request`, `forbidden_path`). Here only what is missing is refused.
fn remote_spec(request: RemoteJobRequest) -> Result<JobSpec> {
    Ok(match request {
        RemoteJobRequest::Snapshot(s) => JobSpec::Snapshot(SnapshotSpec {
            source: PathBuf::from(non_empty(&s.source, "source folder")?),
            destination: non_empty(&s.destination, "destination")?.to_owned(),
            name: s
                .name
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        }),
        RemoteJobRequest::Sync(s) => {
            if s.sources.is_empty() {
                return Err(crate::Error::InvalidInput(
                    "pick at least one source folder".into(),
                ));
            }
            let sources = s
                .sources
                .iter()
                .map(|p| non_empty(p, "source folder").map(PathBuf::from))
                .collect::<Result<Vec<_>>>()?;
            JobSpec::Sync(SyncSpec {
                sources,
                destination: PathBuf::from(non_empty(&s.destination, "destination")?),
                delete: s.delete,
            })
        }
    })
}

impl Fleet {
    /// The jobs queued, running or paused on the agents that answer now, as summaries for a
    /// list shared with local jobs (the tray): titled "Snapshot on NAS", under the id their
    /// record in the history would have (`remote-<agent>-<job>`). An unreachable agent's
    /// jobs are left out: what was last seen of them is no longer news.
    pub fn active_jobs(&self) -> Vec<JobSummary> {
        self.agents
            .iter()
            .filter(|a| matches!(a.reachability, Reachability::Online { .. }))
            .flat_map(|a| {
                a.running
                    .iter()
                    .filter(|j| {
                        matches!(
                            j.state,
                            JobState::Queued | JobState::Running | JobState::Paused
                        )
                    })
                    .map(move |j| {
                        let origin = RemoteOrigin {
                            agent_id: a.id.clone(),
                            agent_name: a.name.clone(),
                            job_id: j.id.clone(),
                        };
                        JobSummary {
                            state: j.state,
                            title: j.title.clone(),
                            percent: j.percent,
                            remote: Some(RemoteRun {
                                agent_id: a.id.clone(),
                                agent_name: a.name.clone(),
                                job_id: j.id.clone(),
                            }),
                            ..crate::summary::queued(
                                &origin.local_id(),
                                j.kind,
                                j.created_at.clone(),
                            )
                        }
                    })
            })
            .collect()
    }
}
