//! Plans (saved jobs with a schedule) as rows, the claims that make a due run start once
//! whatever the number of schedulers on the database, and the settings every process on the
//! database shares. What a plan means (schedules, staleness, retention) is tidemark-plans'.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use tidemark_core::{JobKind, JobSpec};

use crate::error::StoreError;
use crate::rows::{enum_column, enum_text, from_json, normalize_timestamp, to_json};
use crate::store::Store;

/// One plan as stored. Times are RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    pub id: String,
    /// Unique, compared without regard to case.
    pub name: String,
    pub kind: JobKind,
    pub spec: JobSpec,
    /// The schedule as the user wrote it; `None`: runs only when asked.
    pub schedule: Option<String>,
    /// Snapshots: how many archives to keep at the destination.
    pub keep: Option<u32>,
    /// Seconds without a successful run after which the plan is stale.
    pub stale_after_secs: Option<u64>,
    pub paused_until: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// When staleness was last announced (once per stale period).
    pub stale_notified_at: Option<String>,
}

/// What a write of a plan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanWrite {
    Done,
    /// Another plan has that name.
    NameTaken,
    NotFound,
}

/// What [`Store::claim_plan_run`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller owns the run: it must start it (and record its job with
    /// [`Store::set_claim_job`]).
    Claimed,
    /// Someone else claimed this due run already.
    Taken,
    /// The plan has a run queued, running or paused (its id), or one being started.
    Busy(Option<String>),
}

/// A claim without its job for this long is a launch that died half-way: it no longer
/// keeps the plan busy.
const LAUNCH_GRACE_SECS: i64 = 60;

const PLAN_COLUMNS: &str = "id, name, kind, spec, schedule, keep, stale_after_secs, paused_until, \
     created_at, updated_at, stale_notified_at";

fn plan_from_row(r: &Row<'_>) -> rusqlite::Result<PlanRow> {
    Ok(PlanRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: enum_column(r, 2)?,
        spec: from_json(r, 3)?,
        schedule: r.get(4)?,
        keep: r.get(5)?,
        stale_after_secs: r.get(6)?,
        paused_until: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        stale_notified_at: r.get(10)?,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

impl Store {
    /// Saves a new plan; [`PlanWrite::NameTaken`] if its name is another's.
    pub fn insert_plan(&self, plan: &PlanRow) -> Result<PlanWrite, StoreError> {
        let res = self.run("saving a plan", |c| {
            c.execute(
                &format!("INSERT INTO plans ({PLAN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    plan.id,
                    plan.name,
                    enum_text(&plan.kind),
                    to_json(&plan.spec)?,
                    plan.schedule,
                    plan.keep,
                    plan.stale_after_secs,
                    plan.paused_until.as_deref().map(normalize_timestamp),
                    normalize_timestamp(&plan.created_at),
                    normalize_timestamp(&plan.updated_at),
                    plan.stale_notified_at,
                ],
            )
        });
        match res {
            Ok(_) => Ok(PlanWrite::Done),
            Err(StoreError::Sqlite { source, .. }) if is_unique_violation(&source) => {
                Ok(PlanWrite::NameTaken)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces a plan's fields (found by id), keeping its creation time.
    pub fn update_plan(&self, plan: &PlanRow) -> Result<PlanWrite, StoreError> {
        let res = self.run("saving a plan", |c| {
            c.execute(
                "UPDATE plans SET name = ?2, kind = ?3, spec = ?4, schedule = ?5, keep = ?6, \
                 stale_after_secs = ?7, paused_until = ?8, updated_at = ?9 WHERE id = ?1",
                params![
                    plan.id,
                    plan.name,
                    enum_text(&plan.kind),
                    to_json(&plan.spec)?,
                    plan.schedule,
                    plan.keep,
                    plan.stale_after_secs,
                    plan.paused_until.as_deref().map(normalize_timestamp),
                    normalize_timestamp(&plan.updated_at),
                ],
            )
        });
        match res {
            Ok(0) => Ok(PlanWrite::NotFound),
            Ok(_) => Ok(PlanWrite::Done),
            Err(StoreError::Sqlite { source, .. }) if is_unique_violation(&source) => {
                Ok(PlanWrite::NameTaken)
            }
            Err(e) => Err(e),
        }
    }

    /// The plan named `name` (without regard to case).
    pub fn plan_by_name(&self, name: &str) -> Result<Option<PlanRow>, StoreError> {
        self.run("reading a plan", |c| {
            c.query_row(
                &format!("SELECT {PLAN_COLUMNS} FROM plans WHERE name = ?1"),
                [name],
                plan_from_row,
            )
            .optional()
        })
    }

    pub fn plan(&self, id: &str) -> Result<Option<PlanRow>, StoreError> {
        self.run("reading a plan", |c| {
            c.query_row(
                &format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1"),
                [id],
                plan_from_row,
            )
            .optional()
        })
    }

    /// Every plan, by name.
    pub fn list_plans(&self) -> Result<Vec<PlanRow>, StoreError> {
        self.run("listing plans", |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PLAN_COLUMNS} FROM plans ORDER BY name COLLATE NOCASE"
            ))?;
            let rows = stmt.query_map([], plan_from_row)?;
            rows.collect()
        })
    }

    /// Removes a plan and its claims; its runs stay in the history. `false`: no such plan.
    pub fn delete_plan(&mut self, id: &str) -> Result<bool, StoreError> {
        self.run_mut("removing a plan", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM plan_runs_claimed WHERE plan_id = ?1", [id])?;
            let n = tx.execute("DELETE FROM plans WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(n > 0)
        })
    }

    /// Pauses the plan until `until` (RFC 3339), or resumes it (`None`). `false`: no such plan.
    pub fn set_plan_paused(
        &self,
        id: &str,
        until: Option<&str>,
        now: &str,
    ) -> Result<bool, StoreError> {
        self.run("pausing a plan", |c| {
            c.execute(
                "UPDATE plans SET paused_until = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, until.map(normalize_timestamp), normalize_timestamp(now)],
            )
            .map(|n| n > 0)
        })
    }

    /// Claims the plan's run due at `due_at`, in one transaction: the claim is taken only if
    /// nobody took it before and the plan has no run queued, running, paused or being
    /// started, so a due run starts once and a plan never runs twice at once.
    pub fn claim_plan_run(
        &mut self,
        plan_id: &str,
        due_at: &str,
        now: &str,
    ) -> Result<Claim, StoreError> {
        let due_at = normalize_timestamp(due_at);
        let now = normalize_timestamp(now);
        self.run_mut("claiming a plan's run", |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM plan_runs_claimed WHERE plan_id = ?1 AND due_at = ?2)",
                params![plan_id, due_at],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(Claim::Taken);
            }
            let running: Option<String> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE plan_id = ?1 \
                     AND state IN ('queued', 'running', 'paused') LIMIT 1",
                    [plan_id],
                    |r| r.get(0),
                )
                .optional()?;
            if running.is_some() {
                return Ok(Claim::Busy(running));
            }
            let launching: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM plan_runs_claimed WHERE plan_id = ?1 \
                 AND job_id IS NULL AND julianday(?2) - julianday(claimed_at) < ?3 / 86400.0)",
                params![plan_id, now, LAUNCH_GRACE_SECS],
                |r| r.get(0),
            )?;
            if launching {
                return Ok(Claim::Busy(None));
            }
            tx.execute(
                "INSERT INTO plan_runs_claimed (plan_id, due_at, claimed_at) VALUES (?1, ?2, ?3)",
                params![plan_id, due_at, now],
            )?;
            tx.commit()?;
            Ok(Claim::Claimed)
        })
    }

    /// Records the job a claim started (`""` when the start failed), which ends the claim's
    /// hold on the plan: from now on the job's own state says whether the plan is busy.
    pub fn set_claim_job(
        &self,
        plan_id: &str,
        due_at: &str,
        job_id: &str,
    ) -> Result<(), StoreError> {
        self.run("recording a plan's run", |c| {
            c.execute(
                "UPDATE plan_runs_claimed SET job_id = ?3 WHERE plan_id = ?1 AND due_at = ?2",
                params![plan_id, normalize_timestamp(due_at), job_id],
            )
            .map(drop)
        })
    }

    /// The newest due time claimed for the plan.
    pub fn last_claim(&self, plan_id: &str) -> Result<Option<String>, StoreError> {
        self.run("reading a plan's claims", |c| {
            c.query_row(
                "SELECT MAX(due_at) FROM plan_runs_claimed WHERE plan_id = ?1",
                [plan_id],
                |r| r.get(0),
            )
        })
    }

    /// Records that the plan's staleness was announced at `now`, unless it already was after
    /// its last success (`last_success`): `true` for exactly one caller per stale period,
    /// whatever the number of processes.
    pub fn mark_stale_notified(
        &self,
        plan_id: &str,
        now: &str,
        last_success: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.run("recording a stale plan", |c| {
            c.execute(
                "UPDATE plans SET stale_notified_at = ?2 WHERE id = ?1 AND \
                 (stale_notified_at IS NULL OR (?3 IS NOT NULL AND stale_notified_at < ?3))",
                params![
                    plan_id,
                    normalize_timestamp(now),
                    last_success.map(normalize_timestamp)
                ],
            )
            .map(|n| n > 0)
        })
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.run("reading a setting", |c| {
            c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Sets (or with `None` removes) a setting shared by every process on the database.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.run("saving a setting", |c| {
            match value {
                Some(v) => c.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [key, v],
                ),
                None => c.execute("DELETE FROM settings WHERE key = ?1", [key]),
            }
            .map(drop)
        })
    }
}
