//! "Pause everything for 1 hour / 4 hours / until tomorrow" (the tray): this app's running
//! jobs pause, no plan starts, and both carry on by themselves when the time comes, or
//! when the user resumes sooner. Only the jobs this pause paused are resumed: one the user
//! had paused before stays paused.

use chrono::{DateTime, Days, Local, NaiveTime, TimeZone};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;

use crate::live::Paused;

use crate::app::{App, lock};
use crate::error::Result;

/// How long to pause everything for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum PauseFor {
    OneHour,
    FourHours,
    /// Until the next midnight, local time.
    UntilTomorrow,
}

impl PauseFor {
    pub fn until(self, now: DateTime<Local>) -> DateTime<Local> {
        match self {
            Self::OneHour => now + chrono::Duration::hours(1),
            Self::FourHours => now + chrono::Duration::hours(4),
            Self::UntilTomorrow => next_midnight(now),
        }
    }
}

/// The first instant of the next day. A day that starts inside a daylight-saving gap
/// starts at the first time that exists.
fn next_midnight(now: DateTime<Local>) -> DateTime<Local> {
    let day = now.date_naive().checked_add_days(Days::new(1));
    let day = day.unwrap_or(now.date_naive());
    (0..24 * 60)
        .filter_map(|m| {
            let t = NaiveTime::MIN + chrono::Duration::minutes(m);
            Local.from_local_datetime(&day.and_time(t)).earliest()
        })
        .next()
        .unwrap_or(now + chrono::Duration::days(1))
}

/// Whether everything is paused, and until when (RFC 3339, local offset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PauseState {
    pub paused_until: Option<String>,
}

/// How often the end of a pause is checked against the wall clock: the runtime's timers
/// stop while the machine sleeps, the wall clock does not.
const WALL_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

impl App {
    /// A pause kept in the history by an earlier run of the app goes on after a restart.
    pub(crate) fn adopt_saved_pause(&self) {
        let saved = self
            .store()
            .and_then(|s| Ok(tidemark_plans::ops::global_pause(&s)?));
        let now = Local::now();
        match saved {
            Ok(Some(until)) if until > now.to_utc() => {
                let until = until.with_timezone(&Local);
                let timer = Some(self.resume_at(until, now));
                *lock(&self.inner.paused) = Some(Paused {
                    until,
                    jobs: Vec::new(),
                    timer,
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("the saved pause: {e}"),
        }
    }

    pub fn pause_state(&self) -> PauseState {
        PauseState {
            paused_until: lock(&self.inner.paused)
                .as_ref()
                .map(|p| p.until.to_rfc3339()),
        }
    }

    /// Pauses this app's running jobs and the plans until `how` says. Pausing again moves
    /// the end; the jobs paused the first time stay this pause's.
    pub fn pause_everything(&self, how: PauseFor) -> Result<PauseState> {
        let now = Local::now();
        self.pause_everything_until(how.until(now), now)
    }

    pub(crate) fn pause_everything_until(
        &self,
        until: DateTime<Local>,
        now: DateTime<Local>,
    ) -> Result<PauseState> {
        // Kept in the history first, so a failure there pauses nothing: the scheduler (of
        // this app, or an agent on the same database) starts no plan until then, and a
        // restart keeps the pause.
        tidemark_plans::ops::pause_all_until(&*self.store()?, until.to_utc())?;
        let mut jobs = Vec::new();
        for id in self.inner.jobs.ids() {
            if let Some(job) = self.inner.jobs.get(&id)
                && !job.control.is_paused()
            {
                job.control.pause();
                jobs.push(id);
            }
        }
        let timer = Some(self.resume_at(until, now));
        {
            let mut paused = lock(&self.inner.paused);
            if let Some(before) = paused.take() {
                jobs.extend(before.jobs.iter().cloned());
            }
            *paused = Some(Paused { until, jobs, timer });
        }
        tracing::info!(until = %until.to_rfc3339(), "everything paused");
        let state = self.pause_state();
        self.inner.hooks.pause_changed(&state);
        self.plans_changed();
        Ok(state)
    }

    /// Ends the pause now: the jobs it paused carry on (those that ended meanwhile are
    /// gone), and plans may start again.
    pub fn resume_everything(&self) -> Result<PauseState> {
        tidemark_plans::ops::resume_all(&*self.store()?)?;
        let Some(paused) = lock(&self.inner.paused).take() else {
            self.plans_changed();
            return Ok(self.pause_state());
        };
        for id in &paused.jobs {
            if let Some(job) = self.inner.jobs.get(id) {
                job.control.resume();
            }
        }
        tracing::info!("everything resumed");
        let state = self.pause_state();
        self.inner.hooks.pause_changed(&state);
        self.plans_changed();
        Ok(state)
    }

    /// The pause's own end: at `until` by the runtime's clock, or as soon as the wall
    /// clock has passed it (after the machine slept).
    fn resume_at(&self, until: DateTime<Local>, now: DateTime<Local>) -> AbortHandle {
        let wait = (until - now).to_std().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + wait;
        let app = std::sync::Arc::downgrade(&self.inner);
        self.inner
            .runtime
            .spawn(async move {
                loop {
                    let next = deadline.min(tokio::time::Instant::now() + WALL_CHECK);
                    tokio::time::sleep_until(next).await;
                    if tokio::time::Instant::now() >= deadline || Local::now() >= until {
                        break;
                    }
                }
                let Some(inner) = app.upgrade() else { return };
                let app = App { inner };
                // Only if this pause is still the one in force (not resumed or moved since).
                let ended = {
                    let mut paused = lock(&app.inner.paused);
                    if paused.as_ref().is_some_and(|p| p.until == until) {
                        paused.take().map(|mut p| {
                            // This task is the timer: it must not abort itself.
                            p.timer = None;
                            std::mem::take(&mut p.jobs)
                        })
                    } else {
                        None
                    }
                };
                if let Some(jobs) = ended {
                    for id in &jobs {
                        if let Some(job) = app.inner.jobs.get(id) {
                            job.control.resume();
                        }
                    }
                    tracing::info!("the pause ended; everything resumed");
                    // The scheduler sees the time has passed by itself; the history forgets it.
                    if let Err(e) = app
                        .store()
                        .and_then(|s| Ok(tidemark_plans::ops::resume_all(&s)?))
                    {
                        tracing::warn!("the pause's end: {e}");
                    }
                    let state = app.pause_state();
                    app.inner.hooks.pause_changed(&state);
                    app.plans_changed();
                }
            })
            .abort_handle()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tidemark_core::{Control, EventLog, JobSpec, SnapshotSpec};

    use super::*;
    use crate::{AppConfig, Hooks, NoNotifier};

    #[derive(Default)]
    struct Heard(Mutex<Vec<PauseState>>);
    impl Hooks for Heard {
        fn pause_changed(&self, state: &PauseState) {
            lock(&self.0).push(state.clone());
        }
    }

    /// A job as the registry keeps it, with nothing running behind it: only its controls
    /// matter here.
    fn job(app: &App, id: &str) -> Control {
        let spec = JobSpec::Snapshot(SnapshotSpec {
            source: "/photos".into(),
            destination: "/archives".into(),
            name: None,
        });
        app.attach_for_test(id, EventLog::new(), spec)
    }

    #[tokio::test(start_paused = true)]
    async fn everything_resumes_by_itself_when_the_hour_is_up_but_not_before() {
        let dir = tempfile::tempdir().expect("tempdir");
        let heard = Arc::new(Heard::default());
        let app = App::new(
            AppConfig::beside(dir.path().join("history.db")),
            tokio::runtime::Handle::current(),
            heard.clone(),
            Arc::new(NoNotifier),
        );
        let running = job(&app, "a");
        let paused_by_user = job(&app, "b");
        paused_by_user.pause();

        let now = Local::now();
        let state = app
            .pause_everything_until(PauseFor::OneHour.until(now), now)
            .expect("paused");
        assert!(state.paused_until.is_some());
        assert!(running.is_paused());
        assert_eq!(lock(&heard.0).len(), 1);

        tokio::time::advance(Duration::from_secs(59 * 60)).await;
        tokio::task::yield_now().await;
        assert!(running.is_paused(), "still paused after 59 minutes");
        assert!(app.pause_state().paused_until.is_some());

        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!running.is_paused(), "resumed after the hour");
        assert!(paused_by_user.is_paused(), "the user's own pause is kept");
        assert_eq!(app.pause_state(), PauseState::default());
        assert_eq!(
            lock(&heard.0).last(),
            Some(&PauseState::default()),
            "the end is announced"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn resuming_early_stops_the_timer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = crate::tests::app_in(dir.path());
        let running = job(&app, "a");
        app.pause_everything(PauseFor::FourHours).expect("paused");
        app.resume_everything().expect("resumed");
        assert!(!running.is_paused());
        // Paused again by the user: the old timer must not resume it at the fourth hour.
        running.pause();
        tokio::time::advance(Duration::from_secs(5 * 3600)).await;
        tokio::task::yield_now().await;
        assert!(running.is_paused());
    }

    #[test]
    fn until_tomorrow_is_the_next_midnight() {
        let now = Local
            .with_ymd_and_hms(2026, 12, 2, 15, 30, 0)
            .single()
            .expect("a plain local time");
        let until = PauseFor::UntilTomorrow.until(now);
        assert_eq!(until.date_naive().to_string(), "2026-12-03");
        assert_eq!(until.time(), NaiveTime::MIN);
        assert_eq!(
            PauseFor::FourHours.until(now) - now,
            chrono::Duration::hours(4)
        );
    }
}
