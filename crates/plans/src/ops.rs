//! The operations on plans, one plain function each, over the history database: what the
//! CLI's `plan` commands, the agent's `/api/v1/plans` and the desktop app's commands call.
//! Each checks everything it can before it writes, so a refused call saves nothing.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tidemark_core::snapshot::is_url;
use tidemark_core::{ErrorCode, JobSpec, JobState};
use tidemark_store::{Claim, JobFilter, JobRecord, PlanRow, PlanWrite, Store};

use crate::model::{LastRun, Plan, PlanError, PlanInput, PlanRun, PlanSummary};
use crate::schedule::Schedule;

/// The settings key of the global pause ("everything paused until").
pub(crate) const PAUSED_UNTIL: &str = "plans.paused_until";

const MAX_NAME: usize = 100;
/// The most archives a plan keeps (the API document says so too).
pub const MAX_KEEP: u32 = 100_000;
/// The longest stale-after limit and the longest pause: a hundred years, in seconds (the
/// API document says so too; a pause without an end is a pause until resumed).
pub const MAX_SECS: u64 = 3_155_760_000;

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}

/// Checks a plan's fields and its folders, without writing anything.
pub fn validate(input: &PlanInput) -> Result<Option<Schedule>, PlanError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            format!("a plan's name must be 1 to {MAX_NAME} characters, none of them a control"),
        ));
    }
    let schedule = input.schedule.as_deref().map(Schedule::parse).transpose()?;
    match &input.spec {
        JobSpec::Snapshot(s) => {
            check_source(&s.source)?;
            if let Some(n) = &s.name {
                return Err(PlanError::invalid(
                    ErrorCode::InvalidInput,
                    format!(
                        "a plan's archives are named after its folder and the time; a fixed name ({n:?}) would be taken by its second run"
                    ),
                ));
            }
            if is_url(&s.destination) {
                tidemark_core::upload::parse_url(&s.destination)
                    .map_err(|e| PlanError::Invalid(e.info()))?;
            } else {
                check_dest(Path::new(&s.destination))?;
            }
        }
        JobSpec::Sync(s) => {
            if s.sources.is_empty() {
                return Err(PlanError::invalid(
                    ErrorCode::InvalidInput,
                    "a sync needs at least one source",
                ));
            }
            for src in &s.sources {
                check_source(src)?;
            }
            check_dest(&s.destination)?;
            if input.keep.is_some() {
                return Err(PlanError::invalid(
                    ErrorCode::InvalidInput,
                    "--keep applies to snapshots: a sync keeps one mirror",
                ));
            }
        }
        // A plan saves work that recurs; a restore or a verify is asked for once.
        JobSpec::Restore(_) | JobSpec::Verify(_) => {
            return Err(PlanError::invalid(
                ErrorCode::InvalidInput,
                "a plan is a snapshot or a sync",
            ));
        }
    }
    if input.keep.is_some_and(|k| !(1..=MAX_KEEP).contains(&k)) {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            format!("--keep must be 1 to {MAX_KEEP}"),
        ));
    }
    if input
        .stale_after
        .is_some_and(|s| !(1..=MAX_SECS).contains(&s))
    {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            "--stale-after must be more than zero and at most 100 years",
        ));
    }
    Ok(schedule)
}

fn check_source(path: &Path) -> Result<(), PlanError> {
    if !path.is_absolute() {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            format!("{}: a plan's paths must be absolute", path.display()),
        ));
    }
    tidemark_core::fsutil::source_dir(path)
        .map(drop)
        .map_err(|e| PlanError::Invalid(e.info()))
}

/// A destination folder must exist, or its parent (the run creates it).
fn check_dest(path: &Path) -> Result<(), PlanError> {
    if !path.is_absolute() {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            format!("{}: a plan's paths must be absolute", path.display()),
        ));
    }
    if path.is_dir() || path.parent().is_some_and(Path::is_dir) && !path.exists() {
        return Ok(());
    }
    if path.exists() {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            format!("destination {} is a file, not a folder", path.display()),
        ));
    }
    Err(PlanError::invalid(
        ErrorCode::DestMissing,
        format!("destination folder {} does not exist", path.display()),
    ))
}

fn row_of(input: &PlanInput, id: String, created_at: String, now: &str) -> PlanRow {
    PlanRow {
        id,
        name: input.name.trim().to_owned(),
        kind: input.spec.kind(),
        spec: input.spec.clone(),
        schedule: input.schedule.as_deref().map(|s| s.trim().to_owned()),
        keep: input.keep,
        stale_after_secs: input.stale_after,
        paused_until: None,
        created_at,
        updated_at: now.to_owned(),
        stale_notified_at: None,
    }
}

/// Saves a new plan; refuses a bad schedule, a taken name, a missing folder or a bad
/// destination before anything is written.
pub fn add(store: &Store, input: &PlanInput) -> Result<Plan, PlanError> {
    validate(input)?;
    let now = rfc3339(Utc::now());
    let row = row_of(input, uuid::Uuid::now_v7().to_string(), now.clone(), &now);
    match store.insert_plan(&row)? {
        PlanWrite::Done => get(store, &row.name),
        _ => Err(PlanError::Exists(row.name)),
    }
}

/// Replaces the plan `name`'s fields (a new name included); its runs stay its own.
pub fn edit(store: &Store, name: &str, input: &PlanInput) -> Result<Plan, PlanError> {
    validate(input)?;
    let old = row(store, name)?;
    let mut row = row_of(
        input,
        old.id.clone(),
        old.created_at.clone(),
        &rfc3339(Utc::now()),
    );
    row.paused_until = old.paused_until;
    match store.update_plan(&row)? {
        PlanWrite::Done => get(store, &row.name),
        PlanWrite::NameTaken => Err(PlanError::Exists(row.name)),
        PlanWrite::NotFound => Err(PlanError::NotFound(name.to_owned())),
    }
}

fn row(store: &Store, name: &str) -> Result<PlanRow, PlanError> {
    store
        .plan_by_name(name)?
        .ok_or_else(|| PlanError::NotFound(name.to_owned()))
}

/// The plan named `name` (without regard to case).
pub fn get(store: &Store, name: &str) -> Result<Plan, PlanError> {
    row(store, name).map(Plan::from)
}

/// Every plan with how it is doing, by name.
pub fn list(store: &Store) -> Result<Vec<PlanSummary>, PlanError> {
    list_at(store, Utc::now(), &chrono::Local)
}

pub fn list_at<Tz: TimeZone>(
    store: &Store,
    now: DateTime<Utc>,
    tz: &Tz,
) -> Result<Vec<PlanSummary>, PlanError> {
    let global = global_pause(store)?;
    store
        .list_plans()?
        .into_iter()
        .map(|r| summarize(store, r, global, now, tz))
        .collect()
}

/// One plan with how it is doing.
pub fn show(store: &Store, name: &str) -> Result<PlanSummary, PlanError> {
    let global = global_pause(store)?;
    summarize(store, row(store, name)?, global, Utc::now(), &chrono::Local)
}

/// Removes the plan; its runs stay in the history.
pub fn remove(store: &mut Store, name: &str) -> Result<Plan, PlanError> {
    let plan = get(store, name)?;
    if !store.delete_plan(&plan.id)? {
        return Err(PlanError::NotFound(name.to_owned()));
    }
    Ok(plan)
}

/// Pauses the plan, for `duration` or until resumed. Runs due meanwhile are skipped, not
/// caught up.
pub fn pause(store: &Store, name: &str, duration: Option<Duration>) -> Result<Plan, PlanError> {
    if duration.is_some_and(|d| d.as_secs() > MAX_SECS) {
        return Err(PlanError::invalid(
            ErrorCode::InvalidInput,
            "a pause lasts at most 100 years; without a duration it lasts until resumed",
        ));
    }
    let plan = get(store, name)?;
    let now = Utc::now();
    store.set_plan_paused(&plan.id, Some(&pause_end(now, duration)), &rfc3339(now))?;
    get(store, name)
}

fn pause_end(now: DateTime<Utc>, duration: Option<Duration>) -> String {
    // "Until resumed" is a date no one reaches, so one column says both.
    let forever = || DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(now);
    let end = duration
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or_else(forever);
    rfc3339(end)
}

pub fn resume(store: &Store, name: &str) -> Result<Plan, PlanError> {
    let plan = get(store, name)?;
    store.set_plan_paused(&plan.id, None, &rfc3339(Utc::now()))?;
    get(store, name)
}

/// Pauses every plan until `until` (runs due meanwhile are skipped); returns the end.
pub fn pause_all_until(store: &Store, until: DateTime<Utc>) -> Result<String, PlanError> {
    let until = rfc3339(until);
    store.set_setting(PAUSED_UNTIL, Some(&until))?;
    Ok(until)
}

/// Ends the global pause now (the runs it skipped stay skipped).
pub fn resume_all(store: &Store) -> Result<(), PlanError> {
    store.set_setting(PAUSED_UNTIL, Some(&rfc3339(Utc::now())))?;
    Ok(())
}

/// The end of the global pause, if one is set (it may be over).
pub fn global_pause(store: &Store) -> Result<Option<DateTime<Utc>>, PlanError> {
    Ok(store.setting(PAUSED_UNTIL)?.as_deref().and_then(parse_time))
}

/// The plan's runs, newest first.
pub fn runs(store: &Store, name: &str) -> Result<Vec<PlanRun>, PlanError> {
    let plan = get(store, name)?;
    Ok(plan_jobs(store, &plan.id, None)?
        .into_iter()
        .map(run_of)
        .collect())
}

pub(crate) fn plan_jobs(
    store: &Store,
    plan_id: &str,
    state: Option<JobState>,
) -> Result<Vec<JobRecord>, PlanError> {
    Ok(store.list_jobs(&JobFilter {
        plan_id: Some(plan_id.to_owned()),
        state,
        ..JobFilter::default()
    })?)
}

fn run_of(j: JobRecord) -> PlanRun {
    let duration_secs = match (
        j.started_at.as_deref().and_then(parse_time),
        j.finished_at.as_deref().and_then(parse_time),
    ) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds().max(0) as f64 / 1000.0),
        _ => None,
    };
    let bytes = j.counters.bytes_done;
    PlanRun {
        bytes_per_sec: duration_secs.filter(|d| *d > 0.0).map(|d| bytes as f64 / d),
        job_id: j.id,
        state: j.state,
        created_at: j.created_at,
        started_at: j.started_at,
        finished_at: j.finished_at,
        duration_secs,
        bytes,
        files: j.counters.processed,
        result_url: j.result_url,
        error: j.error,
    }
}

/// The plan's runs as CSV, newest first, one header line.
pub fn export_runs_csv(store: &Store, name: &str) -> Result<String, PlanError> {
    let mut out = String::from(
        "jobId,state,createdAt,startedAt,finishedAt,durationSecs,bytes,files,bytesPerSec,resultUrl,errorCode,errorMessage\n",
    );
    for r in runs(store, name)? {
        let fields = [
            r.job_id,
            r.state.as_str().to_owned(),
            r.created_at,
            r.started_at.unwrap_or_default(),
            r.finished_at.unwrap_or_default(),
            r.duration_secs
                .map(|d| format!("{d:.3}"))
                .unwrap_or_default(),
            r.bytes.to_string(),
            r.files.to_string(),
            r.bytes_per_sec
                .map(|s| format!("{s:.0}"))
                .unwrap_or_default(),
            r.result_url.unwrap_or_default(),
            r.error
                .as_ref()
                .map(|e| e.code.as_str().to_owned())
                .unwrap_or_default(),
            r.error.map(|e| e.message).unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(out)
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

/// The plan's runs as a JSON array, newest first.
pub fn export_runs_json(store: &Store, name: &str) -> Result<String, PlanError> {
    serde_json::to_string_pretty(&runs(store, name)?)
        .map_err(|e| PlanError::invalid(ErrorCode::Internal, e.to_string()))
}

/// When the plan's schedule counts from: its last change, its last claimed run, and the end
/// of a pause (a run due during a pause is skipped, never caught up).
pub(crate) fn reference(
    row: &PlanRow,
    last_claim: Option<&str>,
    global: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let paused = row.paused_until.as_deref().and_then(parse_time);
    [
        parse_time(&row.updated_at),
        last_claim.and_then(parse_time),
        paused.filter(|p| *p <= now),
        global.filter(|g| *g <= now),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(now)
}

/// Paused (by itself or globally) at `now`: until when.
pub(crate) fn paused_until(
    row: &PlanRow,
    global: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    [row.paused_until.as_deref().and_then(parse_time), global]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .max()
}

/// The newest successful run's end.
pub(crate) fn last_success(store: &Store, plan_id: &str) -> Result<Option<String>, PlanError> {
    Ok(plan_jobs(store, plan_id, Some(JobState::Completed))?
        .into_iter()
        .next()
        .and_then(|j| j.finished_at.or(Some(j.created_at))))
}

/// No success within the limit, counting from the plan's creation when it never succeeded.
pub(crate) fn is_stale(row: &PlanRow, last_success: Option<&str>, now: DateTime<Utc>) -> bool {
    let Some(limit) = row.stale_after_secs.and_then(|s| i64::try_from(s).ok()) else {
        return false;
    };
    let since = last_success
        .and_then(parse_time)
        .or_else(|| parse_time(&row.created_at));
    since.is_some_and(|t| (now - t).num_seconds() >= limit)
}

pub(crate) fn summarize<Tz: TimeZone>(
    store: &Store,
    row: PlanRow,
    global: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: &Tz,
) -> Result<PlanSummary, PlanError> {
    let last_run = plan_jobs_limited(store, &row.id)?.map(|j| LastRun {
        job_id: j.id,
        state: j.state,
        finished_at: j.finished_at,
        error: j.error,
    });
    let last_success_at = last_success(store, &row.id)?;
    let paused = paused_until(&row, global, now);
    let next_run_at = match row.schedule.as_deref().map(Schedule::parse) {
        Some(Ok(s)) => {
            let claim = store.last_claim(&row.id)?;
            let from = reference(&row, claim.as_deref(), global, now);
            // While paused, the next run is the first one due after the pause.
            s.next_after(paused.map_or(from, |p| from.max(p)), tz)
                .map(rfc3339)
        }
        _ => None,
    };
    let stale = is_stale(&row, last_success_at.as_deref(), now);
    Ok(PlanSummary {
        plan: row.into(),
        last_run,
        last_success_at,
        next_run_at,
        stale,
        paused: paused.is_some(),
    })
}

fn plan_jobs_limited(store: &Store, plan_id: &str) -> Result<Option<JobRecord>, PlanError> {
    Ok(store
        .list_jobs(&JobFilter {
            plan_id: Some(plan_id.to_owned()),
            limit: Some(1),
            ..JobFilter::default()
        })?
        .into_iter()
        .next())
}

/// Claims a run of the plan now (so no scheduler starts one meanwhile) and returns the plan
/// and the claim's key, to be given the job with [`record_launch`].
pub fn claim_now(store: &mut Store, name: &str) -> Result<(Plan, String), PlanError> {
    let plan = get(store, name)?;
    let key = rfc3339(Utc::now());
    claim(store, &plan, &key, &key)?;
    Ok((plan, key))
}

pub(crate) fn claim(store: &mut Store, plan: &Plan, key: &str, now: &str) -> Result<(), PlanError> {
    match store.claim_plan_run(&plan.id, key, now)? {
        Claim::Claimed => Ok(()),
        Claim::Taken => Err(PlanError::Busy {
            name: plan.name.clone(),
            job: None,
        }),
        Claim::Busy(job) => Err(PlanError::Busy {
            name: plan.name.clone(),
            job,
        }),
    }
}

/// Records the job a claimed run started (`None`: it could not start).
pub fn record_launch(
    store: &Store,
    plan: &Plan,
    key: &str,
    job_id: Option<&str>,
) -> Result<(), PlanError> {
    Ok(store.set_claim_job(&plan.id, key, job_id.unwrap_or(""))?)
}

/// What a run of the plan is started with: recorded with its plan. Hosts add their queue
/// and priority, and the plan's past runs as the ETA's seed ([`eta_seed_of`]), which needs
/// the history.
pub fn launch_of(plan: &Plan) -> tidemark_store::Launch {
    tidemark_store::Launch {
        plan_id: Some(plan.id.clone()),
        ..tidemark_store::Launch::default()
    }
}

/// How many of a plan's completed runs seed its next run's ETA: enough to smooth one odd
/// run out, few enough to follow a folder that grows.
pub const SEED_RUNS: usize = 5;

/// The ETA seed of the plan's last [`SEED_RUNS`] completed runs; `None` without any. A
/// history that cannot be read costs the run its early estimate, never the run itself, so
/// it is logged, not returned.
pub fn eta_seed_of(store: &Store, plan: &Plan) -> Option<tidemark_core::EtaSeed> {
    let seed = store
        .list_jobs(&JobFilter {
            plan_id: Some(plan.id.clone()),
            state: Some(JobState::Completed),
            limit: Some(SEED_RUNS),
            ..JobFilter::default()
        })
        .and_then(|runs| {
            let ids: Vec<String> = runs.into_iter().map(|j| j.id).collect();
            store.eta_seed(&ids)
        });
    seed.unwrap_or_else(|e| {
        tracing::warn!(plan = %plan.name, error = %e, "no ETA from past runs");
        None
    })
}

/// A snapshot plan to a folder with a `keep` rule: where its archives are.
pub(crate) fn retained_folder(plan: &Plan) -> Option<(&Path, usize)> {
    match (&plan.spec, plan.keep) {
        (JobSpec::Snapshot(s), Some(keep)) if !is_url(&s.destination) => {
            Some((Path::new(&s.destination), usize::try_from(keep).ok()?))
        }
        _ => None,
    }
}
