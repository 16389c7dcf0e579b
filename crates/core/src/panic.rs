//! A panic on a job's thread, caught with its message and where it happened, so the job
//! ends as an `internal` error that names the bug instead of as a disk error.
//!
//! `catch_unwind` hands back only the payload; the location is known to the panic hook
//! alone. A process-wide hook, installed once, notes it in a thread-local while [`catch`] is
//! running on that thread, and leaves every other panic to the hook it replaced.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A caught panic: what it said and, when the hook saw it, `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("internal error: {message}{}", location.as_ref().map(|l| format!(" (at {l})")).unwrap_or_default())]
pub struct Panicked {
    pub message: String,
    pub location: Option<String>,
}

/// Runs `f`; a panic in it becomes [`Panicked`]. The caller must not trust state `f` left
/// half-changed: it only reports the failure (which is why asserting unwind safety is sound
/// for the job runner, whose reporter only emits the terminal event afterwards).
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panicked> {
    install_hook();
    let outer = CATCHING.replace(true);
    LOCATION.take();
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    outcome.map_err(|payload| Panicked {
        message: payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into()),
        location: LOCATION.take(),
    })
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // `try_with`: a panic while the thread's locals are being torn down still reaches
            // the previous hook instead of aborting here.
            if CATCHING.try_with(Cell::get).unwrap_or(false) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                let _noted = LOCATION.try_with(|slot| slot.replace(at));
            } else {
                previous(info);
            }
        }));
    });
}

/// Tests only: jobs over a registered source panic as they start, so the way a panic
/// reaches the history and the UI can be tested from outside the core. Registered paths
/// are the test's own (a temporary folder), so tests running at once do not interfere.
#[cfg(any(test, feature = "test-panic"))]
pub mod inject {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static SOURCES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    /// The message such a job panics with.
    pub const MESSAGE: &str = "injected panic for a test";

    /// Every later job reading `source` panics.
    pub fn panic_on_source(source: &Path) {
        SOURCES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(source.to_owned());
    }

    /// Panics if any of a job's `sources` was registered. The job passes its sources in, so
    /// this module knows nothing of job specs (and `job` is the only one that imports it).
    pub(crate) fn check(sources: &[&Path]) {
        let hit = {
            let registered = SOURCES.lock().unwrap_or_else(|p| p.into_inner());
            sources.iter().any(|s| registered.iter().any(|r| r == s))
        };
        if hit {
            panic!("{MESSAGE}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_keeps_its_message_and_location() {
        let line = line!() + 1;
        let caught = catch(|| -> u32 { panic!("boom {}", 42) }).expect_err("it panicked");
        assert_eq!(caught.message, "boom 42");
        assert_eq!(
            caught.location.as_deref(),
            Some(format!("{}:{line}", file!()).as_str())
        );
        let shown = caught.to_string();
        assert!(
            shown.contains("boom 42") && shown.contains(file!()),
            "{shown}"
        );
    }

    #[test]
    fn a_value_passes_through_and_the_hook_is_off_again_afterwards() {
        assert_eq!(catch(|| 7), Ok(7));
        let caught = catch(|| std::panic::panic_any(3_u8)).expect_err("it panicked");
        assert_eq!(caught.message, "a panic without a message");
        assert!(caught.location.is_some());
        assert!(
            !CATCHING.get(),
            "panics after `catch` go to the previous hook"
        );
        let nested = catch(|| catch(|| panic!("inner")).expect_err("inner panicked"));
        assert_eq!(nested.map(|p| p.message), Ok("inner".to_owned()));
        assert!(!CATCHING.get());
    }

    /// The job ends `failed` with an `internal` error naming the panic, not as a disk error.
    #[test]
    fn a_job_whose_engine_panics_fails_as_internal() {
        use crate::{ErrorCode, JobHandle, JobOptions, JobSpec, JobState, SnapshotSpec};
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        std::fs::create_dir(&src).expect("mkdir");
        inject::panic_on_source(&src);
        let spec = JobSpec::Snapshot(SnapshotSpec {
            source: src,
            destination: dir.path().display().to_string(),
            name: None,
        });
        let end = JobHandle::spawn(spec, JobOptions::default())
            .wait()
            .expect("a terminal event");
        assert_eq!(end.state, JobState::Failed);
        let error = end.error.as_ref().expect("an error");
        assert_eq!(error.code, ErrorCode::Internal, "{error:?}");
        assert!(error.message.contains(inject::MESSAGE), "{}", error.message);
        assert!(error.message.contains("panic.rs:"), "{}", error.message);
    }
}
