use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark_core::{ErrorCode, ErrorInfo, JobKind, JobSpec, JobState, ProgressEvent};

use crate::error::{StoreError, classify};
use crate::writer::EventWriter;

/// The schema version this build writes; `MIGRATIONS[v]` takes a database from `v` to `v + 1`.
pub const SCHEMA_VERSION: i64 = 3;

pub(crate) const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    r#"
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    spec          TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    percent       REAL,
    processed     INTEGER,
    total         INTEGER,
    bytes_done    INTEGER,
    bytes_total   INTEGER,
    result_url    TEXT,
    error_code    TEXT,
    error_message TEXT,
    last_seq      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE TABLE events (
    job_id    TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    state     TEXT NOT NULL,
    step      TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    json      TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
"#,
    // v2: who started a job (an agent's named token); NULL for local jobs.
    "ALTER TABLE jobs ADD COLUMN owner TEXT;",
    // v3: jobs recorded while watching an agent: which agent, and the job's id there.
    r#"
ALTER TABLE jobs ADD COLUMN remote_agent_id TEXT;
ALTER TABLE jobs ADD COLUMN remote_agent_name TEXT;
ALTER TABLE jobs ADD COLUMN remote_job_id TEXT;
CREATE UNIQUE INDEX jobs_by_remote ON jobs (remote_agent_id, remote_job_id)
    WHERE remote_job_id IS NOT NULL;
"#,
];

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

const JOB_COLUMNS: &str = "id, kind, spec, state, created_at, started_at, finished_at, percent, \
     processed, total, bytes_done, bytes_total, result_url, error_code, error_message, last_seq, owner, \
     remote_agent_id, remote_agent_name, remote_job_id";
/// Newest first; rowid breaks ties between jobs created in the same millisecond.
const NEWEST_FIRST: &str = "ORDER BY created_at DESC, rowid DESC";

/// One job as the history shows it: its spec and a summary of its newest event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub kind: JobKind,
    pub spec: JobSpec,
    pub state: JobState,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub percent: Option<f64>,
    pub processed: u64,
    pub total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    pub result_url: Option<String>,
    pub error: Option<ErrorInfo>,
    /// seq of the newest stored event; a resumed run's log continues after it.
    pub last_seq: u64,
    /// The agent token name that started the job; `None` for local jobs.
    pub owner: Option<String>,
    /// Set for a job that runs on an agent and was recorded while the app watched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<RemoteOrigin>,
}

/// Where a recorded remote job runs: the agent (as the app knows it) and the job's id there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteOrigin {
    /// The app's id for the agent.
    pub agent_id: String,
    /// The agent's name when the job was recorded (it stays readable if the agent is removed).
    pub agent_name: String,
    /// The job's id on the agent.
    pub job_id: String,
}

impl RemoteOrigin {
    /// The local id of the job: one per (agent, job there), never equal to a local job's id
    /// (those are bare UUIDs). Deterministic, so every watch of the job finds the same row.
    pub fn local_id(&self) -> String {
        format!("remote-{}-{}", self.agent_id, self.job_id)
    }
}

/// What [`Store::append_remote_events`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAppend {
    /// seq of the newest stored event of the job after the call.
    pub stored_up_to: u64,
    /// The seq of the first event not stored because events before it are missing.
    pub gap_at: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JobFilter {
    pub limit: Option<usize>,
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    /// Only the jobs this token name started.
    pub owner: Option<String>,
}

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

    /// A background writer with its own connection to this database.
    pub fn spawn_writer(&self) -> Result<EventWriter, StoreError> {
        EventWriter::spawn(Store::open(&self.path)?)
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

    fn run<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| classify(&self.path, context, e))
    }

    fn run_mut<T>(
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
        self.run("creating a job", |c| {
            c.execute(
                "INSERT INTO jobs (id, kind, spec, state, created_at, processed, bytes_done, owner) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6)",
                params![
                    id,
                    enum_text(&spec.kind()),
                    to_json(spec)?,
                    JobState::Queued.as_str(),
                    normalize_timestamp(created_at),
                    owner,
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
                 AND (?4 IS NULL OR owner = ?4) {NEWEST_FIRST} LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.state.map(JobState::as_str),
                    filter.kind.as_ref().map(enum_text),
                    sql_limit(filter.limit),
                    filter.owner,
                ],
                job_from_row,
            )?;
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

/// Creates the folder and refuses, before SQLite touches it, anything that is not a database.
fn prepare_path(path: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // create_dir_all's own error for this ("File exists") says nothing useful.
        if let Some(file) = parent
            .ancestors()
            .find(|a| a.exists())
            .filter(|a| !a.is_dir())
        {
            return Err(io_err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is a file, not a folder", file.display()),
            )));
        }
        fs::create_dir_all(parent).map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                StoreError::ReadOnly {
                    path: path.to_owned(),
                }
            }
            _ => io_err(io::Error::new(
                e.kind(),
                format!("cannot create the folder {}: {e}", parent.display()),
            )),
        })?;
    }
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(e)),
        Ok(m) if m.is_dir() => Err(io_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "this is a folder, not a database file",
        ))),
        // SQLite treats an empty file as a new database.
        Ok(m) if m.len() == 0 => Ok(()),
        Ok(_) => {
            let mut header = Vec::with_capacity(SQLITE_MAGIC.len());
            fs::File::open(path)
                .and_then(|f| f.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut header))
                .map_err(io_err)?;
            if header != SQLITE_MAGIC {
                return Err(StoreError::NotADatabase {
                    path: path.to_owned(),
                });
            }
            Ok(())
        }
    }
}

fn user_version(c: &Connection) -> rusqlite::Result<i64> {
    c.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// `created_at` orders the history as text, so every one is stored in the same UTC form.
fn normalize_timestamp(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.to_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .unwrap_or_else(|_| ts.to_owned())
}

/// SQLite reads a negative LIMIT as none.
fn sql_limit(limit: Option<usize>) -> i64 {
    limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX))
}

struct Summary<'a> {
    newest: &'a ProgressEvent,
    first_running: Option<&'a ProgressEvent>,
}

fn summaries(events: &[Arc<ProgressEvent>]) -> Vec<Summary<'_>> {
    let mut out: Vec<Summary<'_>> = Vec::new();
    for ev in events.iter().map(|e| &**e) {
        let i = match out.iter().position(|s| s.newest.job_id == ev.job_id) {
            Some(i) => i,
            None => {
                out.push(Summary {
                    newest: ev,
                    first_running: None,
                });
                out.len() - 1
            }
        };
        let s = &mut out[i];
        if ev.seq > s.newest.seq {
            s.newest = ev;
        }
        if ev.state == JobState::Running && s.first_running.is_none_or(|f| ev.seq < f.seq) {
            s.first_running = Some(ev);
        }
    }
    out
}

fn insert_event(c: &Connection, job_id: &str, ev: &ProgressEvent) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO events (job_id, seq, state, step, timestamp, json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        job_id,
        ev.seq,
        ev.state.as_str(),
        enum_text(&ev.step),
        ev.timestamp,
        to_json(ev)?,
    ])
    .map(drop)
}

/// Brings the job's summary up to `ev`, unless a newer one is there (`force`: regardless).
fn update_summary(
    c: &Connection,
    job_id: &str,
    ev: &ProgressEvent,
    first_running: Option<&ProgressEvent>,
    force: bool,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "UPDATE jobs SET state = ?2, percent = ?3, processed = ?4, total = ?5, \
         bytes_done = ?6, bytes_total = ?7, result_url = ?8, error_code = ?9, \
         error_message = ?10, last_seq = ?11, \
         started_at = COALESCE(started_at, ?12), finished_at = ?13 \
         WHERE id = ?1 AND (?14 OR last_seq < ?11)",
    )?
    .execute(params![
        job_id,
        ev.state.as_str(),
        ev.percent,
        ev.processed,
        ev.total,
        ev.bytes_done,
        ev.bytes_total,
        ev.result_url,
        ev.error.as_ref().map(|e| e.code.as_str()),
        ev.error.as_ref().map(|e| &e.message),
        ev.seq,
        first_running.map(|e| &e.timestamp),
        // Cleared again when a resumed run starts.
        ev.is_terminal().then_some(&ev.timestamp),
        force,
    ])
    .map(drop)
}

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let error = match r.get::<_, Option<String>>(13)? {
        None => None,
        Some(code) => Some(ErrorInfo {
            // A code from a newer build still shows, with its message.
            code: parse_enum(code).unwrap_or(ErrorCode::Internal),
            message: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
        }),
    };
    Ok(JobRecord {
        id: r.get(0)?,
        kind: enum_column(r, 1)?,
        spec: from_json(r, 2)?,
        state: enum_column(r, 3)?,
        created_at: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        percent: r.get(7)?,
        processed: r.get::<_, Option<u64>>(8)?.unwrap_or(0),
        total: r.get(9)?,
        bytes_done: r.get::<_, Option<u64>>(10)?.unwrap_or(0),
        bytes_total: r.get(11)?,
        result_url: r.get(12)?,
        error,
        last_seq: r.get(15)?,
        owner: r.get(16)?,
        remote: match (r.get(17)?, r.get::<_, Option<String>>(18)?, r.get(19)?) {
            (Some(agent_id), agent_name, Some(job_id)) => Some(RemoteOrigin {
                agent_id,
                agent_name: agent_name.unwrap_or_default(),
                job_id,
            }),
            _ => None,
        },
    })
}

/// The wire name of a unit enum (`snapshot`, `browsing`, …), so columns match the JSON.
fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_enum<T: DeserializeOwned>(text: String) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::Value::String(text))
}

fn enum_column<T: DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    parse_enum(r.get(idx)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn from_json<T: DeserializeOwned>(r: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    serde_json::from_str(&r.get::<_, String>(idx)?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}
