//! The watcher's logic, independent of HTTP: SSE first; on failure reconnect on the backoff
//! schedule; after five failed reconnections in a row poll every second, keep trying SSE in
//! the background and return to it when it works. Whatever the transport does, events reach
//! the consumer exactly once and in seq order.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use tidemark_core::{Fingerprint, ProgressEvent};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::backoff::Backoff;

/// How the watcher is connected, for the user to see.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnState {
    Connecting,
    /// Receiving the live stream.
    Connected,
    /// Waiting `delay_ms` before reconnection `attempt` of `of`.
    Reconnecting {
        attempt: u32,
        of: u32,
        delay_ms: u64,
    },
    /// The stream keeps failing; fetching by seq every poll interval.
    Polling,
    /// Neither the stream nor polling reaches the agent.
    Offline {
        reason: String,
    },
    /// The agent refused the token: retrying would not help.
    AuthFailed {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    Event(ProgressEvent),
    /// The agent no longer keeps some events: this is the full state that stands in for them.
    Resync(ProgressEvent),
    State(ConnState),
}

/// Why a watch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEnd {
    /// The job's terminal event was delivered.
    Finished,
    AuthFailed,
    /// The agent does not know the job (or not for this token).
    NotFound,
    /// The agent answered 204: nothing to stream.
    NoContent,
    /// The consumer went away.
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    Auth(String),
    NotFound(String),
    NoContent,
    Failed(String),
    /// The agent's certificate was refused (no authority signed it, it expired, it names
    /// another host): waiting does not change that.
    Untrusted(String),
    /// The agent answered the request with an error of its own (`{code, message}`): a
    /// read-only token, a path outside its roots, a job that is not running.
    Refused {
        status: u16,
        error: tidemark_core::ErrorInfo,
    },
    /// The agent at `agent` (`HOST:PORT`) presented another certificate than the pinned one.
    Fingerprint {
        agent: String,
        expected: Fingerprint,
        actual: Fingerprint,
    },
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auth(m) => write!(f, "the agent refused the token: {m}"),
            Self::NotFound(m) => write!(f, "not found: {m}"),
            Self::NoContent => f.write_str("the agent has nothing to stream"),
            Self::Failed(m) => f.write_str(m),
            Self::Untrusted(reason) => write!(
                f,
                "the agent's certificate is not trusted ({reason}); an agent's own certificate \
                 is trusted through its pairing link (tidemark agent pair)"
            ),
            Self::Refused { error, .. } => f.write_str(&error.message),
            Self::Fingerprint {
                agent,
                expected,
                actual,
            } => write!(
                f,
                "the agent at {agent} presented a certificate with fingerprint {actual}, but it \
                 was paired with fingerprint {expected}; if the agent's certificate was replaced \
                 on purpose, pair again"
            ),
        }
    }
}

impl std::error::Error for TransportError {}

/// One event as a stream delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub resync: bool,
    pub event: ProgressEvent,
}

/// What a progress stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The agent's greeting: this is a Tidemark stream, whether or not events follow soon.
    Hello,
    Frame(Box<Frame>),
}

pub type FrameStream = Pin<Box<dyn Stream<Item = Result<Incoming, TransportError>> + Send>>;

/// What the watcher needs from an agent. The real one speaks HTTP; tests script one.
pub trait Transport: Send + Sync {
    /// Opens the progress stream after seq `after` (headers checked, no event read yet).
    fn open(&self, after: u64) -> impl Future<Output = Result<FrameStream, TransportError>> + Send;
    /// Every event after seq `since`.
    fn events_since(
        &self,
        since: u64,
    ) -> impl Future<Output = Result<Vec<ProgressEvent>, TransportError>> + Send;
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub reconnections_before_polling: u32,
    pub poll_interval: Duration,
    /// How often SSE is tried again while polling.
    pub sse_retry_interval: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// Multiplies every backoff delay: 1.0 in use; end-to-end tests run the real protocol
    /// faster with a smaller one (the schedule itself is tested on a paused clock).
    pub backoff_scale: f64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            reconnections_before_polling: 5,
            poll_interval: Duration::from_secs(1),
            sse_retry_interval: Duration::from_secs(30),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7),
            backoff_scale: 1.0,
        }
    }
}

/// What one attempt at the stream came to.
enum Attempt {
    /// It delivered at least one event, then ended or broke.
    Delivered,
    /// It failed before delivering anything.
    Failed,
    Done(WatchEnd),
}

/// Watches one job from after seq `after` until its terminal event, sending everything to
/// `tx`. Returns why it ended.
pub async fn run<T: Transport>(
    transport: T,
    after: u64,
    cfg: WatchConfig,
    tx: mpsc::Sender<WatchItem>,
) -> WatchEnd {
    let mut w = Watcher {
        t: transport,
        backoff: Backoff::new(cfg.seed),
        cfg,
        tx,
        last: after,
        shown: None,
    };
    w.run().await
}

struct Watcher<T> {
    t: T,
    cfg: WatchConfig,
    tx: mpsc::Sender<WatchItem>,
    backoff: Backoff,
    /// seq of the last event delivered.
    last: u64,
    shown: Option<ConnState>,
}

/// The consumer is gone.
struct Gone;

impl<T: Transport> Watcher<T> {
    async fn run(&mut self) -> WatchEnd {
        if self.state(ConnState::Connecting).await.is_err() {
            return WatchEnd::Stopped;
        }
        let mut outcome = self.attempt().await;
        let mut reconnection = 0;
        loop {
            match outcome {
                Attempt::Done(end) => return end,
                Attempt::Delivered => reconnection = 0,
                Attempt::Failed if reconnection >= self.cfg.reconnections_before_polling => {
                    outcome = self.poll_until_sse().await;
                    reconnection = 0;
                    continue;
                }
                Attempt::Failed => {}
            }
            reconnection += 1;
            let delay = self
                .backoff
                .delay(reconnection)
                .mul_f64(self.cfg.backoff_scale);
            let shown = ConnState::Reconnecting {
                attempt: reconnection,
                of: self.cfg.reconnections_before_polling,
                delay_ms: delay.as_millis() as u64,
            };
            if self.state(shown).await.is_err() {
                return WatchEnd::Stopped;
            }
            sleep(delay).await;
            outcome = self.attempt().await;
        }
    }

    /// One connection: open, read until it ends.
    async fn attempt(&mut self) -> Attempt {
        let mut stream = match self.t.open(self.last).await {
            Ok(s) => s,
            Err(TransportError::Auth(message)) => {
                let _ = self.state(ConnState::AuthFailed { message }).await;
                return Attempt::Done(WatchEnd::AuthFailed);
            }
            Err(TransportError::NotFound(_)) => return Attempt::Done(WatchEnd::NotFound),
            Err(TransportError::NoContent) => return Attempt::Done(WatchEnd::NoContent),
            // A refused certificate is a failed connection like any other: the watch keeps
            // trying, and while polling the offline state gives the mismatch as its reason.
            Err(
                TransportError::Failed(_)
                | TransportError::Untrusted(_)
                | TransportError::Fingerprint { .. }
                | TransportError::Refused { .. },
            ) => {
                return Attempt::Failed;
            }
        };
        let mut delivered = false;
        while let Some(incoming) = stream.next().await {
            let Ok(incoming) = incoming else { break };
            // Headers can lie (a proxy's 200 page); "live" means our protocol came through.
            if self.state(ConnState::Connected).await.is_err() {
                return Attempt::Done(WatchEnd::Stopped);
            }
            let Incoming::Frame(frame) = incoming else {
                continue;
            };
            match self.deliver(*frame).await {
                Ok(Delivered::Terminal) => return Attempt::Done(WatchEnd::Finished),
                Ok(Delivered::Some) => delivered = true,
                Ok(Delivered::Nothing) => {}
                Err(Stop::Gone) => return Attempt::Done(WatchEnd::Stopped),
                // A gap that could not be filled: reconnect from the last good seq.
                Err(Stop::Gap) => break,
            }
        }
        if delivered {
            Attempt::Delivered
        } else {
            Attempt::Failed
        }
    }

    /// Polls every interval; tries SSE again every retry interval and returns to it.
    async fn poll_until_sse(&mut self) -> Attempt {
        if self.state(ConnState::Polling).await.is_err() {
            return Attempt::Done(WatchEnd::Stopped);
        }
        let mut next_sse = Instant::now() + self.cfg.sse_retry_interval;
        loop {
            let tick = Instant::now() + self.cfg.poll_interval;
            match self.t.events_since(self.last).await {
                Ok(events) => {
                    if matches!(self.shown, Some(ConnState::Offline { .. }))
                        && self.state(ConnState::Polling).await.is_err()
                    {
                        return Attempt::Done(WatchEnd::Stopped);
                    }
                    for ev in events {
                        match self
                            .deliver(Frame {
                                resync: false,
                                event: ev,
                            })
                            .await
                        {
                            Ok(Delivered::Terminal) => return Attempt::Done(WatchEnd::Finished),
                            Ok(_) | Err(Stop::Gap) => {}
                            Err(Stop::Gone) => return Attempt::Done(WatchEnd::Stopped),
                        }
                    }
                }
                Err(TransportError::Auth(message)) => {
                    let _ = self.state(ConnState::AuthFailed { message }).await;
                    return Attempt::Done(WatchEnd::AuthFailed);
                }
                Err(TransportError::NotFound(_)) => return Attempt::Done(WatchEnd::NotFound),
                Err(e) => {
                    if self
                        .state(ConnState::Offline {
                            reason: e.to_string(),
                        })
                        .await
                        .is_err()
                    {
                        return Attempt::Done(WatchEnd::Stopped);
                    }
                }
            }
            if Instant::now() >= next_sse {
                match self.attempt().await {
                    Attempt::Failed => {
                        next_sse = Instant::now() + self.cfg.sse_retry_interval;
                        if self.state(ConnState::Polling).await.is_err() {
                            return Attempt::Done(WatchEnd::Stopped);
                        }
                    }
                    back => return back,
                }
            }
            sleep_until(tick).await;
        }
    }

    /// Hands an event on unless it was already delivered; fills a gap by seq first.
    async fn deliver(&mut self, frame: Frame) -> Result<Delivered, Stop> {
        let ev = frame.event;
        if frame.resync {
            if ev.seq <= self.last {
                return Ok(Delivered::Nothing);
            }
            self.last = ev.seq;
            let terminal = ev.is_terminal();
            self.send(WatchItem::Resync(ev)).await?;
            return Ok(if terminal {
                Delivered::Terminal
            } else {
                Delivered::Some
            });
        }
        if ev.seq <= self.last {
            return Ok(Delivered::Nothing);
        }
        if ev.seq > self.last + 1 {
            // Something was missed: fetch it by seq before going on.
            let missed = timeout(Duration::from_secs(10), self.t.events_since(self.last))
                .await
                .map_err(|_| Stop::Gap)?
                .map_err(|_| Stop::Gap)?;
            let mut outcome = Delivered::Nothing;
            for m in missed.into_iter().filter(|m| m.seq < ev.seq) {
                if m.seq == self.last + 1 {
                    outcome = self.accept(m).await?;
                }
            }
            if ev.seq != self.last + 1 {
                return Err(Stop::Gap);
            }
            let last = self.accept(ev).await?;
            return Ok(if matches!(outcome, Delivered::Terminal) {
                outcome
            } else {
                last
            });
        }
        self.accept(ev).await
    }

    async fn accept(&mut self, ev: ProgressEvent) -> Result<Delivered, Stop> {
        self.last = ev.seq;
        let terminal = ev.is_terminal();
        self.send(WatchItem::Event(ev)).await?;
        Ok(if terminal {
            Delivered::Terminal
        } else {
            Delivered::Some
        })
    }

    async fn send(&self, item: WatchItem) -> Result<(), Stop> {
        self.tx.send(item).await.map_err(|_| Stop::Gone)
    }

    /// Reports a state change (repeats are not news).
    async fn state(&mut self, s: ConnState) -> Result<(), Gone> {
        if self.shown.as_ref() == Some(&s) {
            return Ok(());
        }
        self.shown = Some(s.clone());
        self.tx.send(WatchItem::State(s)).await.map_err(|_| Gone)
    }
}

enum Delivered {
    Nothing,
    Some,
    Terminal,
}

enum Stop {
    Gone,
    Gap,
}
