//! One agent as the fleet keeps it, and what a check's result changes: a plain function of
//! the state and the result, so every transition is tested without a network.

use std::collections::HashSet;

use tidemark_core::{ErrorCode, JobKind};
use tidemark_remote::RemoteJob;

use crate::notify::{self, Notification};
use crate::types::{FleetAgent, JobSummary, Reachability, RemoteJobInfo, RemoteRun};

/// How many ended jobs an agent's card lists.
pub(crate) const RECENT: usize = 5;

/// What one check found: what the agent says it is, and its jobs (newest first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checked {
    pub info: tidemark_remote::AgentInfo,
    pub jobs: Vec<RemoteJob>,
}

/// Why a check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub reason: String,
    pub code: ErrorCode,
}

pub(crate) type CheckResult = Result<Checked, Failure>;

#[derive(Debug)]
pub(crate) struct AgentState {
    pub view: FleetAgent,
    /// The jobs seen not ended: one of these seen ended later deserves a notification (one
    /// first seen ended does not: its end was not news to this app).
    unfinished: HashSet<String>,
    /// Jobs this app started there, until a listing shows them: one that ends before any
    /// check saw it running still deserves its notification.
    expected: HashSet<String>,
}

impl AgentState {
    pub fn new(id: &str, name: &str, url: &str) -> AgentState {
        AgentState {
            view: FleetAgent {
                id: id.to_owned(),
                name: name.to_owned(),
                url: url.to_owned(),
                reachability: Reachability::Checking,
                version: None,
                roots: Vec::new(),
                read_only: false,
                running: Vec::new(),
                recent: Vec::new(),
            },
            unfinished: HashSet::new(),
            expected: HashSet::new(),
        }
    }

    /// A job this app just started there: its end is news whenever it comes.
    pub fn expect(&mut self, job_id: &str) {
        self.expected.insert(job_id.to_owned());
    }

    /// Applies a check's result found at `now` (RFC 3339): the view changes, and the
    /// notifications the change deserves are returned. "Unreachable" only after the agent
    /// was reachable, "back" only after that.
    pub fn apply(&mut self, result: CheckResult, now: &str) -> Vec<Notification> {
        let mut notes = Vec::new();
        let v = &mut self.view;
        match result {
            Err(failure) => match &mut v.reachability {
                Reachability::Unreachable { reason, code, .. } => {
                    *reason = failure.reason;
                    *code = failure.code;
                }
                was => {
                    if matches!(was, Reachability::Online { .. }) {
                        notes.push(notify::agent_unreachable(&v.name, &failure.reason));
                    }
                    *was = Reachability::Unreachable {
                        reason: failure.reason,
                        code: failure.code,
                        since: now.to_owned(),
                    };
                }
            },
            Ok(checked) => {
                match v.reachability {
                    Reachability::Online { .. } => {}
                    Reachability::Unreachable { .. } if v.version.is_some() => {
                        notes.push(notify::agent_back(&v.name, &v.url));
                        v.reachability = online(now);
                    }
                    _ => v.reachability = online(now),
                }
                v.version = Some(checked.info.version);
                v.roots = checked.info.roots;
                v.read_only = checked.info.read_only;
                let (ended, running): (Vec<_>, Vec<_>) =
                    checked.jobs.iter().partition(|j| j.state.is_terminal());
                for job in &ended {
                    if (self.unfinished.contains(&job.id) || self.expected.contains(&job.id))
                        && let Some(n) = notify::for_job_end(&summary(v, job), duration_ms(job))
                    {
                        notes.push(n);
                    }
                }
                self.unfinished = running.iter().map(|j| j.id.clone()).collect();
                self.expected
                    .retain(|id| !checked.jobs.iter().any(|j| j.id == *id));
                v.running = running.iter().map(|j| info(&v.id, &v.name, j)).collect();
                v.recent = ended
                    .iter()
                    .take(RECENT)
                    .map(|j| info(&v.id, &v.name, j))
                    .collect();
            }
        }
        notes
    }
}

fn online(now: &str) -> Reachability {
    Reachability::Online {
        since: now.to_owned(),
    }
}

/// "Snapshot on NAS": what a remote job is called everywhere (lists, tray, notifications).
pub(crate) fn remote_title(kind: JobKind, agent: &str) -> String {
    let what = match kind {
        JobKind::Snapshot => "Snapshot",
        JobKind::Sync => "Sync",
        JobKind::Restore => "Restore",
        JobKind::Verify => "Verify",
    };
    format!("{what} on {agent}")
}

pub(crate) fn info(agent_id: &str, agent_name: &str, j: &RemoteJob) -> RemoteJobInfo {
    RemoteJobInfo {
        agent_id: agent_id.to_owned(),
        id: j.id.clone(),
        kind: j.kind,
        state: j.state,
        percent: j.percent,
        title: remote_title(j.kind, agent_name),
        created_at: j.created_at.clone(),
        finished_at: j.finished_at.clone(),
        error: j.error.clone(),
    }
}

/// A remote job as a local one's summary, for the notification of its end.
fn summary(agent: &FleetAgent, j: &RemoteJob) -> JobSummary {
    JobSummary {
        id: j.id.clone(),
        kind: j.kind,
        state: j.state,
        title: remote_title(j.kind, &agent.name),
        source: String::new(),
        destination: String::new(),
        created_at: j.created_at.clone(),
        started_at: j.started_at.clone(),
        finished_at: j.finished_at.clone(),
        percent: j.percent,
        counters: j.counters,
        result_url: j.result_url.clone(),
        error: j.error.clone(),
        resumable: false,
        remote: Some(RemoteRun {
            agent_id: agent.id.clone(),
            agent_name: agent.name.clone(),
            job_id: j.id.clone(),
        }),
    }
}

fn duration_ms(j: &RemoteJob) -> Option<u64> {
    let parse = |t: &Option<String>| chrono::DateTime::parse_from_rfc3339(t.as_deref()?).ok();
    let ms = (parse(&j.finished_at)? - parse(&j.started_at)?).num_milliseconds();
    u64::try_from(ms).ok()
}
