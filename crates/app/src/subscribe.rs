//! Subscriptions: what feeds a window's channel. Local jobs follow the core's log through a
//! `ThrottledSubscription`; remote ones follow `tidemark_remote::watch` through the same
//! `Throttle`. Both start with the job's current state and end with `closed`.

use std::sync::Arc;

use tidemark_core::throttle::{Throttle, ThrottledSubscription};
use tidemark_core::{JobState, ProgressEvent, ProgressSink};
use tidemark_remote::{ConnState, WatchEnd, WatchItem};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::config::UPDATE_INTERVAL;
use crate::record::{Record, RemoteRecorder};
use crate::types::{AppError, ConnectionState, JobUpdate};

/// How long a closing remote subscription waits for its events to reach the history, so
/// that `closed` means "recorded" whenever the store keeps up.
const RECORDING_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

fn event(ev: &Arc<ProgressEvent>) -> JobUpdate {
    JobUpdate::Event { event: ev.clone() }
}

/// Starts a local job's subscription. The current state goes out before this returns, so
/// it is the first message whatever the timing.
pub(crate) fn local(
    app: App,
    id: String,
    first: Option<Arc<ProgressEvent>>,
    state: JobState,
    mut sink: Box<dyn ProgressSink<JobUpdate>>,
) -> JoinHandle<()> {
    let after = first.as_ref().map_or(0, |e| e.seq);
    let sent = first
        .as_ref()
        .map_or(Ok(()), |ev| sink.deliver(&event(ev)))
        .and_then(|()| {
            sink.deliver(&JobUpdate::Connection {
                state: ConnectionState::Live,
            })
        });
    let runtime = app.inner.runtime.clone();
    runtime.spawn(async move {
        if sent.is_err() {
            return;
        }
        let mut state = state;
        loop {
            // Listen before looking, so a resume between the two is not missed.
            let mut started = app.inner.started.subscribe();
            let Some(active) = app.active(&id) else {
                if state != JobState::Interrupted {
                    let _gone = sink.deliver(&JobUpdate::Closed);
                    return;
                }
                // An interrupted job may be resumed from any window: follow it then.
                loop {
                    match started.recv().await {
                        Ok(started_id) if started_id == id => break,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            if app.active(&id).is_some() {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
                state = JobState::Running;
                continue;
            };
            let mut throttled =
                ThrottledSubscription::new(active.log.subscribe(after), UPDATE_INTERVAL);
            while let Some(ev) = throttled.next().await {
                if sink.deliver(&event(&ev)).is_err() {
                    return;
                }
            }
            let _gone = sink.deliver(&JobUpdate::Closed);
            return;
        }
    })
}

/// Aborts the watcher when the subscription ends or is dropped (unsubscribe aborts it).
struct AbortOnDrop(JoinHandle<WatchEnd>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn connection(state: &ConnState) -> ConnectionState {
    match state {
        ConnState::Connecting => ConnectionState::Connecting,
        ConnState::Connected => ConnectionState::Live,
        ConnState::Reconnecting {
            attempt,
            of,
            delay_ms,
        } => ConnectionState::Reconnecting {
            attempt: *attempt,
            of: *of,
            delay_ms: *delay_ms,
        },
        ConnState::Polling => ConnectionState::Polling,
        ConnState::Offline { reason } => ConnectionState::Offline {
            reason: reason.clone(),
        },
        ConnState::AuthFailed { message } => ConnectionState::AuthFailed {
            message: message.clone(),
        },
    }
}

/// Follows a remote job for a window, and hands every event to `recorder` (the history).
pub(crate) fn remote(
    app: App,
    mut rx: mpsc::Receiver<WatchItem>,
    watcher: JoinHandle<WatchEnd>,
    mut sink: Box<dyn ProgressSink<JobUpdate>>,
    recorder: RemoteRecorder,
    mut not_recorded: mpsc::UnboundedReceiver<AppError>,
) -> JoinHandle<()> {
    let runtime = app.inner.runtime.clone();
    runtime.spawn(async move {
        let _watcher = AbortOnDrop(watcher);
        if sink.deliver(&JobUpdate::Connection {
                state: ConnectionState::Connecting,
            })
            .is_err()
        {
            return;
        }
        let mut throttle = Throttle::new(UPDATE_INTERVAL);
        let mut open = true;
        let now = || tokio::time::Instant::now().into_std();
        loop {
            let deadline = throttle.deadline();
            if !open && deadline.is_none() {
                recorder.finish(RECORDING_GRACE).await;
                // A job that ended before its first failed write was reported must still say
                // that the history did not keep it.
                while let Ok(error) = not_recorded.try_recv() {
                    if sink.deliver(&JobUpdate::NotRecorded { error }).is_err() {
                        return;
                    }
                }
                let _gone = sink.deliver(&JobUpdate::Closed);
                return;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            let out: Option<JobUpdate> = tokio::select! {
                item = rx.recv(), if open => match item {
                    None => { open = false; None }
                    Some(WatchItem::Event(ev)) => {
                        recorder.offer(Record::Event(ev.clone()));
                        throttle.offer(Arc::new(ev), now()).map(|ev| event(&ev))
                    }
                    Some(WatchItem::Resync(ev)) => {
                        recorder.offer(Record::Resync(ev.clone()));
                        throttle.offer(Arc::new(ev), now()).map(|ev| event(&ev))
                    }
                    // An outage is notified by the fleet's background check of the agent,
                    // once, whether or not a window watches one of its jobs.
                    Some(WatchItem::State(s)) => Some(JobUpdate::Connection { state: connection(&s) }),
                },
                Some(error) = not_recorded.recv() => Some(JobUpdate::NotRecorded { error }),
                _ = sleep => throttle.flush_due(now()).map(|ev| event(&ev)),
            };
            if let Some(update) = out
                && sink.deliver(&update).is_err()
            {
                return;
            }
        }
    })
}
