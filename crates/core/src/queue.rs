//! The job queue: at most N jobs of a process run at once; the others wait in line, in the
//! order they were started, as `queued`.
//!
//! One [`JobQueue`] is shared by everything that starts jobs in a process (the agent, the
//! desktop app, scheduled runs) and handed to each job through `JobOptions::queue`. A job
//! takes its place in line when it is spawned ([`JobQueue::enter`]), so the order is the
//! order of the spawns, whatever its thread does next; its thread then waits for a slot
//! ([`Ticket::wait`]) and holds it ([`Slot`]) until the job's terminal event is in its log.
//!
//! - **Cancel while queued:** the job leaves the line and never starts.
//! - **Pause while queued:** the job keeps its place but lets the jobs behind it pass while
//!   it is paused; once resumed it is first in line again. A *running* job that is paused
//!   keeps its slot (it has work half done).
//! - **Changing the limit** ([`JobQueue::set_limit`]) applies to waiting jobs at once; running
//!   jobs are never stopped by a lower limit, they only hold back the next starts.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};

use crate::control::{Control, Waker};
use crate::error::Cancelled;

/// How many jobs run at once where nobody said otherwise.
pub const DEFAULT_LIMIT: usize = 2;

/// A line of jobs and the number of them that may run at once. Cheap to clone: every clone is
/// the same queue.
#[derive(Clone)]
pub struct JobQueue {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a waiter's place or chance may have changed.
    cond: Condvar,
}

struct State {
    limit: usize,
    running: usize,
    line: VecDeque<Waiter>,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    control: Control,
}

impl Waiter {
    /// A paused or cancelled waiter lets the others pass.
    fn may_start(&self) -> bool {
        !self.control.is_paused() && !self.control.is_cancelled()
    }
}

/// Where a waiting job stands, as its progress tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Jobs in line before this one that will start first (paused and cancelled ones do not
    /// count: they let it pass).
    pub ahead: usize,
    /// Paused while waiting: it keeps its place, but starts only once resumed.
    pub paused: bool,
}

impl Place {
    /// What a waiting job's events say.
    pub fn message(&self) -> String {
        match (self.paused, self.ahead) {
            (true, _) => "Paused while queued: it keeps its place and starts once resumed".into(),
            (false, 0) => "Waiting: next in line".into(),
            (false, 1) => "Waiting: 1 job ahead".into(),
            (false, n) => format!("Waiting: {n} jobs ahead"),
        }
    }
}

impl State {
    fn position(&self, ticket: u64) -> Option<usize> {
        self.line.iter().position(|w| w.ticket == ticket)
    }

    /// This waiter's place, and whether a free slot would be its.
    fn place(&self, ticket: u64) -> (Place, bool) {
        let Some(pos) = self.position(ticket) else {
            return (
                Place {
                    ahead: 0,
                    paused: false,
                },
                false,
            );
        };
        let ahead = self.line.iter().take(pos).filter(|w| w.may_start()).count();
        let me = &self.line[pos];
        let place = Place {
            ahead,
            paused: me.control.is_paused(),
        };
        (place, ahead == 0 && me.may_start())
    }

    fn leave(&mut self, ticket: u64) {
        if let Some(pos) = self.position(ticket) {
            self.line.remove(pos);
        }
    }
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("JobQueue")
            .field("limit", &s.limit)
            .field("running", &s.running)
            .field("waiting", &s.line.len())
            .finish()
    }
}

impl Default for JobQueue {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl JobQueue {
    /// A queue running at most `limit` jobs at once. A limit of 0 is taken as 1: a queue that
    /// never starts anything is never what is meant (the agent refuses `--max-jobs 0`).
    pub fn new(limit: usize) -> JobQueue {
        JobQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    limit: limit.max(1),
                    running: 0,
                    line: VecDeque::new(),
                    next_ticket: 0,
                }),
                cond: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes how many jobs run at once; waiting jobs start at once if there is room now.
    pub fn set_limit(&self, limit: usize) {
        self.lock().limit = limit.max(1);
        self.shared.cond.notify_all();
    }

    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Jobs holding a slot (running or paused after they started).
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Jobs in line.
    pub fn waiting(&self) -> usize {
        self.lock().line.len()
    }

    /// Puts a job at the end of the line. `control` is the job's: cancelling it takes the
    /// job out of the line, pausing it lets others pass.
    pub fn enter(&self, control: &Control) -> Ticket {
        let mut s = self.lock();
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.line.push_back(Waiter {
            ticket,
            control: control.clone(),
        });
        let (place, first) = s.place(ticket);
        let must_wait = !(first && s.running < s.limit);
        // A free slot is taken now, before the job's thread runs: a pause that comes right
        // after the start then finds a started job (paused, as any running job pauses), not
        // one that lets others pass it while a slot stands free.
        if !must_wait {
            s.leave(ticket);
            s.running += 1;
        }
        drop(s);
        Ticket {
            queue: self.clone(),
            ticket,
            control: control.clone(),
            shown: must_wait.then_some(place),
            in_line: must_wait,
            granted: !must_wait,
        }
    }

    fn waker(&self) -> Waker {
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        Waker(Arc::new(move || {
            if let Some(shared) = weak.upgrade() {
                // Taken so the notice cannot fall between a waiter's look and its wait.
                let _guard = shared.state.lock();
                shared.cond.notify_all();
            }
        }))
    }
}

/// A job's place in line. Dropping it without waiting leaves the line.
#[derive(Debug)]
pub struct Ticket {
    queue: JobQueue,
    ticket: u64,
    control: Control,
    /// The place last reported, `None` while the job looked free to start.
    shown: Option<Place>,
    in_line: bool,
    /// A slot was free when it entered: it holds one already.
    granted: bool,
}

impl Ticket {
    /// Where the job stands if it has to wait, as it stood when it entered the line; `None`
    /// if a slot was free then.
    pub fn waiting_place(&self) -> Option<Place> {
        self.shown
    }

    /// Waits for a slot. `on_change` is told each new place while waiting (not the one
    /// [`Self::waiting_place`] gave). Fails, leaving the line, if the job is cancelled first.
    pub fn wait(mut self, mut on_change: impl FnMut(Place)) -> Result<Slot, Cancelled> {
        if self.granted {
            self.granted = false;
            return Ok(Slot {
                queue: self.queue.clone(),
            });
        }
        self.control.set_waker(Some(self.queue.waker()));
        let result = self.wait_inner(&mut on_change);
        self.control.set_waker(None);
        self.in_line = false;
        result
    }

    fn wait_inner(&mut self, on_change: &mut impl FnMut(Place)) -> Result<Slot, Cancelled> {
        let shared = self.queue.shared.clone();
        loop {
            let mut s = self.queue.lock();
            let place = loop {
                if self.control.is_cancelled() {
                    s.leave(self.ticket);
                    drop(s);
                    shared.cond.notify_all();
                    return Err(Cancelled);
                }
                let (place, first) = s.place(self.ticket);
                if first && s.running < s.limit {
                    s.leave(self.ticket);
                    s.running += 1;
                    drop(s);
                    // The others' places moved up.
                    shared.cond.notify_all();
                    return Ok(Slot {
                        queue: self.queue.clone(),
                    });
                }
                if self.shown != Some(place) {
                    break place;
                }
                s = shared.cond.wait(s).unwrap_or_else(|p| p.into_inner());
            };
            drop(s);
            self.shown = Some(place);
            on_change(place);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.in_line {
            self.queue.lock().leave(self.ticket);
            self.queue.shared.cond.notify_all();
        }
        if self.granted {
            // Never waited for: the slot it was given goes back.
            drop(Slot {
                queue: self.queue.clone(),
            });
        }
    }
}

/// A running job's slot, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    queue: JobQueue,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.queue.lock();
        s.running = s.running.saturating_sub(1);
        drop(s);
        self.queue.shared.cond.notify_all();
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
