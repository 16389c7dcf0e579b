//! What the app is configured with: where it keeps its things, what the shell is told, and
//! the agents it knows.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidemark_core::{Fingerprint, PairingLink};
use tidemark_store::Places;

use crate::keychain::Keychain;
#[cfg(not(test))]
use crate::keychain::SystemKeychain;
use crate::notify::{Notification, Notifier};
use crate::pause::PauseState;
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
    /// Where agents' tokens go first (see `tokens`): the system's, unless a test says.
    pub keychain: Arc<dyn Keychain>,
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
            keychain: default_keychain(),
        }
    }
}

#[cfg(not(test))]
fn default_keychain() -> Arc<dyn Keychain> {
    Arc::new(SystemKeychain::default())
}

/// The app's own tests never touch their user's keychain: they get the file (and the tests
/// of the keychain's side give a keychain of their own).
#[cfg(test)]
fn default_keychain() -> Arc<dyn Keychain> {
    Arc::new(crate::keychain::NoKeychain(
        "no keychain in the app's tests".into(),
    ))
}

/// What the shell is told about, beside command results. Every method has a quiet default.
pub trait Hooks: Send + Sync {
    /// Jobs that started, moved on or ended: only those, as they are now (see `announce`).
    fn jobs_changed(&self, _change: &JobsChanged) {}
    /// A job ended (completed, failed or cancelled).
    fn job_ended(&self, _job: &JobSummary) {}
    /// The fleet changed (an agent added or removed, or what its check found): all of it.
    fn fleet_changed(&self, _fleet: &Fleet) {}
    /// "Pause everything" began, moved or ended.
    fn pause_changed(&self, _state: &PauseState) {}
    /// A plan was added, changed or removed, started a run or saw one end: all of them.
    fn plans_changed(&self, _plans: &[tidemark_plans::PlanSummary]) {}
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

/// An agent as stored in agents.json; [`AgentInfo`] is what the UI sees. agents.json holds
/// no secret: the token is kept in memory only, the keychain (or the tokens' file) holds it
/// (see `tokens`); a paired agent is stored as its address and the fingerprint to pin, not
/// as its link, which holds the token. What an older agents.json held (a token, a link) is
/// read, then moved out ([`StoredAgent::unlink`]).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredAgent {
    pub id: String,
    pub name: String,
    /// `https://HOST:PORT` (or `http://`).
    pub url: String,
    /// The certificate a paired agent must present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    #[serde(default, skip_serializing)]
    pub token: String,
}

impl std::fmt::Debug for StoredAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token, nor a URL that may still be a link holding it.
        f.debug_struct("StoredAgent")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl StoredAgent {
    pub fn info(&self) -> AgentInfo {
        AgentInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
        }
    }

    /// Turns a pairing link kept as the URL (older versions) into the address, the
    /// fingerprint and the token. Whether anything changed.
    pub fn unlink(&mut self) -> bool {
        let Ok(link) = self.url.parse::<PairingLink>() else {
            return false;
        };
        self.url = link.base_url();
        self.fingerprint = Some(link.fingerprint);
        if self.token.is_empty() {
            self.token = link.token;
        }
        true
    }
}
