//! The fleet: every stored agent checked in the background, whether or not a window is
//! open, as one actor (this module's task, which alone holds the agents' states) and a
//! handle to it. Each agent has a check loop (`check`) that reports to the actor; the actor
//! applies each report (`state`), publishes what changed and sends the notifications the
//! change deserves, through [`Output`].

mod check;
pub(crate) mod state;

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

#[cfg(test)]
pub(crate) use check::BoxFuture;
use check::Report;
pub(crate) use check::{CannotAsk, HttpProbe, Probe, Schedule};
use state::AgentState;

use crate::notify::Notification;
use crate::types::{Fleet, TokenStorage};

/// Where the actor's news goes: the windows and the tray (`changed`), the desktop's
/// notifications (`notify`, under the settings' rules).
pub(crate) trait Output: Send + Sync {
    fn changed(&self, fleet: &Fleet);
    fn notify(&self, n: &Notification);
}

/// An agent to check: how it is shown and how it is asked.
pub(crate) struct Member {
    pub id: String,
    pub name: String,
    pub url: String,
    pub probe: Arc<dyn Probe>,
}

enum Msg {
    Add(Member),
    Remove(String),
    CheckNow(String),
    Started { agent: String, job: String },
    Get(oneshot::Sender<Fleet>),
}

/// The handle: cheap to clone; the actor stops (and with it every check) when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct FleetHandle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl FleetHandle {
    pub fn spawn(runtime: &Handle, output: Arc<dyn Output>, schedule: Schedule) -> FleetHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::channel(64);
        let actor = Actor {
            agents: Vec::new(),
            output,
            revision: 0,
            reports_tx,
            schedule,
            runtime: runtime.clone(),
        };
        runtime.spawn(actor.run(rx, reports));
        FleetHandle { tx }
    }

    /// Starts checking an agent (its first check at once).
    pub fn add(&self, member: Member) {
        self.send(Msg::Add(member));
    }

    /// Stops checking an agent and forgets what was found.
    pub fn remove(&self, id: &str) {
        self.send(Msg::Remove(id.to_owned()));
    }

    /// Checks an agent now rather than at its next turn.
    pub fn check_now(&self, id: &str) {
        self.send(Msg::CheckNow(id.to_owned()));
    }

    /// A job this app started on an agent: its end is notified even if no check sees it
    /// running; the agent is checked at once.
    pub fn started(&self, agent_id: &str, job_id: &str) {
        self.send(Msg::Started {
            agent: agent_id.to_owned(),
            job: job_id.to_owned(),
        });
    }

    /// Every agent as last checked.
    pub async fn get(&self) -> Fleet {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Get(tx));
        rx.await.unwrap_or_default()
    }

    fn send(&self, msg: Msg) {
        if self.tx.send(msg).is_err() {
            tracing::warn!("the fleet's actor has stopped");
        }
    }
}

struct Entry {
    state: AgentState,
    task: JoinHandle<()>,
    poke: Arc<Notify>,
}

struct Actor {
    /// In the order they were added (the stored agents' order).
    agents: Vec<Entry>,
    output: Arc<dyn Output>,
    revision: u64,
    reports_tx: mpsc::Sender<Report>,
    schedule: Schedule,
    runtime: Handle,
}

impl Actor {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut reports: mpsc::Receiver<Report>,
    ) {
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                Some(report) = reports.recv() => self.report(report),
            }
        }
        for e in &self.agents {
            e.task.abort();
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Add(m) => {
                if self.agents.iter().any(|e| e.state.view.id == m.id) {
                    return;
                }
                let poke = Arc::new(Notify::new());
                let task = self.runtime.spawn(check::run(
                    m.id.clone(),
                    m.probe,
                    poke.clone(),
                    self.reports_tx.clone(),
                    self.schedule.clone(),
                ));
                self.agents.push(Entry {
                    state: AgentState::new(&m.id, &m.name, &m.url),
                    task,
                    poke,
                });
                self.publish();
            }
            Msg::Remove(id) => {
                let before = self.agents.len();
                self.agents.retain(|e| {
                    let keep = e.state.view.id != id;
                    if !keep {
                        e.task.abort();
                    }
                    keep
                });
                if self.agents.len() != before {
                    self.publish();
                }
            }
            Msg::CheckNow(id) => {
                if let Some(e) = self.agents.iter().find(|e| e.state.view.id == id) {
                    e.poke.notify_one();
                }
            }
            Msg::Started { agent, job } => {
                if let Some(e) = self.agents.iter_mut().find(|e| e.state.view.id == agent) {
                    e.state.expect(&job);
                    e.poke.notify_one();
                }
            }
            Msg::Get(reply) => {
                let _gone = reply.send(self.fleet());
            }
        }
    }

    fn report(&mut self, report: Report) {
        // A report from a check of an agent removed meanwhile finds nobody.
        let Some(e) = self
            .agents
            .iter_mut()
            .find(|e| e.state.view.id == report.id)
        else {
            return;
        };
        let before = e.state.view.clone();
        let now = chrono::Utc::now().to_rfc3339();
        let notes = e.state.apply(report.result, &now);
        let changed = e.state.view != before;
        for n in &notes {
            self.output.notify(n);
        }
        if changed {
            self.publish();
        }
    }

    fn fleet(&self) -> Fleet {
        Fleet {
            revision: self.revision,
            agents: self.agents.iter().map(|e| e.state.view.clone()).collect(),
            // The app's to say (see `remote_jobs::FleetOutput`).
            tokens: TokenStorage::default(),
        }
    }

    fn publish(&mut self) {
        self.revision += 1;
        self.output.changed(&self.fleet());
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
