//! Where the agents' tokens are kept: the system's keychain (the `keyring` crate: the Secret
//! Service over D-Bus on Linux, the login Keychain on macOS, the Credential Manager on
//! Windows), one entry per agent; where no keychain answers, a file only its owner may read,
//! `desktop-agent-tokens.json` in the config folder, and the Agents view says so. (Not
//! `agent-tokens.json`: that is where `tidemark agent` keeps its own tokens, by default in
//! the very same folder.) agents.json keeps no token; one an older version kept there is
//! moved out at load.
//!
//! Every keychain call runs on a thread of its own with a time limit: the Secret Service's
//! client must not run on the async runtime's threads nor the UI's, and a keychain that does
//! not answer must not hold the app up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::config::StoredAgent;
use crate::error::Result;
use crate::keychain::{Keychain, KeychainError};
use crate::settings::{self, TOKENS_FILE};
use crate::types::TokenStorage;

/// Long enough for a keychain that asks to be unlocked; no longer, or the app would wait.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(20);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on a thread of its own, waiting at most [`KEYCHAIN_TIMEOUT`].
fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, KeychainError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tidemark-keychain".into())
        .spawn(move || {
            let _gone = tx.send(f());
        })
        .map_err(|e| KeychainError(format!("cannot start the keychain's thread: {e}")))?;
    rx.recv_timeout(KEYCHAIN_TIMEOUT)
        .map_err(|_| KeychainError("the keychain did not answer in time".into()))?
}

/// The tokens' keeper: the keychain while it answers, the file once it does not.
#[derive(Debug)]
pub(crate) struct TokenStore {
    keychain: Arc<dyn Keychain>,
    file: PathBuf,
    storage: Mutex<TokenStorage>,
}

impl TokenStore {
    pub fn new(keychain: Arc<dyn Keychain>, config_dir: &Path) -> TokenStore {
        TokenStore {
            keychain,
            file: config_dir.join(TOKENS_FILE),
            storage: Mutex::new(TokenStorage::Keychain),
        }
    }

    /// Where tokens are kept now.
    pub fn storage(&self) -> TokenStorage {
        lock(&self.storage).clone()
    }

    /// Gives each stored agent its token. Tokens agents.json still holds move to the keychain
    /// (or the file) and `true` is returned: agents.json must then be written without them.
    /// Tokens the file holds move to the keychain when it answers.
    pub fn load(&self, agents: &mut [StoredAgent]) -> bool {
        let mut file = self.read_file();
        let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        let keychain = self.keychain.clone();
        // One thread for every read: a keychain that does not answer costs its timeout once.
        // The probe says whether one answers at all; then each entry may still fail alone.
        let read = off_thread(move || {
            keychain.get("probe")?;
            Ok(ids
                .iter()
                .map(|id| (id.clone(), keychain.get(id)))
                .collect::<BTreeMap<_, _>>())
        });
        let in_keychain = match read {
            Ok(found) => found,
            Err(e) => {
                self.fall_back(&e);
                BTreeMap::new()
            }
        };
        let mut migrated = false;
        for agent in agents.iter_mut() {
            if !agent.token.is_empty() {
                migrated = true;
                let token = agent.token.clone();
                self.keep(&agent.id, &token, &mut file);
            } else if let Some(Ok(Some(token))) = in_keychain.get(&agent.id) {
                agent.token = token.clone();
            } else if let Some(Err(e)) = in_keychain.get(&agent.id)
                && !file.contains_key(&agent.id)
            {
                tracing::warn!(agent = %agent.name, "the keychain would not give this agent's token: {e}");
            } else if let Some(token) = file.get(&agent.id).cloned() {
                agent.token = token.clone();
                if self.storage() == TokenStorage::Keychain {
                    self.keep(&agent.id, &token, &mut file);
                }
            } else {
                tracing::warn!(agent = %agent.name, "no token kept for this agent");
            }
        }
        // What the file holds for agents no longer stored goes with them.
        file.retain(|id, _| agents.iter().any(|a| a.id == *id));
        if let Err(e) = self.write_file(&file) {
            tracing::error!("agent tokens: {e}");
        }
        migrated
    }

    /// Keeps `token` for `agent_id`: in the keychain, else (from then on) in the file.
    pub fn put(&self, agent_id: &str, token: &str) -> Result<()> {
        let mut file = self.read_file();
        self.keep(agent_id, token, &mut file);
        self.write_file(&file)
    }

    /// Forgets the token of `agent_id`, wherever it is; the keychain's copy in the
    /// background (nobody waits for a keychain to forget).
    pub fn remove(&self, agent_id: &str) {
        let mut file = self.read_file();
        if file.remove(agent_id).is_some()
            && let Err(e) = self.write_file(&file)
        {
            tracing::error!("agent tokens: {e}");
        }
        if self.storage() == TokenStorage::Keychain {
            let (keychain, id) = (self.keychain.clone(), agent_id.to_owned());
            std::thread::spawn(move || {
                if let Err(e) = off_thread(move || keychain.delete(&id)) {
                    tracing::warn!("the keychain kept a removed agent's token: {e}");
                }
            });
        }
    }

    fn keep(&self, agent_id: &str, token: &str, file: &mut BTreeMap<String, String>) {
        if self.storage() == TokenStorage::Keychain {
            let (keychain, id, t) = (self.keychain.clone(), agent_id.to_owned(), token.to_owned());
            match off_thread(move || keychain.set(&id, &t)) {
                Ok(()) => {
                    file.remove(agent_id);
                    return;
                }
                Err(e) => self.fall_back(&e),
            }
        }
        file.insert(agent_id.to_owned(), token.to_owned());
    }

    fn fall_back(&self, e: &KeychainError) {
        let mut storage = lock(&self.storage);
        if *storage == TokenStorage::Keychain {
            tracing::warn!(
                "no keychain ({e}): agent tokens are kept in {}",
                self.file.display()
            );
            *storage = TokenStorage::File {
                path: self.file.display().to_string(),
                reason: e.0.clone(),
            };
        }
    }

    fn read_file(&self) -> BTreeMap<String, String> {
        settings::load_json(&self.file)
    }

    /// Written only to hold something: an empty map removes the file.
    fn write_file(&self, tokens: &BTreeMap<String, String>) -> Result<()> {
        if !tokens.is_empty() {
            return settings::save_json(&self.file, tokens, true);
        }
        match std::fs::remove_file(&self.file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::Error::io(
                format!("removing {}", self.file.display()),
                e,
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
