//! The agents this app knows, their jobs, and watching one of those jobs.

use tidemark_core::ProgressSink;
use tidemark_remote::{Endpoint, EndpointError};
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

    /// Adds an agent once it answered a listing of its jobs with this token. The URL may be
    /// the agent's pairing link, which carries the token and the certificate to trust; the
    /// address and the fingerprint are stored, the token goes to the keychain.
    pub async fn add_agent(&self, req: AddAgent) -> Result<AgentInfo> {
        let name = non_empty(&req.name, "agent name")?.to_owned();
        let url = non_empty(&req.url, "agent URL")?
            .trim_end_matches('/')
            .to_owned();
        let endpoint = Endpoint::parse(&url, Some(req.token.trim())).map_err(endpoint_error)?;
        tidemark_remote::list_jobs(&endpoint)
            .await
            .map_err(|e| remote_error(&endpoint, e))?;
        let agent = StoredAgent {
            id: tidemark_core::job::new_job_id(),
            name,
            url: endpoint.base.clone(),
            fingerprint: endpoint.pin,
            token: endpoint.token,
        };
        let (inner, id, token) = (self.inner.clone(), agent.id.clone(), agent.token.clone());
        tokio::task::spawn_blocking(move || inner.tokens.put(&id, &token))
            .await
            .map_err(|e| Error::Internal(format!("keeping the token: {e}")))??;
        let info = agent.info();
        let mut agents = lock(&self.inner.agents).clone();
        agents.push(agent.clone());
        self.save_agents(agents)?;
        self.check_in_background(&agent);
        Ok(info)
    }

    pub fn remove_agent(&self, id: &str) -> Result<()> {
        let mut agents = lock(&self.inner.agents).clone();
        let before = agents.len();
        agents.retain(|a| a.id != id);
        if agents.len() == before {
            return Err(Error::NotFound(format!("no agent {id}")));
        }
        self.save_agents(agents)?;
        self.inner.fleet.remove(id);
        self.inner.tokens.remove(id);
        Ok(())
    }

    fn save_agents(&self, agents: Vec<StoredAgent>) -> Result<()> {
        // No token in it (they are not serialised), private all the same.
        let path = self.inner.config.config.join(AGENTS_FILE);
        settings::save_json(&path, &agents, true)?;
        *lock(&self.inner.agents) = agents;
        Ok(())
    }

    pub(crate) fn agent(&self, id: &str) -> Result<StoredAgent> {
        lock(&self.inner.agents)
            .iter()
            .find(|a| a.id == id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no agent {id}")))
    }

    pub async fn list_remote_jobs(&self, agent_id: &str) -> Result<Vec<RemoteJobInfo>> {
        let agent = self.agent(agent_id)?;
        let endpoint = agent.endpoint()?;
        let jobs = tidemark_remote::list_jobs(&endpoint)
            .await
            .map_err(|e| remote_error(&endpoint, e))?;
        Ok(jobs
            .iter()
            .map(|j| crate::fleet::state::info(&agent.id, &agent.name, j))
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
        let endpoint = agent.endpoint()?;
        let transport = tidemark_remote::HttpTransport::new(
            &endpoint,
            job_id,
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&endpoint, e))?;
        let (recorder, not_recorded) = RemoteRecorder::spawn(
            self.db().to_owned(),
            origin,
            transport,
            self.inner.runtime.clone(),
        )?;
        let _in_runtime = self.inner.runtime.enter();
        let (rx, watcher) = tidemark_remote::watch(
            &endpoint,
            job_id,
            0,
            tidemark_remote::WatchConfig::default(),
            tidemark_remote::Timeouts::default(),
        )
        .map_err(|e| remote_error(&endpoint, e))?;
        let task = subscribe::remote(self.clone(), rx, watcher, sink, recorder, not_recorded);
        Ok(self.register(task))
    }
}

impl StoredAgent {
    /// How to reach it: its address with its token, pinned to its certificate if paired.
    pub(crate) fn endpoint(&self) -> Result<Endpoint> {
        let mut endpoint = Endpoint::parse(&self.url, Some(&self.token)).map_err(|e| match e {
            EndpointError::NoToken(_) => Error::AgentAuthFailed {
                url: self.url.clone(),
                reason: "no token is kept for this agent: remove it and add it again".into(),
            },
            e => endpoint_error(e),
        })?;
        endpoint.pin = self.fingerprint;
        Ok(endpoint)
    }
}

fn endpoint_error(e: EndpointError) -> Error {
    match e {
        EndpointError::Link(_) => Error::BadPairingLink(e.to_string()),
        EndpointError::NotAnAddress(_) | EndpointError::NoToken(_) => {
            Error::InvalidInput(e.to_string())
        }
    }
}

pub(crate) fn remote_error(agent: &Endpoint, e: tidemark_remote::TransportError) -> Error {
    use tidemark_remote::TransportError as T;
    match e {
        T::Auth(reason) => Error::AgentAuthFailed {
            url: agent.base.clone(),
            reason,
        },
        T::NotFound(m) => Error::NotFound(m),
        T::Refused { error, .. } => Error::Refused {
            url: agent.base.clone(),
            error,
        },
        e @ T::Fingerprint { .. } => Error::FingerprintMismatch(e.to_string()),
        e @ T::Untrusted(_) => Error::UntrustedCertificate(e.to_string()),
        other => Error::AgentUnreachable {
            url: agent.base.clone(),
            reason: other.to_string(),
        },
    }
}
