//! What the tray's lines say: a job's percent, a plan's last outcome and how long ago, the
//! end of a pause, the tooltip and the label beside the icon. Plain functions of their
//! inputs and the time, tested without a tray.

use tidemark_app::{JobSummary, PauseState, PlanSummary};
use tidemark_core::JobState;

/// "15:30" today, "tomorrow 00:00" otherwise: when a pause ends, as a menu line says it.
pub fn until_text(state: &PauseState, now: chrono::DateTime<chrono::Local>) -> Option<String> {
    let until = chrono::DateTime::parse_from_rfc3339(state.paused_until.as_deref()?).ok()?;
    let until = until.with_timezone(&chrono::Local);
    let time = until.format("%H:%M");
    Some(if until.date_naive() == now.date_naive() {
        time.to_string()
    } else if Some(until.date_naive()) == now.date_naive().succ_opt() {
        format!("tomorrow {time}")
    } else {
        until.format("%a %-d %b %H:%M").to_string()
    })
}

/// "Photos — completed 3 h ago", "Music — failed 2 days ago", "Docs — stale": a plan's last
/// outcome as the tray lists it.
pub fn plan_text(plan: &PlanSummary, now: chrono::DateTime<chrono::Utc>) -> String {
    let name = &plan.plan.name;
    let Some(last) = &plan.last_run else {
        return format!("{name} — never run");
    };
    let ago = last
        .finished_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| short_ago(now - t.to_utc()))
        .unwrap_or_default();
    let state = match last.state {
        JobState::Queued => "waiting",
        JobState::Running => "running",
        JobState::Paused => "paused",
        JobState::Completed => "completed",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancelled",
        JobState::Interrupted => "interrupted",
    };
    let stale = if plan.stale { ", stale" } else { "" };
    let ago = if last.state.is_terminal() && !ago.is_empty() {
        format!(" {ago}")
    } else {
        String::new()
    };
    format!("{name} — {state}{ago}{stale}")
}

fn short_ago(d: chrono::TimeDelta) -> String {
    let m = d.num_minutes().max(0);
    match m {
        0 => "just now".into(),
        1..60 => format!("{m} min ago"),
        60..2880 => format!("{} h ago", m / 60),
        _ => format!("{} days ago", m / 1440),
    }
}

pub fn job_text(job: &JobSummary) -> String {
    let progress = match (job.state, job.percent) {
        (JobState::Paused, _) => "paused".to_owned(),
        (_, Some(p)) => format!("{p:.0} %"),
        (_, None) => "…".to_owned(),
    };
    format!("{} — {progress}", job.title)
}

/// The mean percent of the jobs whose percent is known; unknown ones are not counted as 0.
fn overall(jobs: &[JobSummary]) -> Option<f64> {
    let known: Vec<f64> = jobs.iter().filter_map(|j| j.percent).collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

/// "45 %" beside the icon while jobs run ("…" while no total is known), nothing otherwise.
pub fn panel_label(jobs: &[JobSummary]) -> Option<String> {
    if jobs.is_empty() {
        return None;
    }
    Some(overall(jobs).map_or_else(|| "…".to_owned(), |p| format!("{p:.0} %")))
}

/// "Tidemark — 2 jobs, 45 %": the overall percent is the mean of the jobs whose percent is
/// known; unknown ones are not counted as 0.
pub fn tooltip(jobs: &[JobSummary]) -> String {
    let n = jobs.len();
    let plural = if n == 1 { "" } else { "s" };
    match (n, overall(jobs)) {
        (0, _) => "Tidemark — no active jobs".to_owned(),
        (n, None) => format!("Tidemark — {n} job{plural}"),
        (n, Some(p)) => format!("Tidemark — {n} job{plural}, {p:.0} %"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_app::PauseFor;
    use tidemark_core::JobKind;

    fn job(id: &str, state: JobState, percent: Option<f64>) -> JobSummary {
        JobSummary {
            state,
            title: "Snapshot of photos".into(),
            percent,
            ..tidemark_app::summary::queued(id, JobKind::Snapshot, String::new())
        }
    }

    #[test]
    fn the_tooltip_averages_known_percents_only() {
        assert_eq!(tooltip(&[]), "Tidemark — no active jobs");
        assert_eq!(
            tooltip(&[job("a", JobState::Running, None)]),
            "Tidemark — 1 job"
        );
        let jobs = [
            job("a", JobState::Running, Some(20.0)),
            job("b", JobState::Running, Some(60.0)),
            job("c", JobState::Running, None),
        ];
        assert_eq!(tooltip(&jobs), "Tidemark — 3 jobs, 40 %");
        assert_eq!(panel_label(&jobs).as_deref(), Some("40 %"));
        assert_eq!(panel_label(&jobs[2..]).as_deref(), Some("…"));
        assert_eq!(panel_label(&[]), None);
    }

    #[test]
    fn a_remote_job_reads_and_counts_like_a_local_one() {
        let remote = JobSummary {
            title: "Snapshot on NAS".into(),
            ..job("remote-a-j1", JobState::Running, Some(42.0))
        };
        assert_eq!(job_text(&remote), "Snapshot on NAS — 42 %");
        let both = [job("a", JobState::Running, Some(20.0)), remote];
        assert_eq!(tooltip(&both), "Tidemark — 2 jobs, 31 %");
        assert_eq!(panel_label(&both).as_deref(), Some("31 %"));
    }

    /// A plan's line says its last outcome and how long ago, read at the time it is shown
    /// (the tray reads it again every minute), and marks a stale plan.
    #[test]
    fn a_plans_line_says_its_outcome_and_how_long_ago() {
        let plan: PlanSummary = serde_json::from_value(serde_json::json!({
            "id": "p1", "name": "Photos", "kind": "snapshot",
            "spec": {"kind": "snapshot", "source": "/photos", "destination": "/backup", "name": null},
            "schedule": "daily 02:00", "keep": null, "staleAfter": null, "pausedUntil": null,
            "createdAt": "2026-12-01T00:00:00Z", "updatedAt": "2026-12-01T00:00:00Z",
            "lastRun": {"jobId": "j1", "state": "failed", "finishedAt": "2026-12-02T12:00:00Z", "error": null},
            "lastSuccessAt": null, "nextRunAt": null, "stale": true, "paused": false
        }))
        .expect("a plan summary");
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("time")
                .to_utc()
        };
        assert_eq!(
            plan_text(&plan, at("2026-12-02T12:00:20Z")),
            "Photos — failed just now, stale"
        );
        assert_eq!(
            plan_text(&plan, at("2026-12-02T12:07:00Z")),
            "Photos — failed 7 min ago, stale"
        );
        assert_eq!(
            plan_text(&plan, at("2026-12-02T15:00:00Z")),
            "Photos — failed 3 h ago, stale"
        );
    }

    #[test]
    fn a_pause_says_when_it_ends() {
        use chrono::TimeZone;
        let now = chrono::Local
            .with_ymd_and_hms(2026, 12, 2, 14, 30, 0)
            .single()
            .expect("a plain local time");
        let state = |until: chrono::DateTime<chrono::Local>| PauseState {
            paused_until: Some(until.to_rfc3339()),
        };
        let text = |s| until_text(&s, now);
        assert_eq!(
            text(state(PauseFor::OneHour.until(now))).as_deref(),
            Some("15:30")
        );
        assert_eq!(
            text(state(PauseFor::UntilTomorrow.until(now))).as_deref(),
            Some("tomorrow 00:00")
        );
        assert_eq!(text(PauseState::default()), None);
    }

    #[test]
    fn menu_lines_say_percent_or_paused() {
        assert_eq!(
            job_text(&job("a", JobState::Running, Some(45.4))),
            "Snapshot of photos — 45 %"
        );
        assert_eq!(
            job_text(&job("a", JobState::Paused, Some(45.4))),
            "Snapshot of photos — paused"
        );
        assert_eq!(
            job_text(&job("a", JobState::Running, None)),
            "Snapshot of photos — …"
        );
    }
}
