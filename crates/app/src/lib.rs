//! The desktop app without Tauri: one plain function per IPC command on [`App`], settings,
//! the notification policy. `src-tauri` adapts these in a few lines each.

mod agents;
mod announce;
mod app;
#[cfg(feature = "ts")]
pub mod bindings;
mod config;
pub mod error;
mod fleet;
mod history;
mod jobs;
pub mod keychain;
mod live;
pub mod notify;
pub mod pause;
pub mod plans;
mod record;
mod remote_jobs;
pub mod restore;
pub mod settings;
pub mod subscribe;
pub mod summary;
mod tokens;
pub mod types;
pub mod visibility;

#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod plans_tests;
#[cfg(test)]
mod tests;

pub use app::App;
pub use config::{AppConfig, Hooks, NoHooks, NoNotifier, UPDATE_INTERVAL};
pub use error::Error;
pub use keychain::{Keychain, KeychainError, NoKeychain, SystemKeychain};
pub use notify::{Notification, NotificationKind, Notifier, NotifyError};
pub use pause::{PauseFor, PauseState};
pub use plans::ExportFormat;
pub use restore::StartRestore;
pub use settings::CONFIG_FILES;
pub use tidemark_core::TreeEntry;
pub use tidemark_core::compare::{DiffReport, DiffTotals, FileChange};
pub use tidemark_core::{ProgressSink, SinkClosed};
pub use tidemark_plans::{LastRun, Plan, PlanInput, PlanRun, PlanSummary};
pub use types::*;
pub use visibility::{Catchup, GatedSink, Visibility};
