//! The desktop app's log: one file a day, `tidemark.<date>.log`, in the platform's log
//! folder (`tidemark_store::Places`; beside the history when `TIDEMARK_DB` is set), the newest
//! [`KEEP_FILES`] kept. In debug builds it is also written to stderr. `RUST_LOG` overrides
//! the level (default: info for Tidemark, warn for the libraries under it).

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Days of logs kept.
pub const KEEP_FILES: usize = 7;

/// The log folder, as the app's state (what `open_log` opens).
#[derive(Debug, Clone)]
pub struct LogDir(pub PathBuf);

/// Installs the log subscriber, writing into `dir` (`None`: stderr only). The guard flushes
/// what is still queued when dropped: keep it for the app's whole life. When the folder
/// cannot be written, the app runs without a log file rather than not at all (and says so on
/// stderr, where the log then goes).
pub fn init(dir: Option<&Path>) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,tidemark=info"));
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix("tidemark")
        .filename_suffix("log")
        .max_log_files(KEEP_FILES);
    let (file, guard, failed) = match dir.map(|d| appender.build(d)) {
        Some(Ok(appender)) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (Some(fmt::layer().with_writer(writer)), Some(guard), None)
        }
        Some(Err(e)) => (None, None, Some(e.to_string())),
        None => (None, None, Some("no data folder".to_owned())),
    };
    let stderr = (cfg!(debug_assertions) || failed.is_some())
        .then(|| fmt::layer().with_writer(std::io::stderr));
    let _already = tracing_subscriber::registry()
        .with(filter)
        .with(file)
        .with(stderr)
        .try_init();
    if let (Some(dir), Some(e)) = (dir, failed) {
        tracing::error!("no log file in {}: {e}", dir.display());
    }
    guard
}
