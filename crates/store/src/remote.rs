//! Remote jobs in the history: a watched agent's job, stored as a gap-free copy of the
//! agent's own event list.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use tidemark_core::{JobSpec, JobState, ProgressEvent};

use crate::error::StoreError;
use crate::rows::{
    RemoteAppend, RemoteOrigin, enum_text, insert_event, normalize_timestamp, to_json,
    update_summary,
};
use crate::store::Store;

impl Store {
    /// Records a job watched on an agent, `queued` until its events come; returns its local
    /// id ([`RemoteOrigin::local_id`]). Recording the same job again changes nothing, so two
    /// watches of one job share one row.
    pub fn create_remote_job(
        &self,
        origin: &RemoteOrigin,
        spec: &JobSpec,
        created_at: &str,
    ) -> Result<String, StoreError> {
        let id = origin.local_id();
        self.run("recording a remote job", |c| {
            c.execute(
                "INSERT INTO jobs (id, kind, spec, state, created_at, processed, bytes_done, \
                 remote_agent_id, remote_agent_name, remote_job_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                params![
                    id,
                    enum_text(&spec.kind()),
                    to_json(spec)?,
                    JobState::Queued.as_str(),
                    normalize_timestamp(created_at),
                    origin.agent_id,
                    origin.agent_name,
                    origin.job_id,
                ],
            )
            .map(drop)
        })?;
        Ok(id)
    }

    /// Stores events of the remote job `id` as the agent numbered them (their `jobId` stays
    /// the agent's), in one transaction. An event at or below the newest stored seq is
    /// skipped (another watch stored it); one right after it is stored; one further on is a
    /// gap: it and everything after it are left out, so what is stored never has a hole.
    pub fn append_remote_events(
        &mut self,
        id: &str,
        events: &[ProgressEvent],
    ) -> Result<RemoteAppend, StoreError> {
        self.run_mut("appending remote events", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut last: u64 = tx
                .query_row(
                    "SELECT last_seq FROM jobs WHERE id = ?1 AND remote_job_id IS NOT NULL",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            let mut gap_at = None;
            let mut newest = None;
            let mut first_running = None;
            for ev in events {
                if ev.seq <= last {
                    continue;
                }
                if ev.seq != last + 1 {
                    gap_at = Some(ev.seq);
                    break;
                }
                insert_event(&tx, id, ev)?;
                last = ev.seq;
                newest = Some(ev);
                if ev.state == JobState::Running && first_running.is_none() {
                    first_running = Some(ev);
                }
            }
            if let Some(ev) = newest {
                update_summary(&tx, id, ev, first_running, false)?;
            }
            tx.commit()?;
            Ok(RemoteAppend {
                stored_up_to: last,
                gap_at,
            })
        })
    }

    /// For a remote job whose agent no longer keeps events this store lacks: the stored
    /// events become exactly `events` (the agent's whole list, up to its first gap) and the
    /// summary becomes `state` (the agent's full state), so the copy has no hole and the next
    /// events follow `state`.
    pub fn replace_remote_events(
        &mut self,
        id: &str,
        events: &[ProgressEvent],
        state: &ProgressEvent,
    ) -> Result<RemoteAppend, StoreError> {
        self.run_mut("replacing remote events", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM events WHERE job_id = ?1 AND \
                 EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND remote_job_id IS NOT NULL)",
                [id],
            )?;
            let mut last = None::<&ProgressEvent>;
            let mut first_running = None;
            for ev in events {
                if last.is_some_and(|l| ev.seq != l.seq + 1) {
                    break;
                }
                insert_event(&tx, id, ev)?;
                if ev.state == JobState::Running && first_running.is_none() {
                    first_running = Some(ev);
                }
                last = Some(ev);
            }
            let newest = match last {
                Some(ev) if ev.seq > state.seq => ev,
                _ => state,
            };
            update_summary(&tx, id, newest, first_running, true)?;
            tx.commit()?;
            Ok(RemoteAppend {
                stored_up_to: newest.seq,
                gap_at: None,
            })
        })
    }
}
