//! The keychain the agents' tokens go to first: a trait, the system's (through `keyring`)
//! and none at all. `tokens` decides what to do when it does not answer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The keychain entries' service name; each entry's user is `agent:<id>`.
pub const KEYCHAIN_SERVICE: &str = "tidemark";

/// A keychain holding one secret per agent.
pub trait Keychain: Send + Sync + fmt::Debug {
    /// The token kept for `agent_id`; `None` when there is none.
    fn get(&self, agent_id: &str) -> Result<Option<String>, KeychainError>;
    fn set(&self, agent_id: &str, token: &str) -> Result<(), KeychainError>;
    /// Removes it; one that is not there is not an error.
    fn delete(&self, agent_id: &str) -> Result<(), KeychainError>;
}

/// Why the keychain could not be used, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeychainError(pub String);

/// The system's keychain, through `keyring`. Entries are made once per agent and kept: a
/// credential store given by `keyring::set_default_credential_builder` (its mock, in tests)
/// then holds what was set for as long as this value lives.
#[derive(Debug, Default)]
pub struct SystemKeychain {
    entries: Mutex<BTreeMap<String, Arc<keyring::Entry>>>,
}

impl SystemKeychain {
    pub(crate) fn entry(&self, agent_id: &str) -> Result<Arc<keyring::Entry>, KeychainError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.get(agent_id) {
            return Ok(e.clone());
        }
        let entry = keyring::Entry::new(KEYCHAIN_SERVICE, &format!("agent:{agent_id}"))
            .map(Arc::new)
            .map_err(said)?;
        entries.insert(agent_id.to_owned(), entry.clone());
        Ok(entry)
    }
}

fn said(e: keyring::Error) -> KeychainError {
    KeychainError(e.to_string())
}

impl Keychain for SystemKeychain {
    fn get(&self, agent_id: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(agent_id)?.get_password() {
            Ok(token) => Ok(Some(token)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(said(e)),
        }
    }

    fn set(&self, agent_id: &str, token: &str) -> Result<(), KeychainError> {
        self.entry(agent_id)?.set_password(token).map_err(said)
    }

    fn delete(&self, agent_id: &str) -> Result<(), KeychainError> {
        match self.entry(agent_id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(said(e)),
        }
    }
}

/// No keychain at all: every call fails with `reason` (the app's unit tests, which must not
/// touch their user's keychain).
#[derive(Debug, Clone)]
pub struct NoKeychain(pub String);

impl Keychain for NoKeychain {
    fn get(&self, _: &str) -> Result<Option<String>, KeychainError> {
        Err(KeychainError(self.0.clone()))
    }
    fn set(&self, _: &str, _: &str) -> Result<(), KeychainError> {
        Err(KeychainError(self.0.clone()))
    }
    fn delete(&self, _: &str) -> Result<(), KeychainError> {
        Err(KeychainError(self.0.clone()))
    }
}
