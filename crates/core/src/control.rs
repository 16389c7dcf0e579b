//! Cancellation, pause and resume of a running job, shared between the job's thread and
//! whoever holds its handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::error::Cancelled;

#[derive(Debug, Clone, Default)]
pub struct Control {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    // Read on every buffer, so it is an atomic; the mutex only pairs with the condvar.
    paused: AtomicBool,
    lock: Mutex<()>,
    cond: Condvar,
    /// Told of every cancel, pause and resume: whoever waits elsewhere for this job (the
    /// job queue) and must look again.
    waker: Mutex<Option<Waker>>,
}

/// Something to call when a job's control changes.
#[derive(Clone)]
pub(crate) struct Waker(pub(crate) Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

impl Control {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        // Wake a paused job so it can see the cancellation.
        let guard = self.inner.lock.lock();
        self.inner.cond.notify_all();
        drop(guard);
        self.wake();
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        self.wake();
    }

    pub fn resume(&self) {
        let guard = self.inner.lock.lock();
        self.inner.paused.store(false, Ordering::SeqCst);
        self.inner.cond.notify_all();
        drop(guard);
        self.wake();
    }

    /// Calls `waker` on every later cancel, pause and resume, until replaced or cleared.
    pub(crate) fn set_waker(&self, waker: Option<Waker>) {
        *self.inner.waker.lock().unwrap_or_else(|p| p.into_inner()) = waker;
    }

    fn wake(&self) {
        // Called outside the lock: the waker takes locks of its own.
        let waker = self
            .inner
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(w) = waker {
            (w.0)();
        }
    }

    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// Errors when cancelled; cheap enough to call per buffer.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Blocks while paused; errors if cancelled before or during the pause.
    pub fn wait_while_paused(&self) -> Result<(), Cancelled> {
        self.check()?;
        if !self.is_paused() {
            return Ok(());
        }
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.is_paused() && !self.is_cancelled() {
            guard = self
                .inner
                .cond
                .wait(guard)
                .unwrap_or_else(|p| p.into_inner());
        }
        drop(guard);
        self.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pause_blocks_until_resume() {
        let c = Control::new();
        c.pause();
        let worker = {
            let c = c.clone();
            std::thread::spawn(move || c.wait_while_paused())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!worker.is_finished(), "a paused job must not run on");
        c.resume();
        assert!(worker.join().expect("worker").is_ok());
    }

    #[test]
    fn cancel_wakes_a_paused_job() {
        let c = Control::new();
        c.pause();
        let worker = {
            let c = c.clone();
            std::thread::spawn(move || c.wait_while_paused())
        };
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert!(worker.join().expect("worker").is_err());
    }
}
