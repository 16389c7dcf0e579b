//! No updates to hidden windows: while every window is hidden the shell sends the webviews
//! nothing (a webview hidden in the tray for hours would otherwise still parse and lay out
//! ten updates a second), and the moment one shows it gets the current state at once.
//!
//! [`Visibility`] is the gate. The shell asks it before emitting an app-wide change
//! ([`Visibility::jobs_changed`], [`Visibility::fleet_changed`]) and wraps every window
//! channel in a [`GatedSink`]. While hidden, what would have been sent is folded into the
//! newest state (an event replaces the one before it: each carries the whole state) and
//! handed back by [`Visibility::set_visible`] when a window shows again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tidemark_core::{ProgressSink, SinkClosed};

use crate::app::lock;
use crate::pause::PauseState;
use crate::types::{Fleet, JobSummary, JobUpdate, JobsChanged};
use tidemark_plans::PlanSummary;

/// Whether any window shows. Cheap to clone: every clone is the same gate.
#[derive(Clone, Default)]
pub struct Visibility {
    inner: Arc<Mutex<Gate>>,
}

impl std::fmt::Debug for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visibility")
            .field("hidden", &lock(&self.inner).hidden)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Gate {
    hidden: bool,
    /// The jobs changed while hidden, as they are now, by id; `true` when ended.
    jobs: BTreeMap<String, (JobSummary, bool)>,
    fleet: Option<Fleet>,
    pause: Option<PauseState>,
    plans: Option<Vec<PlanSummary>>,
    /// Held strongly: a subscription that ended while hidden (its job ended) leaves its last
    /// state and its `closed` here until a window shows.
    sinks: Vec<Arc<Mutex<Held>>>,
}

/// What a window must be told when it shows again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catchup {
    /// The net change of the jobs while hidden, if any.
    pub jobs: Option<JobsChanged>,
    /// The newest fleet, if it changed while hidden.
    pub fleet: Option<Fleet>,
    /// "Pause everything" as it is now, if it changed while hidden.
    pub pause: Option<PauseState>,
    /// Every plan as it is now, if one changed while hidden.
    pub plans: Option<Vec<PlanSummary>>,
}

impl Visibility {
    pub fn is_hidden(&self) -> bool {
        lock(&self.inner).hidden
    }

    /// Records whether any window shows. On becoming visible, every held channel message
    /// goes out now (newest state first, then what came after it), and the app-wide changes
    /// held meanwhile are returned for the shell to emit.
    pub fn set_visible(&self, visible: bool) -> Catchup {
        let (sinks, catchup) = {
            let mut gate = lock(&self.inner);
            if gate.hidden != visible {
                return Catchup::default();
            }
            gate.hidden = !visible;
            if !visible {
                return Catchup::default();
            }
            let jobs = std::mem::take(&mut gate.jobs);
            let catchup = Catchup {
                jobs: (!jobs.is_empty()).then(|| {
                    let (ended, active): (Vec<_>, Vec<_>) =
                        jobs.into_values().partition(|(_, ended)| *ended);
                    JobsChanged {
                        active: active.into_iter().map(|(j, _)| j).collect(),
                        ended: ended.into_iter().map(|(j, _)| j).collect(),
                    }
                }),
                fleet: gate.fleet.take(),
                pause: gate.pause.take(),
                plans: gate.plans.take(),
            };
            (gate.sinks.clone(), catchup)
        };
        // Outside the gate's lock: a channel's send may take a while.
        for held in &sinks {
            lock(held).flush();
        }
        lock(&self.inner).sinks.retain(|h| !lock(h).done());
        catchup
    }

    /// Whether to emit `change` now; while hidden it is kept for the catch-up instead.
    pub fn jobs_changed(&self, change: &JobsChanged) -> bool {
        let mut gate = lock(&self.inner);
        if !gate.hidden {
            return true;
        }
        for job in &change.active {
            // An end heard already stays an end: a job never runs again under its id.
            if !gate.jobs.get(&job.id).is_some_and(|(_, ended)| *ended) {
                gate.jobs.insert(job.id.clone(), (job.clone(), false));
            }
        }
        for job in &change.ended {
            gate.jobs.insert(job.id.clone(), (job.clone(), true));
        }
        false
    }

    /// Whether to emit `fleet` now; while hidden only the newest is kept.
    pub fn fleet_changed(&self, fleet: &Fleet) -> bool {
        let mut gate = lock(&self.inner);
        if !gate.hidden {
            return true;
        }
        if gate
            .fleet
            .as_ref()
            .is_none_or(|f| fleet.revision >= f.revision)
        {
            gate.fleet = Some(fleet.clone());
        }
        false
    }

    /// Whether to emit a change of "pause everything" now; while hidden the newest is kept.
    pub fn pause_changed(&self, state: &PauseState) -> bool {
        let mut gate = lock(&self.inner);
        if gate.hidden {
            gate.pause = Some(state.clone());
        }
        !gate.hidden
    }

    /// Whether to emit the plans now; while hidden only the newest list is kept.
    pub fn plans_changed(&self, plans: &[PlanSummary]) -> bool {
        let mut gate = lock(&self.inner);
        if gate.hidden {
            gate.plans = Some(plans.to_vec());
        }
        !gate.hidden
    }

    /// Wraps a window's channel so that it is sent nothing while every window is hidden.
    pub fn gate(&self, sink: Box<dyn ProgressSink<JobUpdate>>) -> GatedSink {
        let held = Arc::new(Mutex::new(Held {
            sink,
            event: None,
            connection: None,
            after: Vec::new(),
            closed: false,
            dropped: false,
        }));
        let mut gate = lock(&self.inner);
        gate.sinks.retain(|h| !lock(h).done());
        gate.sinks.push(held.clone());
        drop(gate);
        GatedSink {
            held,
            gate: self.clone(),
        }
    }
}

/// A window channel behind the gate.
pub struct GatedSink {
    held: Arc<Mutex<Held>>,
    gate: Visibility,
}

impl std::fmt::Debug for GatedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedSink").finish_non_exhaustive()
    }
}

struct Held {
    sink: Box<dyn ProgressSink<JobUpdate>>,
    /// The newest event held back (it carries the whole state: older ones add nothing).
    event: Option<JobUpdate>,
    /// The newest connection state held back.
    connection: Option<JobUpdate>,
    /// What may not be folded (not recorded, closed), in order, after the above.
    after: Vec<JobUpdate>,
    closed: bool,
    /// Its subscription has ended: once what it holds is out, it is forgotten.
    dropped: bool,
}

impl Drop for GatedSink {
    fn drop(&mut self) {
        lock(&self.held).dropped = true;
    }
}

impl Held {
    fn done(&self) -> bool {
        self.closed
            || (self.dropped
                && self.event.is_none()
                && self.connection.is_none()
                && self.after.is_empty())
    }

    fn flush(&mut self) {
        let held = [self.connection.take(), self.event.take()]
            .into_iter()
            .flatten()
            .chain(std::mem::take(&mut self.after));
        for update in held {
            if self.closed {
                return;
            }
            self.closed = self.sink.deliver(&update).is_err();
        }
    }
}

impl ProgressSink<JobUpdate> for GatedSink {
    fn deliver(&mut self, update: &JobUpdate) -> Result<(), SinkClosed> {
        // The gate first, then this channel: the order `set_visible` takes them in.
        let hidden = self.gate.is_hidden();
        let mut held = lock(&self.held);
        if held.closed {
            return Err(SinkClosed);
        }
        if hidden {
            match update {
                JobUpdate::Event { .. } if held.after.is_empty() => {
                    held.event = Some(update.clone())
                }
                JobUpdate::Connection { .. } if held.after.is_empty() => {
                    held.connection = Some(update.clone())
                }
                _ => held.after.push(update.clone()),
            }
            return Ok(());
        }
        held.flush();
        if held.closed {
            return Err(SinkClosed);
        }
        held.sink
            .deliver(update)
            .inspect_err(|_| held.closed = true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tidemark_core::{JobKind, JobState, ProgressEvent};

    use super::*;
    use crate::types::ConnectionState;

    /// Every update a window received, in order.
    #[derive(Clone, Default)]
    struct Window(Arc<Mutex<Vec<JobUpdate>>>);

    impl ProgressSink<JobUpdate> for Window {
        fn deliver(&mut self, update: &JobUpdate) -> Result<(), SinkClosed> {
            lock(&self.0).push(update.clone());
            Ok(())
        }
    }

    impl Window {
        fn got(&self) -> Vec<JobUpdate> {
            lock(&self.0).clone()
        }
    }

    fn ev(seq: u64) -> JobUpdate {
        let mut e = ProgressEvent::blank("j", JobKind::Snapshot, 6);
        e.seq = seq;
        e.state = JobState::Running;
        // `blank` stamps the time now: the same seq must be the same event wherever it is
        // made (the test compares what was sent with events it makes again).
        e.timestamp = "2026-12-02T10:00:00.000Z".into();
        JobUpdate::Event { event: Arc::new(e) }
    }

    fn summary(id: &str, state: JobState) -> JobSummary {
        JobSummary {
            state,
            ..crate::summary::queued(id, JobKind::Snapshot, "2026-12-02T10:00:00Z".into())
        }
    }

    #[test]
    fn a_hidden_window_is_sent_nothing_then_the_newest_state_at_once() {
        let vis = Visibility::default();
        let window = Window::default();
        let mut sink = vis.gate(Box::new(window.clone()));
        sink.deliver(&ev(1)).expect("sent");
        assert_eq!(window.got().len(), 1);

        vis.set_visible(false);
        for seq in 2..50 {
            sink.deliver(&ev(seq)).expect("held");
        }
        sink.deliver(&JobUpdate::Connection {
            state: ConnectionState::Live,
        })
        .expect("held");
        assert_eq!(window.got().len(), 1, "nothing while hidden");

        // Shown: without waiting for the job's next event.
        vis.set_visible(true);
        assert_eq!(
            window.got(),
            vec![
                ev(1),
                JobUpdate::Connection {
                    state: ConnectionState::Live
                },
                ev(49)
            ]
        );
        sink.deliver(&ev(50)).expect("sent");
        assert_eq!(window.got().last(), Some(&ev(50)));
    }

    /// A job that ends while hidden ends its subscription too (the sink is dropped): its
    /// last state and the end still reach the window when it shows, in that order.
    #[test]
    fn an_end_while_hidden_comes_after_the_last_state() {
        let vis = Visibility::default();
        let window = Window::default();
        let mut sink = vis.gate(Box::new(window.clone()));
        vis.set_visible(false);
        sink.deliver(&ev(7)).expect("held");
        sink.deliver(&ev(8)).expect("held");
        sink.deliver(&JobUpdate::Closed).expect("held");
        drop(sink);
        assert!(window.got().is_empty());
        vis.set_visible(true);
        assert_eq!(window.got(), vec![ev(8), JobUpdate::Closed]);
        assert!(lock(&vis.inner).sinks.is_empty(), "forgotten once flushed");
    }

    #[test]
    fn app_wide_changes_fold_into_one_catchup() {
        let vis = Visibility::default();
        let change =
            |active: Vec<JobSummary>, ended: Vec<JobSummary>| JobsChanged { active, ended };
        assert!(vis.jobs_changed(&change(vec![summary("a", JobState::Running)], vec![])));
        vis.set_visible(false);
        assert!(!vis.jobs_changed(&change(vec![summary("a", JobState::Paused)], vec![])));
        assert!(!vis.jobs_changed(&change(vec![summary("b", JobState::Running)], vec![])));
        assert!(!vis.jobs_changed(&change(vec![], vec![summary("b", JobState::Completed)])));
        // A late "active" for an ended job must not bring it back.
        assert!(!vis.jobs_changed(&change(vec![summary("b", JobState::Running)], vec![])));
        let fleet = |revision| Fleet {
            revision,
            ..Fleet::default()
        };
        assert!(!vis.fleet_changed(&fleet(3)));
        assert!(!vis.fleet_changed(&fleet(2)));
        let catchup = vis.set_visible(true);
        assert_eq!(
            catchup.jobs,
            Some(change(
                vec![summary("a", JobState::Paused)],
                vec![summary("b", JobState::Completed)]
            ))
        );
        assert_eq!(catchup.fleet.map(|f| f.revision), Some(3));
        // Visible again: changes go straight out, nothing is held twice.
        assert!(vis.jobs_changed(&change(vec![summary("a", JobState::Running)], vec![])));
        assert_eq!(vis.set_visible(true), Catchup::default());
    }
}
