//! How progress leaves the core: every consumer (terminal bars, JSON lines, the webview's
//! Channel, the SSE stream, the tests' collector) is a [`ProgressSink`] fed from a job's log.

use std::sync::{Arc, Mutex};

use crate::event::ProgressEvent;
use crate::log::{Delivery, Subscription};

/// The sink refused further events (its reader went away); the pump stops feeding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the progress consumer has gone away")]
pub struct SinkClosed;

pub trait ProgressSink: Send {
    fn deliver(&mut self, event: &Arc<ProgressEvent>) -> Result<(), SinkClosed>;
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
