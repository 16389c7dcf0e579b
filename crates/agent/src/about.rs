//! What an agent says about itself to any valid token: its version, the folders it may use,
//! and whether the caller's token may change anything. A client shows these before it offers
//! to start a job there.

use serde::Serialize;

use crate::auth::Identity;
use crate::service::Agent;

/// The agent as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// The agent's version (`tidemark --version` on its machine).
    pub version: String,
    /// Its `--root` folders, absolute and resolved: a job's paths must lie under one of them.
    pub roots: Vec<String>,
    /// Whether the caller's token is read-only (it may follow jobs, not start or change them).
    pub read_only: bool,
}

impl Agent {
    pub fn about(&self, who: &Identity) -> AgentInfo {
        AgentInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            roots: self
                .roots()
                .iter()
                .map(|r| r.display().to_string())
                .collect(),
            read_only: !who.may_act(),
        }
    }
}
