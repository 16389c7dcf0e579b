//! [`Store`]: one connection to the history database; local jobs, their events and
//! checkpoints. Remote jobs' writes are in `remote`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tidemark_core::{JobSpec, JobState, ProgressEvent};

use crate::error::{StoreError, classify};
use crate::rows::{
    JOB_COLUMNS, JobFilter, JobRecord, NEWEST_FIRST, enum_column, enum_text, from_json,
    insert_event, job_from_row, normalize_timestamp, sql_limit, summaries, to_json, update_summary,
};
use crate::schema::{MIGRATIONS, SCHEMA_VERSION, prepare_path, user_version};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the history database. One per thread: it is `Send`, not `Sync`.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its folder if needed) and migrates the database at `path`.
    /// Never overwrites a file that is not a Tidemark database or comes from a newer build.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        prepare_path(path)?;
        // No URI flag: a file named `file:…` is a file, not a URI.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| classify(path, "opening", e))?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        self.run("configuring", |c| c.busy_timeout(BUSY_TIMEOUT))?;
        // Checked before any pragma that writes (WAL changes the header): a newer build's file
        // must stay byte for byte as it was.
        let found = self.run("reading the schema version", user_version)?;
        self.check_version(found)?;
        self.run("configuring", |c| {
            c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")
        })
    }

    fn check_version(&self, found: i64) -> Result<(), StoreError> {
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        if self.run("reading the schema version", user_version)? == SCHEMA_VERSION {
            return Ok(());
        }
        let found = self.run_mut("migrating", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Another process may have migrated between the check above and this lock.
            let found = user_version(&tx)?;
            if found >= SCHEMA_VERSION {
                return Ok(found);
            }
            let from = usize::try_from(found).unwrap_or(0);
            for sql in &MIGRATIONS[from..] {
                tx.execute_batch(sql)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
            tx.commit()?;
            Ok(SCHEMA_VERSION)
        })?;
        self.check_version(found)
    }

    pub(crate) fn run<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| classify(&self.path, context, e))
    }

    pub(crate) fn run_mut<T>(
        &mut self,
        context: &'static str,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&mut self.conn).map_err(|e| classify(&self.path, context, e))
    }

    /// Records a new job, `queued`, with no event yet.
    pub fn create_job(&self, id: &str, spec: &JobSpec, created_at: &str) -> Result<(), StoreError> {
        self.create_owned_job(id, spec, created_at, None)
    }

    /// [`Self::create_job`] for a job started by `owner` (an agent's token name).
    pub fn create_owned_job(
        &self,
        id: &str,
        spec: &JobSpec,
        created_at: &str,
        owner: Option<&str>,
    ) -> Result<(), StoreError> {
        self.create_job_with(id, spec, created_at, owner, None)
    }

    /// [`Self::create_owned_job`] for a run of the plan `plan_id`, if any.
    pub fn create_job_with(
        &self,
        id: &str,
        spec: &JobSpec,
        created_at: &str,
        owner: Option<&str>,
        plan_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.run("creating a job", |c| {
            c.execute(
                "INSERT INTO jobs (id, kind, spec, state, created_at, processed, bytes_done, owner, plan_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6, ?7)",
                params![
                    id,
                    enum_text(&spec.kind()),
                    to_json(spec)?,
                    JobState::Queued.as_str(),
                    normalize_timestamp(created_at),
                    owner,
                    plan_id,
                ],
            )
            .map(drop)
        })
    }

    /// Stores a batch of events (of one job or several) in one transaction and brings each
    /// job's summary up to its newest event. Events already stored are skipped, so replaying
    /// a batch is harmless.
    pub fn append_events(&mut self, events: &[Arc<ProgressEvent>]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.run_mut("appending events", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for ev in events {
                insert_event(&tx, &ev.job_id, ev)?;
            }
            for s in summaries(events) {
                update_summary(&tx, &s.newest.job_id, s.newest, s.first_running, false)?;
            }
            tx.commit()
        })
    }

    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        self.run("reading a job", |c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_from_row,
            )
            .optional()
        })
    }

    /// Jobs newest first.
    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>, StoreError> {
        self.run("listing jobs", |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs \
                 WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR kind = ?2) \
                 AND (?4 IS NULL OR owner = ?4) AND (?5 IS NULL OR plan_id = ?5) \
                 {NEWEST_FIRST} LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.state.map(JobState::as_str),
                    filter.kind.as_ref().map(enum_text),
                    sql_limit(filter.limit),
                    filter.owner,
                    filter.plan_id,
                ],
                job_from_row,
            )?;
            rows.collect()
        })
    }

    /// How many jobs the history holds in each state; states no job is in are left out.
    pub fn count_by_state(&self) -> Result<Vec<(JobState, u64)>, StoreError> {
        self.run("counting jobs", |c| {
            let mut stmt =
                c.prepare_cached("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")?;
            let rows = stmt.query_map([], |r| Ok((enum_column(r, 0)?, r.get::<_, u64>(1)?)))?;
            rows.collect()
        })
    }

    /// The job's stored events with seq > `since_seq`, in seq order.
    pub fn events_since(
        &self,
        job_id: &str,
        since_seq: u64,
    ) -> Result<Vec<ProgressEvent>, StoreError> {
        self.run("reading events", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT json FROM events WHERE job_id = ?1 AND seq > ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![job_id, since_seq], |r| from_json(r, 0))?;
            rows.collect()
        })
    }

    /// Marks every local job that never reached an end (the process stopped under it) as
    /// `interrupted`; returns their ids. Meant for startup, before any job runs. A remote
    /// job's state is the agent's to tell, so it is left as it is.
    pub fn mark_interrupted(&self) -> Result<Vec<String>, StoreError> {
        self.run("marking interrupted jobs", |c| {
            let mut stmt = c.prepare(
                "UPDATE jobs SET state = 'interrupted' \
                 WHERE state IN ('queued', 'running', 'paused') AND remote_job_id IS NULL \
                 RETURNING id",
            )?;
            let ids = stmt.query_map([], |r| r.get(0))?;
            ids.collect()
        })
    }

    pub fn set_checkpoint(&self, job_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.run("saving a checkpoint", |c| {
            c.execute(
                "INSERT INTO checkpoints (job_id, key, value) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value",
                [job_id, key, value],
            )
            .map(drop)
        })
    }

    /// The job's checkpoints, by key.
    pub fn checkpoints(&self, job_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.run("reading checkpoints", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, value FROM checkpoints WHERE job_id = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([job_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Deletes the events (not the jobs) of all but the newest `keep_runs` jobs; returns how
    /// many events went.
    pub fn prune(&self, keep_runs: usize) -> Result<usize, StoreError> {
        self.run("pruning events", |c| {
            c.execute(
                &format!(
                    "DELETE FROM events WHERE job_id NOT IN \
                     (SELECT id FROM jobs {NEWEST_FIRST} LIMIT ?1)"
                ),
                [sql_limit(Some(keep_runs))],
            )
        })
    }
}
