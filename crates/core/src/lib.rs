//! Tidemark's core: the job model, step-based progress and its event log, and the snapshot
//! and sync engines. Free of Tauri and of any HTTP server: the desktop shell, the agent and
//! the CLI are thin adapters over what is here.

pub mod compare;
pub mod control;
pub mod error;
pub mod eta;
pub mod event;
pub mod fsutil;
pub mod http;
pub mod job;
pub mod log;
#[cfg(feature = "openapi")]
mod openapi;
pub mod pairing;
pub mod panic;
pub mod platform;
pub mod prefetch;
pub mod progress;
pub mod queue;
pub mod restore;
pub mod resume;
pub mod seed;
pub mod sink;
pub mod snapshot;
pub mod sync;
pub mod throttle;
pub mod upload;
pub mod walk;

#[cfg(test)]
mod testutil;

pub use compare::{DiffReport, DiffTotals, FileChange, compare};
pub use control::Control;
pub use error::{ErrorCode, ErrorInfo, JobError};
pub use event::{
    Counters, EtaSource, ItemProgress, ItemState, JobKind, JobState, ProgressEvent, Step, Warning,
};
pub use job::{JobHandle, JobOptions, JobSpec, Priority, ResumePoint};
pub use log::{Delivery, EventLog, Subscription};
pub use pairing::{Fingerprint, FingerprintError, PairingLink, PairingLinkError};
pub use queue::JobQueue;
pub use restore::{Manifest, ManifestFile, RestoreSpec, TreeEntry, VerifySpec};
pub use resume::{CheckpointError, MemoryResume, NoResume, ResumeState};
pub use seed::EtaSeed;
pub use sink::{ProgressSink, SinkClosed, pump};
pub use snapshot::SnapshotSpec;
pub use sync::SyncSpec;
