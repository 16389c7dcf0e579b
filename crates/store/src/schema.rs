//! The database's shape: the migrations, and what is checked before SQLite opens a file.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use rusqlite::Connection;

use crate::error::StoreError;

/// The schema version this build writes; `MIGRATIONS[v]` takes a database from `v` to `v + 1`.
pub const SCHEMA_VERSION: i64 = 4;

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
    // v4: plans (saved jobs with a schedule), the plan each run came from, the due runs
    // claimed (so two schedulers on one database start a due run once) and a few settings
    // shared by every process on the database (the global pause).
    r#"
CREATE TABLE plans (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE COLLATE NOCASE,
    kind              TEXT NOT NULL,
    spec              TEXT NOT NULL,
    schedule          TEXT,
    keep              INTEGER,
    stale_after_secs  INTEGER,
    paused_until      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    stale_notified_at TEXT
);
ALTER TABLE jobs ADD COLUMN plan_id TEXT;
CREATE INDEX jobs_by_plan ON jobs (plan_id, created_at) WHERE plan_id IS NOT NULL;
CREATE TABLE plan_runs_claimed (
    plan_id    TEXT NOT NULL,
    due_at     TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    job_id     TEXT,
    PRIMARY KEY (plan_id, due_at)
) WITHOUT ROWID;
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"#,
];

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Creates the folder and refuses, before SQLite touches it, anything that is not a database.
pub(crate) fn prepare_path(path: &Path) -> Result<(), StoreError> {
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

pub(crate) fn user_version(c: &Connection) -> rusqlite::Result<i64> {
    c.pragma_query_value(None, "user_version", |r| r.get(0))
}
