//! What the app is configured with: where it keeps its things, what the shell is told, and
//! the agents it knows.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemark_store::Places;

use crate::notify::{Notification, Notifier};
use crate::types::{AgentInfo, Fleet, JobSummary, JobsChanged};

/// About 10 updates a second to a window.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(100);

/// Where the app keeps its things. Tests point it at a temporary folder.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The history database.
    pub db: PathBuf,
    /// The folder of the settings and the agents it knows.
    pub config: PathBuf,
}

impl AppConfig {
    /// Everything in the folder of the history at `db`.
    pub fn beside(db: PathBuf) -> AppConfig {
        AppConfig::from(&Places::beside(&db))
    }
}

impl From<&Places> for AppConfig {
    fn from(p: &Places) -> AppConfig {
        AppConfig {
            db: p.db.clone(),
            config: p.config.clone(),
        }
    }
}

/// What the shell is told about, beside command results. Every method has a quiet default.
pub trait Hooks: Send + Sync {
    /// Jobs that started, moved on or ended: only those, as they are now (see `announce`).
    fn jobs_changed(&self, _change: &JobsChanged) {}
    /// A job ended (completed, failed or cancelled).
    fn job_ended(&self, _job: &JobSummary) {}
    /// The fleet changed (an agent added or removed, or what its check found): all of it.
    fn fleet_changed(&self, _fleet: &Fleet) {}
}

#[derive(Debug, Clone, Default)]
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Notifications go nowhere (tests, or a shell without a notification service).
#[derive(Debug, Clone, Default)]
pub struct NoNotifier;
impl Notifier for NoNotifier {
    fn notify(&self, _: &Notification) -> Result<(), crate::notify::NotifyError> {
        Ok(())
    }
}

/// An agent as stored, token included; [`AgentInfo`] is what the UI sees.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAgent {
    pub id: String,
    pub name: String,
    pub url: String,
    pub token: String,
}

impl StoredAgent {
    pub fn info(&self) -> AgentInfo {
        // A pairing link holds the token: the UI is shown where the agent is, not the link.
        let url = match self.url.parse::<tidemark_core::PairingLink>() {
            Ok(link) => link.base_url(),
            Err(_) => self.url.clone(),
        };
        AgentInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            url,
        }
    }
}
