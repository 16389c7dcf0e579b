//! How progress leaves the core: every consumer (terminal bars, JSON lines, the history
//! writer, the webview's Channel, the tests' collector) is a [`ProgressSink`] fed from a job's
//! log. A consumer that carries more than events (the desktop's channel also says how it is
//! connected, and when it closes) takes its own message type, `ProgressSink<M>`, through the
//! same trait.

use std::sync::{Arc, Mutex};

use crate::event::ProgressEvent;
use crate::log::{Delivery, Subscription};

/// The sink refused further events (its reader went away); the pump stops feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the progress consumer has gone away")]
pub struct SinkClosed;

/// Where progress goes. `M` is what the sink carries: a job's events by default, or a
/// consumer's own message that wraps them (the desktop app's `JobUpdate`).
pub trait ProgressSink<M: ?Sized = Arc<ProgressEvent>>: Send {
    fn deliver(&mut self, message: &M) -> Result<(), SinkClosed>;
}

/// Feeds every delivery of `sub` into `sink` until the log ends or the sink closes. A resync
/// hands the sink the full current state. Blocking: run it on its own thread.
pub fn pump(mut sub: Subscription, sink: &mut dyn ProgressSink) -> Result<(), SinkClosed> {
    while let Some(delivery) = sub.next_blocking() {
        match delivery {
            Delivery::Event(ev) | Delivery::Resync { latest: ev, .. } => sink.deliver(&ev)?,
        }
    }
    Ok(())
}

/// Collects everything it is given; used by tests and by callers that want the whole run.
#[derive(Debug, Clone, Default)]
pub struct Collector {
    events: Arc<Mutex<Vec<Arc<ProgressEvent>>>>,
}

impl Collector {
    pub fn events(&self) -> Vec<Arc<ProgressEvent>> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ProgressSink for Collector {
    fn deliver(&mut self, event: &Arc<ProgressEvent>) -> Result<(), SinkClosed> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        Ok(())
    }
}
