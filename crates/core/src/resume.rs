//! What a run keeps so that a later run of the same job (after a crash, a kill, a reboot)
//! can pick up where it stopped. The core only names the keys; where they are kept (SQLite,
//! memory) is the caller's business.

use std::collections::HashMap;

/// Why a checkpoint was not kept. The core does not know where checkpoints live, so the
/// cause is whatever the keeper reports (a database error, usually).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CheckpointError(Box<dyn std::error::Error + Send + Sync>);

impl CheckpointError {
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(cause))
    }
}

/// Saved state of one job, by key. Writes are rare (once per finished step or source), so an
/// implementation may write through synchronously.
pub trait ResumeState: Send {
    fn load(&self, key: &str) -> Option<String>;
    fn save(&mut self, key: &str, value: &str) -> Result<(), CheckpointError>;
}

/// Keeps nothing: a run without history cannot be resumed.
#[derive(Debug, Default)]
pub struct NoResume;

impl ResumeState for NoResume {
    fn load(&self, _key: &str) -> Option<String> {
        None
    }
    fn save(&mut self, _key: &str, _value: &str) -> Result<(), CheckpointError> {
        Ok(())
    }
}

/// Keeps everything in memory; for tests and for callers that persist it themselves.
#[derive(Debug, Default, Clone)]
pub struct MemoryResume(pub HashMap<String, String>);

impl ResumeState for MemoryResume {
    fn load(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn save(&mut self, key: &str, value: &str) -> Result<(), CheckpointError> {
        self.0.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}
