//! The per-job event log: the single source of truth every consumer reads from.
//!
//! Producers append; the log assigns `seq` (1, 2, 3, … with no gap). Consumers hold a
//! [`Subscription`], a cursor into the log: replay and live delivery are the same read, so a
//! subscriber can neither see a gap nor a duplicate, and a slow one is never skipped — it just
//! reads further behind. Only when it falls behind what the log keeps does it get an explicit
//! [`Delivery::Resync`] with the current state, never a silent jump.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::event::ProgressEvent;

/// How many events the log keeps in memory by default. Engines emit at a bounded rate
/// (see [`crate::progress::Reporter`]), so this holds minutes of a busy job.
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
pub struct EventLog {
    inner: Mutex<Inner>,
    cond: Condvar,
    notify: Notify,
}

#[derive(Debug)]
struct Inner {
    events: VecDeque<Arc<ProgressEvent>>,
    /// seq of `events[0]`.
    first_seq: u64,
    /// seq the next appended event gets.
    next_seq: u64,
    capacity: usize,
    closed: bool,
    /// The seq this log's first event follows (0, or the last seq of an earlier run).
    started_after: u64,
}

impl Inner {
    /// Whether a cursor at `next` has something to read: an event, a resync (it is behind
    /// what is kept) or the end.
    fn has_delivery(&self, next: u64) -> bool {
        next < self.first_seq
            || ((next - self.first_seq) as usize) < self.events.len()
            || self.closed
    }
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Arc<ProgressEvent>),
    /// The subscriber asked for events the log no longer keeps (`missed_from..=missed_to`);
    /// `latest` is the full current state, and delivery continues after it.
    Resync {
        missed_from: u64,
        missed_to: u64,
        latest: Arc<ProgressEvent>,
    },
}

impl EventLog {
    pub fn new() -> Arc<Self> {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> Arc<Self> {
        Self::resuming(capacity, 0)
    }

    /// A log whose next event continues after `last_seq` (a resumed run appends to the same
    /// job's sequence).
    pub fn resuming(capacity: usize, last_seq: u64) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                events: VecDeque::new(),
                first_seq: last_seq + 1,
                next_seq: last_seq + 1,
                capacity: capacity.max(1),
                closed: false,
                started_after: last_seq,
            }),
            cond: Condvar::new(),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-updated (every mutation is
        // a single push/pop), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an event, assigning its `seq`. A terminal event closes the log.
    /// Returns the stored event; appending to a closed log returns `None`.
    pub fn append(&self, mut event: ProgressEvent) -> Option<Arc<ProgressEvent>> {
        let stored = {
            let mut inner = self.lock();
            if inner.closed {
                return None;
            }
            event.seq = inner.next_seq;
            inner.next_seq += 1;
            let stored = Arc::new(event);
            if stored.is_terminal() {
                inner.closed = true;
            }
            inner.events.push_back(stored.clone());
            if inner.events.len() > inner.capacity {
                inner.events.pop_front();
                inner.first_seq += 1;
            }
            stored
        };
        self.cond.notify_all();
        self.notify.notify_waiters();
        Some(stored)
    }

    /// Ends the log without a terminal event (the producer died); subscribers drain and stop.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
        self.notify.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The seq this log's first event follows: 0 for a new job, the last stored seq for a
    /// resumed one. `subscribe(started_after())` is "this run from its start".
    pub fn started_after(&self) -> u64 {
        self.lock().started_after
    }

    /// seq of the newest event, 0 if none yet.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    pub fn latest(&self) -> Option<Arc<ProgressEvent>> {
        self.lock().events.back().cloned()
    }

    /// Every kept event with seq > `since`.
    pub fn since(&self, since: u64) -> Vec<Arc<ProgressEvent>> {
        let inner = self.lock();
        let skip = since.saturating_add(1).saturating_sub(inner.first_seq) as usize;
        inner.events.iter().skip(skip).cloned().collect()
    }

    /// A cursor delivering every event with seq > `after`, then live ones, until the log is
    /// closed and drained. `subscribe(0)` replays from the first event.
    pub fn subscribe(self: &Arc<Self>, after: u64) -> Subscription {
        Subscription {
            log: self.clone(),
            next: after + 1,
        }
    }

    /// Non-blocking read for `next`: `Ok(Some)` a delivery, `Ok(None)` the end, `Err(())`
    /// nothing yet.
    fn poll(&self, next: &mut u64) -> Result<Option<Delivery>, ()> {
        let inner = self.lock();
        if *next < inner.first_seq {
            // Only reachable with a bounded log: the subscriber is behind what is kept.
            let Some(latest) = inner.events.back().cloned() else {
                return Err(());
            };
            let missed_from = *next;
            let missed_to = latest.seq.saturating_sub(1).max(missed_from);
            *next = latest.seq + 1;
            return Ok(Some(Delivery::Resync {
                missed_from,
                missed_to,
                latest,
            }));
        }
        let idx = (*next - inner.first_seq) as usize;
        if let Some(ev) = inner.events.get(idx) {
            *next += 1;
            return Ok(Some(Delivery::Event(ev.clone())));
        }
        if inner.closed { Ok(None) } else { Err(()) }
    }
}

/// A reader of one job's log. Dropping it is all it takes to unsubscribe.
#[derive(Debug)]
pub struct Subscription {
    log: Arc<EventLog>,
    next: u64,
}

impl Subscription {
    /// seq of the next event this subscription will deliver.
    pub fn position(&self) -> u64 {
        self.next
    }

    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// Blocks until the next delivery; `None` once the log is closed and fully read.
    pub fn next_blocking(&mut self) -> Option<Delivery> {
        let mut inner = self.log.lock();
        loop {
            drop(inner);
            if let Ok(d) = self.log.poll(&mut self.next) {
                return d;
            }
            inner = self.log.lock();
            // Re-check under the lock we wait on, so an append between poll and wait is seen.
            if !inner.has_delivery(self.next) {
                inner = self.log.cond.wait(inner).unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// Whether the next read returns at once (an event, a resync or the end), without waiting.
    pub fn is_ready(&self) -> bool {
        self.log.lock().has_delivery(self.next)
    }

    /// Async form of [`Self::next_blocking`]. Cancel-safe: the cursor only moves when a
    /// delivery is returned.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            let notified = self.log.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so an append racing with the check still wakes us.
            notified.as_mut().enable();
            if let Ok(d) = self.log.poll(&mut self.next) {
                return d;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::event;
    use std::time::Duration;

    fn seqs(deliveries: &[Delivery]) -> Vec<u64> {
        deliveries
            .iter()
            .map(|d| match d {
                Delivery::Event(e) => e.seq,
                Delivery::Resync { latest, .. } => latest.seq,
            })
            .collect()
    }

    fn drain(sub: &mut Subscription) -> Vec<Delivery> {
        std::iter::from_fn(|| sub.next_blocking()).collect()
    }

    #[test]
    fn is_ready_says_whether_a_read_would_wait() {
        let log = EventLog::with_capacity(2);
        let mut sub = log.subscribe(0);
        assert!(!sub.is_ready(), "nothing appended yet");
        log.append(event(0, false));
        assert!(sub.is_ready());
        assert!(sub.next_blocking().is_some());
        assert!(!sub.is_ready(), "everything read");
        for _ in 0..3 {
            log.append(event(0, false));
        }
        assert!(sub.is_ready(), "behind what is kept: a resync is ready");
        assert!(matches!(sub.next_blocking(), Some(Delivery::Resync { .. })));
        assert!(!sub.is_ready());
        log.close();
        assert!(sub.is_ready(), "the end is ready");
        assert!(sub.next_blocking().is_none());
    }

    #[test]
    fn seq_is_assigned_contiguously_from_one() {
        let log = EventLog::new();
        for _ in 0..5 {
            log.append(event(0, false));
        }
        log.append(event(0, true));
        let got: Vec<u64> = log.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(got, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(log.last_seq(), 6);
    }

    #[test]
    fn terminal_event_closes_the_log() {
        let log = EventLog::new();
        log.append(event(0, true));
        assert!(log.is_closed());
        assert!(
            log.append(event(0, false)).is_none(),
            "nothing may follow a terminal event"
        );
    }

    #[test]
    fn replay_from_any_seq_then_live_has_no_gap_and_no_duplicate() {
        for start in 0..=7 {
            let log = EventLog::new();
            for _ in 0..7 {
                log.append(event(0, false));
            }
            let mut sub = log.subscribe(start);
            let producer = {
                let log = log.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        log.append(event(0, false));
                    }
                    log.append(event(0, true));
                })
            };
            let got = seqs(&drain(&mut sub));
            producer.join().expect("producer");
            let want: Vec<u64> = (start + 1..=28).collect();
            assert_eq!(got, want, "subscribed after seq {start}");
        }
    }

    #[test]
    fn a_lagging_subscriber_catches_up_instead_of_being_skipped() {
        let log = EventLog::new();
        let mut slow = log.subscribe(0);
        let producer = {
            let log = log.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    log.append(event(0, false));
                }
                log.append(event(0, true));
            })
        };
        let mut got = Vec::new();
        while let Some(d) = slow.next_blocking() {
            if got.len() % 1000 == 0 {
                // Fall far behind the producer on purpose.
                std::thread::sleep(Duration::from_millis(2));
            }
            got.push(d);
        }
        producer.join().expect("producer");
        assert_eq!(seqs(&got), (1..=10_001).collect::<Vec<_>>());
        assert!(got.iter().all(|d| matches!(d, Delivery::Event(_))));
    }

    #[test]
    fn behind_a_bounded_log_yields_an_explicit_resync() {
        let log = EventLog::with_capacity(3);
        for _ in 0..10 {
            log.append(event(0, false));
        }
        let mut sub = log.subscribe(2);
        match sub.next_blocking() {
            Some(Delivery::Resync {
                missed_from,
                missed_to,
                latest,
            }) => {
                assert_eq!((missed_from, missed_to, latest.seq), (3, 9, 10));
            }
            other => panic!("expected a resync, got {other:?}"),
        }
        log.append(event(0, true));
        assert_eq!(seqs(&drain(&mut sub)), vec![11]);
    }

    #[test]
    fn a_resumed_log_continues_the_sequence() {
        let log = EventLog::resuming(10, 41);
        assert_eq!(log.append(event(0, false)).map(|e| e.seq), Some(42));
    }

    #[tokio::test]
    async fn async_subscription_sees_replay_and_live() {
        let log = EventLog::new();
        log.append(event(0, false));
        let mut sub = log.subscribe(0);
        let producer = {
            let log = log.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    log.append(event(0, false));
                    tokio::task::yield_now().await;
                }
                log.append(event(0, true));
            })
        };
        let mut got = Vec::new();
        while let Some(d) = sub.next().await {
            got.push(d);
        }
        producer.await.expect("producer");
        assert_eq!(seqs(&got), (1..=52).collect::<Vec<_>>());
    }
}
