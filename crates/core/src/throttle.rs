//! Coalescing of what is *shown*: at most one update per interval, but a step change, a state
//! change (pause, resume) and the terminal event pass at once and are never dropped.
//!
//! [`Throttle`] is the clock-free decision; [`ThrottledSubscription`] drives it from a log
//! with tokio's timer, so tests run it on a paused clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::{JobState, ProgressEvent, Step};
use crate::log::{Delivery, Subscription};

#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last_emit: Option<Instant>,
    last_shape: Option<(Step, JobState)>,
    pending: Option<Arc<ProgressEvent>>,
}

impl Throttle {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_emit: None,
            last_shape: None,
            pending: None,
        }
    }

    /// Offers an event at `now`; returns what to show now, if anything. A held event is
    /// replaced by newer ones and surfaces at [`Self::deadline`].
    pub fn offer(&mut self, event: Arc<ProgressEvent>, now: Instant) -> Option<Arc<ProgressEvent>> {
        let urgent = event.is_terminal() || self.last_shape != Some((event.step, event.state));
        let due = self
            .last_emit
            .is_none_or(|t| now.duration_since(t) >= self.interval);
        if urgent || due {
            // Anything held is older than this event, which carries the newer state.
            self.pending = None;
            return Some(self.emit(event, now));
        }
        self.pending = Some(event);
        None
    }

    /// When the held event must be shown, if one is held.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending
            .as_ref()
            .and(self.last_emit)
            .map(|t| t + self.interval)
    }

    /// Shows the held event if its time has come.
    pub fn flush_due(&mut self, now: Instant) -> Option<Arc<ProgressEvent>> {
        match self.deadline() {
            Some(d) if now >= d => {
                let ev = self.pending.take()?;
                Some(self.emit(ev, now))
            }
            _ => None,
        }
    }

    fn emit(&mut self, event: Arc<ProgressEvent>, now: Instant) -> Arc<ProgressEvent> {
        self.last_emit = Some(now);
        self.last_shape = Some((event.step, event.state));
        event
    }
}

/// A subscription whose output is throttled to one update per interval (plus urgent ones).
#[derive(Debug)]
pub struct ThrottledSubscription {
    sub: Subscription,
    throttle: Throttle,
    ended: bool,
}

impl ThrottledSubscription {
    pub fn new(sub: Subscription, interval: Duration) -> Self {
        Self {
            sub,
            throttle: Throttle::new(interval),
            ended: false,
        }
    }

    pub async fn next(&mut self) -> Option<Arc<ProgressEvent>> {
        loop {
            let now = || tokio::time::Instant::now().into_std();
            if let Some(ev) = self.throttle.flush_due(now()) {
                return Some(ev);
            }
            if self.ended {
                // The terminal event always passes at once, so anything still held is stale.
                return None;
            }
            let deadline = self.throttle.deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                delivery = self.sub.next() => match delivery {
                    Some(Delivery::Event(ev)) | Some(Delivery::Resync { latest: ev, .. }) => {
                        if let Some(ev) = self.throttle.offer(ev, now()) {
                            return Some(ev);
                        }
                    }
                    None => {
                        self.ended = true;
                        // A log that ended without a terminal event still shows its last state.
                        if let Some(ev) = self.throttle.pending.take() {
                            return Some(ev);
                        }
                    }
                },
                _ = sleep => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::EventLog;
    use crate::testutil::{event, event_at_step};

    #[test]
    fn updates_within_the_interval_are_coalesced_to_the_latest() {
        let t0 = Instant::now();
        let mut th = Throttle::new(Duration::from_millis(100));
        assert!(
            th.offer(Arc::new(event(1, false)), t0).is_some(),
            "first passes"
        );
        assert!(
            th.offer(Arc::new(event(2, false)), t0 + Duration::from_millis(10))
                .is_none()
        );
        assert!(
            th.offer(Arc::new(event(3, false)), t0 + Duration::from_millis(20))
                .is_none()
        );
        assert_eq!(th.deadline(), Some(t0 + Duration::from_millis(100)));
        assert!(th.flush_due(t0 + Duration::from_millis(99)).is_none());
        let shown = th
            .flush_due(t0 + Duration::from_millis(100))
            .expect("held event is due");
        assert_eq!(shown.seq, 3, "the newest held event is the one shown");
        assert!(th.deadline().is_none());
    }

    #[test]
    fn step_changes_and_terminal_events_pass_at_once() {
        let t0 = Instant::now();
        let mut th = Throttle::new(Duration::from_secs(10));
        th.offer(Arc::new(event_at_step(1, Step::Browsing)), t0);
        let ms = Duration::from_millis(1);
        assert!(
            th.offer(Arc::new(event_at_step(2, Step::Browsing)), t0 + ms)
                .is_none()
        );
        let step = th.offer(Arc::new(event_at_step(3, Step::Manifest)), t0 + ms * 2);
        assert_eq!(step.map(|e| e.seq), Some(3));
        let end = th.offer(Arc::new(event(4, true)), t0 + ms * 3);
        assert_eq!(end.map(|e| e.seq), Some(4));
        assert!(
            th.deadline().is_none(),
            "nothing older than the terminal event is left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_subscription_bounds_the_rate_and_keeps_the_terminal_event() {
        let log = EventLog::new();
        let interval = Duration::from_millis(100);
        let mut shown = ThrottledSubscription::new(log.subscribe(0), interval);
        let producer = {
            let log = log.clone();
            tokio::spawn(async move {
                // 1,000 updates at 1 ms apart: one second of a chatty job.
                for _ in 0..1000 {
                    log.append(event(0, false));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                log.append(event(0, true));
            })
        };
        let start = tokio::time::Instant::now();
        let mut got = Vec::new();
        while let Some(ev) = shown.next().await {
            got.push((tokio::time::Instant::now() - start, ev));
        }
        producer.await.expect("producer");
        let last = &got.last().expect("something shown").1;
        assert!(last.is_terminal(), "the terminal event is shown, last");
        assert_eq!(last.seq, 1001);
        // One second at 10/s: 10 or 11 periodic updates plus the first and the terminal one.
        assert!(
            got.len() <= 13,
            "rate bound broken: {} updates shown",
            got.len()
        );
        assert!(
            got.len() >= 10,
            "updates were dropped instead of coalesced: {}",
            got.len()
        );
        for pair in got.windows(2) {
            let gap = pair[1].0 - pair[0].0;
            assert!(
                pair[1].1.is_terminal() || gap >= interval,
                "two updates {gap:?} apart"
            );
            assert!(pair[1].1.seq > pair[0].1.seq, "order kept");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_update_surfaces_when_the_producer_goes_quiet() {
        let log = EventLog::new();
        let mut shown = ThrottledSubscription::new(log.subscribe(0), Duration::from_secs(1));
        log.append(event(0, false));
        log.append(event(0, false));
        assert_eq!(shown.next().await.map(|e| e.seq), Some(1));
        let before = tokio::time::Instant::now();
        assert_eq!(
            shown.next().await.map(|e| e.seq),
            Some(2),
            "held update is not lost"
        );
        assert_eq!(tokio::time::Instant::now() - before, Duration::from_secs(1));
    }
}
