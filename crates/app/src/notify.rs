//! Which desktop notifications to send, decided as plain functions; sending is the shell's
//! business, behind [`Notifier`].

use chrono::NaiveTime;
use tidemark_core::JobState;

use crate::settings::in_quiet_hours;
use crate::types::{JobSummary, Settings};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    Completed,
    Failed,
    AgentUnreachable,
    /// An agent that was unreachable answers again (the same setting as `AgentUnreachable`).
    AgentBack,
    /// A plan has had no successful run within its limit (the same setting as `Failed`: it
    /// is what a failure leads to when nobody looks).
    Stale,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
}

/// Sends notifications. A failure (no notification service) is reported, never fatal.
pub trait Notifier: Send + Sync {
    fn notify(&self, n: &Notification) -> Result<(), NotifyError>;
}

/// Why a notification was not handed to the desktop.
#[derive(Debug, thiserror::Error)]
#[error("cannot send the notification: {0}")]
pub struct NotifyError(#[from] pub std::io::Error);

/// Whether the settings allow a notification of `kind` at local time `now`.
pub fn allowed(kind: NotificationKind, settings: &Settings, now: NaiveTime) -> bool {
    let wanted = match kind {
        NotificationKind::Completed => settings.notify_completed,
        NotificationKind::Failed | NotificationKind::Stale => settings.notify_failed,
        NotificationKind::AgentUnreachable | NotificationKind::AgentBack => {
            settings.notify_agent_unreachable
        }
    };
    wanted
        && !settings
            .quiet_hours
            .as_ref()
            .is_some_and(|q| in_quiet_hours(q, now))
}

/// The notification for a job that just ended, if its end deserves one (a cancel does
/// not: the user asked for it). `duration_ms` is the run's.
pub fn for_job_end(job: &JobSummary, duration_ms: Option<u64>) -> Option<Notification> {
    match job.state {
        JobState::Completed => {
            let mut body = String::new();
            if let Some(bytes) = job
                .counters
                .bytes_total
                .or(Some(job.counters.bytes_done))
                .filter(|b| *b > 0)
            {
                body.push_str(&human_bytes(bytes));
            }
            if let Some(ms) = duration_ms {
                if !body.is_empty() {
                    body.push_str(" in ");
                }
                body.push_str(&human_duration(ms));
            }
            if let Some(url) = &job.result_url {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(url);
            }
            Some(Notification {
                kind: NotificationKind::Completed,
                title: format!("{} completed", job.title),
                body,
            })
        }
        JobState::Failed => Some(Notification {
            kind: NotificationKind::Failed,
            title: format!("{} failed", job.title),
            body: job
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "The job failed.".into()),
        }),
        _ => None,
    }
}

pub fn agent_unreachable(agent: &str, reason: &str) -> Notification {
    Notification {
        kind: NotificationKind::AgentUnreachable,
        title: format!("Agent {agent} is unreachable"),
        body: reason.to_owned(),
    }
}

pub fn agent_back(agent: &str, url: &str) -> Notification {
    Notification {
        kind: NotificationKind::AgentBack,
        title: format!("Agent {agent} is back"),
        body: format!("It answers again at {url}."),
    }
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0 => format!("{ms} ms"),
        1..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// "Photos has had no successful run for 3 days".
pub fn stale_notification(plan: &tidemark_plans::PlanSummary) -> Notification {
    let limit = plan
        .plan
        .stale_after
        .map(limit_text)
        .unwrap_or_else(|| "too long".into());
    Notification {
        kind: NotificationKind::Stale,
        title: format!("{} has had no successful run for {limit}", plan.plan.name),
        body: match &plan.last_success_at {
            Some(at) => format!("Its last success was at {at}. Run it from the Plans view."),
            None => "It has never run successfully. Run it from the Plans view.".into(),
        },
    }
}

/// A staleness limit as people say it: "3 days", "6 hours", "45 minutes", "1 day".
pub(crate) fn limit_text(secs: u64) -> String {
    let (n, unit) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
