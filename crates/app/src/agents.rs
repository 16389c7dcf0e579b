//! The agents this app knows, their jobs, and watching one of those jobs.

use tidemark_core::ProgressSink;
use tidemark_store::RemoteOrigin;

use crate::app::{App, lock, non_empty};
use crate::config::StoredAgent;
use crate::error::{Error, Result};
use crate::record::RemoteRecorder;
use crate::settings::{self, AGENTS_FILE};
use crate::subscribe;
use crate::types::*;

impl App {
    pub fn list_agents(&self) -> Vec<AgentInfo> {
        lock(&self.inner.agents)
            .iter()
            .map(StoredAgent::info)
            .collect()
    }

    /// Adds an agent once it answered a listing of its jobs with this token.
    pub async fn add_agent(&self, req: AddAgent) -> Result<AgentInfo> {
        let name = non_empty(&req.name, "agent name")?.to_owned();
        let url = non_empty(&req.url, "agent URL")?
            .trim_end_matches('/')
            .to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidInput(format!(
                "agent URL {url:?} must start with http:// or https://"
            )));
        }
        let token = non_empty(&req.token, "token")?.to_owned();
        tidemark_remote::list_jobs(&url, &token)
            .await
            .map_err(|e| remote_error(&url, e))?;
        let agent = StoredAgent {
            id: tidemark_core::job::new_job_id(),
            name,
            url,
            token,
        };
        let info = agent.info();
        let mut agents = lock(&self.inner.agents).clone();
        agents.push(agent);
        self.save_agents(agents)?;
        Ok(info)
    }

    pub fn remove_agent(&self, id: &str) -> Result<()> {
        let mut agents = lock(&self.inner.agents).clone();
        let before = agents.len();
        agents.retain(|a| a.id != id);
        if agents.len() == before {
            return Err(Error::NotFound(format!("no agent {id}")));
        }
        self.save_agents(agents)
    }

    fn save_agents(&self, agents: Vec<StoredAgent>) -> Result<()> {
        let path = self.inner.config.config.join(AGENTS_FILE);
        settings::save_json(&path, &agents, true)?;
        *lock(&self.inner.agents) = agents;
        Ok(())
    }

    fn agent(&self, id: &str) -> Result<StoredAgent> {
        lock(&self.inner.agents)
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no agent {id}")))
    }

    pub async fn list_remote_jobs(&self, agent_id: &str) -> Result<Vec<RemoteJobInfo>> {
        let agent = self.agent(agent_id)?;
        let jobs = tidemark_remote::list_jobs(&agent.url, &agent.token)
            .await
            .map_err(|e| remote_error(&agent.url, e))?;
        Ok(jobs
            .into_iter()
            .map(|j| RemoteJobInfo {
                agent_id: agent.id.clone(),
                title: format!(
                    "{} on {}",
                    match j.kind {
                        tidemark_core::JobKind::Snapshot => "Snapshot",
                        tidemark_core::JobKind::Sync => "Sync",
                    },
                    agent.name
                ),
                id: j.id,
                kind: j.kind,
                state: j.state,
                percent: None,
            })
            .collect())
    }

    /// Follows a job of an agent: connection states and events, throttled like local ones.
    /// Every event is also recorded in the history, under the id
    /// [`Self::remote_history_id`], as a gap-free copy of the agent's event list.
    pub fn watch_remote_job(
        &self,
        agent_id: &str,
        job_id: &str,
        sink: Box<dyn ProgressSink<JobUpdate>>,
    ) -> Result<u32> {
        let agent = self.agent(agent_id)?;
        let origin = RemoteOrigin {
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            job_id: job_id.to_owned(),
        };
        let transport = tidemark_remote::HttpTransport::new(
            &agent.url,
            &agent.token,
            job_id,
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&agent.url, e))?;
        let (recorder, not_recorded) = RemoteRecorder::spawn(
            self.db().to_owned(),
            origin,
            transport,
            self.inner.runtime.clone(),
        )?;
        let _in_runtime = self.inner.runtime.enter();
        let (rx, watcher) = tidemark_remote::watch(
            &agent.url,
            &agent.token,
            job_id,
            0,
            tidemark_remote::WatchConfig::default(),
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&agent.url, e))?;
        let task = subscribe::remote(
            self.clone(),
            agent.name,
            rx,
            watcher,
            sink,
            recorder,
            not_recorded,
        );
        Ok(self.register(task))
    }
}

fn remote_error(url: &str, e: tidemark_remote::TransportError) -> Error {
    use tidemark_remote::TransportError as T;
    match e {
        T::Auth(reason) => Error::AgentAuthFailed {
            url: url.to_owned(),
            reason,
        },
        T::NotFound(m) => Error::NotFound(m),
        other => Error::AgentUnreachable {
            url: url.to_owned(),
            reason: other.to_string(),
        },
    }
}
