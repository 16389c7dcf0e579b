//! Recording a watched remote job in the local history. Each watch hands what its watcher
//! delivers to a [`RemoteRecorder`], which writes it on a thread of its own (SQLite never
//! slows what a window shows) as a copy of the agent's own event list:
//!
//! - the job's row is keyed by (agent, job id there) ([`RemoteOrigin::local_id`]) and created
//!   from the agent's `GET /api/v1/jobs/{id}` (its spec, with the agent's paths);
//! - events are stored as the agent numbered them, idempotently by seq, only right after the
//!   newest stored one: two watches of one job store each event once, and nothing is stored
//!   after a hole;
//! - a hole (a write that failed earlier, or a resync) is filled from the agent's events
//!   endpoint; if the agent no longer has those events either, the copy becomes the agent's
//!   whole list and the job's summary the newest state;
//! - when the job ends, or the agent reports it interrupted, the copy is compared with the
//!   agent's list and replaced by it if they differ (an agent killed before writing events
//!   it had streamed numbers its next events again from what it kept);
//! - a failure is logged and reported to the window once, the progress keeps showing, and the
//!   items stay pending and are retried, so a transient failure loses nothing.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use tidemark_core::{JobState, ProgressEvent};
use tidemark_remote::{HttpTransport, Transport, TransportError};
use tidemark_store::{RemoteOrigin, Store};
use tokio::runtime::Handle;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::error::{Error, Result};
use crate::types::AppError;

/// How long a failed write waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Retries left once the watch has ended with items still unwritten.
const RETRIES_AFTER_END: u32 = 10;
/// The longest a request to the agent may take.
const REQUEST: Duration = Duration::from_secs(10);

/// What a watcher delivered, as the recorder takes it.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Event(ProgressEvent),
    /// The full state standing in for events the agent no longer streams.
    Resync(ProgressEvent),
}

/// The sending side; dropping it lets the recorder finish what is pending and stop.
pub(crate) struct RemoteRecorder {
    tx: Sender<Record>,
    thread: std::thread::JoinHandle<()>,
}

impl RemoteRecorder {
    /// Starts recording `origin`'s job into `db`. Failures come out of the receiver, once per
    /// run of failures.
    pub(crate) fn spawn(
        db: PathBuf,
        origin: RemoteOrigin,
        transport: HttpTransport,
        runtime: Handle,
    ) -> Result<(RemoteRecorder, UnboundedReceiver<AppError>)> {
        let (tx, rx) = mpsc::channel();
        let (failures, failed) = unbounded_channel();
        let worker = Worker {
            db,
            origin,
            transport,
            runtime,
            store: None,
            local_id: None,
            failures,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("tidemark-remote-history".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| Error::io("starting the remote history writer", e))?;
        Ok((RemoteRecorder { tx, thread }, failed))
    }

    /// Hands an item over; never blocks.
    pub(crate) fn offer(&self, record: Record) {
        // The worker only goes away with this sender, or after a panic it has reported.
        let _ = self.tx.send(record);
    }

    /// No more items: waits (at most `limit`) for what was handed over to be written.
    pub(crate) async fn finish(self, limit: Duration) {
        let RemoteRecorder { tx, thread } = self;
        drop(tx);
        let joined = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(limit, joined).await.is_err() {
            tracing::warn!("history: still writing a remote job's events after the watch");
        }
    }
}

struct Worker {
    db: PathBuf,
    origin: RemoteOrigin,
    transport: HttpTransport,
    runtime: Handle,
    store: Option<Store>,
    local_id: Option<String>,
    failures: UnboundedSender<AppError>,
    failing: bool,
}

impl Worker {
    fn run(mut self, rx: Receiver<Record>) {
        let mut pending: Vec<Record> = Vec::new();
        let mut ended = false;
        let mut retries_after_end = 0;
        loop {
            if pending.is_empty() {
                match rx.recv() {
                    Ok(r) => pending.push(r),
                    Err(_) => return,
                }
            } else if !ended {
                match rx.recv_timeout(RETRY) {
                    Ok(r) => pending.push(r),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => ended = true,
                }
            } else {
                if retries_after_end >= RETRIES_AFTER_END {
                    tracing::error!(
                        job = %self.origin.job_id,
                        agent = %self.origin.agent_name,
                        "history: gave up recording {} event(s)",
                        pending.len()
                    );
                    return;
                }
                retries_after_end += 1;
                std::thread::sleep(RETRY);
            }
            pending.extend(rx.try_iter());
            match self.flush(&pending) {
                Ok(()) => {
                    pending.clear();
                    self.failing = false;
                }
                Err(e) => self.fail(e),
            }
        }
    }

    fn fail(&mut self, e: Error) {
        // A connection that failed may be the cause: the next try opens a new one.
        self.store = None;
        if self.failing {
            return;
        }
        self.failing = true;
        tracing::error!(
            job = %self.origin.job_id,
            agent = %self.origin.agent_name,
            "history: recording the job: {e}"
        );
        let _window_gone = self.failures.send(AppError::from(e));
    }

    fn flush(&mut self, items: &[Record]) -> Result<()> {
        let id = self.ensure_job()?;
        let mut run: Vec<ProgressEvent> = Vec::new();
        for item in items {
            match item {
                Record::Event(ev) => run.push(ev.clone()),
                Record::Resync(ev) => {
                    self.store_events(&id, &std::mem::take(&mut run))?;
                    self.store_events(&id, std::slice::from_ref(ev))?;
                }
            }
        }
        self.store_events(&id, &run)?;
        let settled = items.iter().any(|r| {
            let (Record::Event(ev) | Record::Resync(ev)) = r;
            ev.is_terminal() || ev.state == JobState::Interrupted
        });
        if settled {
            self.reconcile(&id)?;
        }
        Ok(())
    }

    /// Once the job ended, or the agent said it was interrupted (it restarted), the copy is
    /// checked against the agent's list. They differ only if the agent lost events it had
    /// already streamed (killed before writing them) and numbered its next ones again from
    /// what it had kept: then the agent's list is the truth and the copy becomes it.
    fn reconcile(&mut self, id: &str) -> Result<()> {
        let theirs = self.events_since(0)?;
        let ours = self.store()?.events_since(id, 0)?;
        if theirs.starts_with(&ours) {
            // The same, or the agent is further along: take the rest now.
            self.store()?
                .append_remote_events(id, &theirs[ours.len()..])?;
            return Ok(());
        }
        let Some(newest) = theirs.last() else {
            return Ok(());
        };
        tracing::warn!(
            job = %self.origin.job_id,
            agent = %self.origin.agent_name,
            "history: the agent renumbered the job's events; copying its list"
        );
        self.store()?.replace_remote_events(id, &theirs, newest)?;
        Ok(())
    }

    fn store(&mut self) -> Result<&mut Store> {
        if self.store.is_none() {
            self.store = Some(Store::open(&self.db)?);
        }
        self.store
            .as_mut()
            .ok_or_else(|| Error::Internal("history store not open".into()))
    }

    /// The job's row, created on first need from what the agent says of the job.
    fn ensure_job(&mut self) -> Result<String> {
        if let Some(id) = &self.local_id {
            return Ok(id.clone());
        }
        let local = self.origin.local_id();
        let id = if self.store()?.job(&local)?.is_some() {
            local
        } else {
            let transport = self.transport.clone();
            let detail = self.request(async move { transport.job().await })?;
            let origin = self.origin.clone();
            self.store()?
                .create_remote_job(&origin, &detail.spec, &detail.created_at)?
        };
        self.local_id = Some(id.clone());
        Ok(id)
    }

    /// Stores `events` (in seq order) after the stored ones, filling a hole first.
    fn store_events(&mut self, id: &str, events: &[ProgressEvent]) -> Result<()> {
        let Some(newest) = events.last() else {
            return Ok(());
        };
        let got = self.store()?.append_remote_events(id, events)?;
        if got.gap_at.is_none() {
            return Ok(());
        }
        // Events this copy lacks: the agent's list has them.
        let missed = self.events_since(got.stored_up_to)?;
        self.store()?.append_remote_events(id, &missed)?;
        if self
            .store()?
            .append_remote_events(id, events)?
            .gap_at
            .is_none()
        {
            return Ok(());
        }
        // The agent no longer keeps them either: copy what it keeps, and its newest state.
        let all = self.events_since(0)?;
        let store = self.store()?;
        store.replace_remote_events(id, &all, newest)?;
        store.append_remote_events(id, events)?;
        Ok(())
    }

    fn events_since(&self, since: u64) -> Result<Vec<ProgressEvent>> {
        let transport = self.transport.clone();
        self.request(async move { transport.events_since(since).await })
    }

    fn request<T>(
        &self,
        f: impl Future<Output = std::result::Result<T, TransportError>>,
    ) -> Result<T> {
        let unreachable = |reason: String| Error::AgentUnreachable {
            url: self.origin.agent_name.clone(),
            reason,
        };
        self.runtime
            .block_on(async { tokio::time::timeout(REQUEST, f).await })
            .map_err(|_| unreachable("no answer in time".into()))?
            .map_err(|e| match e {
                TransportError::Auth(reason) => Error::AgentAuthFailed {
                    url: self.origin.agent_name.clone(),
                    reason,
                },
                TransportError::NotFound(m) => Error::NotFound(m),
                e @ TransportError::Fingerprint { .. } => Error::FingerprintMismatch(e.to_string()),
                e @ TransportError::Untrusted(_) => Error::UntrustedCertificate(e.to_string()),
                other => unreachable(other.to_string()),
            })
    }
}
