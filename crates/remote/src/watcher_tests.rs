//! The watcher on tokio's paused clock, against a scripted transport: every delay and
//! decision is exact and takes no real time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tidemark_core::{Counters, JobKind, JobState, ProgressEvent, Step};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::watcher::*;

fn ev(seq: u64, last: u64) -> ProgressEvent {
    let terminal = seq == last;
    ProgressEvent {
        seq,
        state: if terminal {
            JobState::Completed
        } else {
            JobState::Running
        },
        step: if terminal {
            Step::Completed
        } else {
            Step::Copying
        },
        step_number: 3,
        percent: Some(seq as f64),
        counters: Counters {
            processed: seq,
            total: Some(last),
            ..Counters::default()
        },
        // Fixed, so that events built twice compare equal.
        timestamp: String::new(),
        ..ProgressEvent::blank("j", JobKind::Sync, 4)
    }
}

#[derive(Debug, Clone)]
enum Open {
    Fail,
    Auth,
    NoContent,
    /// Streams these seqs (as the agent would after `after`), then drops.
    Seqs(Vec<u64>),
    /// Streams everything visible after `after`, then drops.
    Visible,
}

/// A pretend agent: `last` events exist, of which the first `visible` are published.
#[derive(Clone)]
struct Scripted {
    last: u64,
    visible: Arc<AtomicU64>,
    opens: Arc<Mutex<VecDeque<Open>>>,
    open_times: Arc<Mutex<Vec<Instant>>>,
    polls_fail: Arc<Mutex<u32>>,
}

impl Scripted {
    fn new(last: u64, visible: u64, opens: Vec<Open>) -> Self {
        Self {
            last,
            visible: Arc::new(AtomicU64::new(visible)),
            opens: Arc::new(Mutex::new(opens.into())),
            open_times: Arc::default(),
            polls_fail: Arc::default(),
        }
    }
}

impl Transport for Scripted {
    async fn open(&self, after: u64) -> Result<FrameStream, TransportError> {
        self.open_times.lock().expect("lock").push(Instant::now());
        let next = self
            .opens
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Open::Fail);
        let seqs: Vec<u64> = match next {
            Open::Fail => return Err(TransportError::Failed("refused".into())),
            Open::Auth => return Err(TransportError::Auth("HTTP 401".into())),
            Open::NoContent => return Err(TransportError::NoContent),
            Open::Seqs(s) => s,
            Open::Visible => (after + 1..=self.visible.load(Ordering::SeqCst)).collect(),
        };
        let last = self.last;
        let frames: Vec<Result<Incoming, TransportError>> = seqs
            .into_iter()
            .map(|s| {
                Ok(Incoming::Frame(Box::new(Frame {
                    resync: false,
                    event: ev(s, last),
                })))
            })
            .collect();
        Ok(futures_util::stream::iter(frames).boxed())
    }

    async fn events_since(&self, since: u64) -> Result<Vec<ProgressEvent>, TransportError> {
        {
            let mut fails = self.polls_fail.lock().expect("lock");
            if *fails > 0 {
                *fails -= 1;
                return Err(TransportError::Failed("connection refused".into()));
            }
        }
        let visible = self.visible.load(Ordering::SeqCst);
        Ok((since + 1..=visible).map(|s| ev(s, self.last)).collect())
    }
}

fn cfg() -> WatchConfig {
    WatchConfig {
        seed: 99,
        ..WatchConfig::default()
    }
}

/// Runs the watcher, calling `on` for each item (to move the pretend agent along), and
/// returns every item and how it ended.
async fn drive(
    t: Scripted,
    mut on: impl FnMut(&WatchItem, &Scripted),
) -> (Vec<WatchItem>, WatchEnd) {
    let (tx, mut rx) = mpsc::channel(16);
    let task = tokio::spawn(run(t.clone(), 0, cfg(), tx));
    let mut items = Vec::new();
    while let Some(item) = rx.recv().await {
        on(&item, &t);
        items.push(item);
    }
    (items, task.await.expect("watcher task"))
}

fn seqs(items: &[WatchItem]) -> Vec<u64> {
    items
        .iter()
        .filter_map(|i| match i {
            WatchItem::Event(e) | WatchItem::Resync(e) => Some(e.seq),
            WatchItem::State(_) => None,
        })
        .collect()
}

fn states(items: &[WatchItem]) -> Vec<ConnState> {
    items
        .iter()
        .filter_map(|i| match i {
            WatchItem::State(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn polls_after_exactly_five_failed_reconnections_then_returns_to_sse() {
    let mut opens = vec![Open::Visible];
    opens.extend(std::iter::repeat_n(Open::Fail, 5));
    // The background retry while polling finds the stream back, with the rest of the job.
    opens.push(Open::Seqs((7..=10).collect()));
    let t = Scripted::new(10, 3, opens);
    let start = Instant::now();
    let (items, end) = drive(t.clone(), |item, t| {
        // The agent moves on while the watcher polls.
        if let WatchItem::State(ConnState::Polling) = item {
            t.visible.store(6, Ordering::SeqCst);
        }
    })
    .await;
    assert_eq!(end, WatchEnd::Finished);
    assert_eq!(
        seqs(&items),
        (1..=10).collect::<Vec<_>>(),
        "every event once, in order"
    );

    let st = states(&items);
    let reconnecting: Vec<(u32, u64)> = st
        .iter()
        .filter_map(|s| match s {
            ConnState::Reconnecting {
                attempt, delay_ms, ..
            } => Some((*attempt, *delay_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reconnecting.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for (attempt, delay) in &reconnecting {
        let base = [1000, 2000, 4000, 8000, 15000][*attempt as usize - 1] as f64;
        assert!(
            (*delay as f64) >= base * 0.8 && (*delay as f64) <= base * 1.2,
            "{attempt}: {delay}"
        );
    }
    let polling_at = st
        .iter()
        .position(|s| *s == ConnState::Polling)
        .expect("polling");
    let fifth = st
        .iter()
        .position(|s| matches!(s, ConnState::Reconnecting { attempt: 5, .. }))
        .expect("5th");
    assert!(
        polling_at > fifth,
        "polling only after the fifth reconnection failed"
    );
    assert_eq!(
        st.last(),
        Some(&ConnState::Connected),
        "back on the stream at the end"
    );

    let times = t.open_times.lock().expect("lock").clone();
    assert_eq!(times.len(), 7, "1 + 5 reconnections + 1 retry from polling");
    let waited: u64 = reconnecting.iter().map(|r| r.1).sum();
    // Reported delays are whole milliseconds; the sleeps are exact.
    let slept = (times[5] - times[0]).as_millis() as u64;
    assert!(
        slept >= waited && slept - waited <= 5,
        "each attempt after its delay: {slept} vs {waited}"
    );
    assert_eq!(
        times[6] - times[5],
        Duration::from_secs(30),
        "SSE retried after 30 s of polling"
    );
    assert_eq!(Instant::now() - start, times[6] - times[0]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_stops_at_once_without_retrying() {
    let t = Scripted::new(3, 3, vec![Open::Auth]);
    let (items, end) = drive(t.clone(), |_, _| {}).await;
    assert_eq!(end, WatchEnd::AuthFailed);
    assert!(matches!(
        states(&items).last(),
        Some(ConnState::AuthFailed { .. })
    ));
    assert_eq!(
        t.open_times.lock().expect("lock").len(),
        1,
        "no retry storm"
    );
}

#[tokio::test(start_paused = true)]
async fn no_content_stops_the_watch() {
    let (_, end) = drive(Scripted::new(3, 3, vec![Open::NoContent]), |_, _| {}).await;
    assert_eq!(end, WatchEnd::NoContent);
}

#[tokio::test(start_paused = true)]
async fn duplicates_are_dropped_and_a_gap_is_filled_by_seq() {
    let t = Scripted::new(6, 6, vec![Open::Seqs(vec![1, 2, 2, 1, 3, 5, 6])]);
    let (items, end) = drive(t, |_, _| {}).await;
    assert_eq!(end, WatchEnd::Finished);
    assert_eq!(seqs(&items), vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ends_before_any_event_counts_as_failed() {
    let mut opens = vec![Open::Seqs(vec![])];
    opens.extend(std::iter::repeat_n(Open::Seqs(vec![]), 5));
    let t = Scripted::new(2, 2, opens);
    let (items, end) = drive(t, |_, _| {}).await;
    assert_eq!(end, WatchEnd::Finished, "polling got the events in the end");
    assert_eq!(seqs(&items), vec![1, 2]);
    assert!(states(&items).contains(&ConnState::Polling));
}

#[tokio::test(start_paused = true)]
async fn polling_that_fails_reports_offline_and_recovers() {
    let t = Scripted::new(4, 4, std::iter::repeat_n(Open::Fail, 20).collect());
    *t.polls_fail.lock().expect("lock") = 3;
    let (items, end) = drive(t, |_, _| {}).await;
    assert_eq!(end, WatchEnd::Finished);
    assert_eq!(seqs(&items), vec![1, 2, 3, 4]);
    let st = states(&items);
    let offline = st
        .iter()
        .position(|s| matches!(s, ConnState::Offline { .. }))
        .expect("offline");
    assert_eq!(
        st[offline + 1],
        ConnState::Polling,
        "back to polling once it works"
    );
}
