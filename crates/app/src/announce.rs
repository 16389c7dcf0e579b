//! What `Hooks::jobs_changed` is told while a job runs: its summary when it starts and each
//! time it moves, so the windows' lists and the tray are pushed changes instead of asking.
//! The end is announced by the job's waiter (`job_finished`), once its history is complete.

use std::time::Duration;

use tidemark_core::throttle::ThrottledSubscription;

use crate::app::{App, lock};
use crate::types::{JobSummary, JobsChanged};

/// How often a moving job is announced at most. This feeds a list's small bar and the tray's
/// percent, not the modal (which follows the job's own events at about 10/s); a step or
/// state change (pause, resume) still goes out at once.
pub const LIST_INTERVAL: Duration = Duration::from_millis(250);

/// Announces a job that just became active, then follows its log and announces each change
/// of its summary until its terminal event.
pub(crate) fn started(app: &App, id: &str) {
    let Some(active) = app.active(id) else {
        // It ended already: its end was announced, and it must not come back as active.
        return;
    };
    // Taken before the first announcement, so no event between the two is missed.
    let after = active.log.last_seq();
    let mut last = announce_active(app, id, None);
    let (app, id) = (app.clone(), id.to_owned());
    let runtime = app.inner.runtime.clone();
    runtime.spawn(async move {
        let mut events = ThrottledSubscription::new(active.log.subscribe(after), LIST_INTERVAL);
        while let Some(ev) = events.next().await {
            if ev.is_terminal() {
                return;
            }
            last = announce_active(&app, &id, last);
        }
    });
}

/// Announces the job's summary if it is still active and differs from what was announced
/// last; returns what is announced now. Under `announcing`, which `job_finished` holds
/// while it takes the job out of the active ones: an announcement either comes before the
/// job's end or finds the job gone.
fn announce_active(app: &App, id: &str, last: Option<JobSummary>) -> Option<JobSummary> {
    let _order = lock(&app.inner.announcing);
    let Some(now) = app.active_summary(id) else {
        return last;
    };
    if last.as_ref() != Some(&now) {
        app.inner.hooks.jobs_changed(&JobsChanged {
            active: vec![now.clone()],
            ended: Vec::new(),
        });
    }
    Some(now)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tidemark_core::JobState;

    use crate::*;

    /// Every `jobs_changed` the app made, in order.
    #[derive(Default)]
    struct Heard(Mutex<Vec<JobsChanged>>);

    impl Hooks for Heard {
        fn jobs_changed(&self, change: &JobsChanged) {
            self.0.lock().expect("heard").push(change.clone());
        }
    }

    impl Heard {
        fn all(&self) -> Vec<JobsChanged> {
            self.0.lock().expect("heard").clone()
        }

        /// Waits (bounded) until an announcement satisfies `f`.
        async fn until(&self, what: &str, f: impl Fn(&JobsChanged) -> bool) {
            for _ in 0..600 {
                if self.all().iter().any(&f) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("never announced: {what}; heard {:?}", self.all());
        }
    }

    fn tree(dir: &Path) -> std::path::PathBuf {
        let src = dir.join("photos");
        std::fs::create_dir_all(&src).expect("mkdir");
        for i in 0..20 {
            std::fs::write(src.join(format!("img-{i}.raw")), vec![i as u8; 4096]).expect("write");
        }
        src
    }

    fn state_of(change: &JobsChanged) -> Vec<JobState> {
        change.active.iter().map(|j| j.state).collect()
    }

    /// A pause and a resume reach the hooks as they happen (nobody asks for the list), and
    /// the end is the last thing announced about the job, as ended.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_is_announced_as_it_moves_and_its_end_comes_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let heard = Arc::new(Heard::default());
        let app = App::new(
            AppConfig::beside(dir.path().join("history.db")),
            tokio::runtime::Handle::current(),
            heard.clone(),
            Arc::new(NoNotifier),
        );
        let src = tree(dir.path());
        let dest = dir.path().join("archives");
        std::fs::create_dir_all(&dest).expect("mkdir");
        let job = app
            .start_snapshot(StartSnapshot {
                source: src.display().to_string(),
                destination: dest.display().to_string(),
                name: None,
            })
            .expect("started");
        let first = heard
            .all()
            .first()
            .cloned()
            .expect("the start is announced");
        assert_eq!(first.active.len(), 1);
        assert_eq!(first.active[0].id, job.id);
        assert!(first.ended.is_empty());

        app.pause_job(&job.id).expect("paused");
        heard
            .until("the job paused", |c| state_of(c) == [JobState::Paused])
            .await;
        app.resume_job(&job.id).expect("resumed");
        heard.until("the job ended", |c| !c.ended.is_empty()).await;

        let all = heard.all();
        let paused = all
            .iter()
            .position(|c| state_of(c) == [JobState::Paused])
            .expect("paused");
        assert!(
            all[paused..]
                .iter()
                .any(|c| state_of(c) == [JobState::Running]),
            "running again after the resume: {all:?}"
        );
        let last = all.last().expect("announcements");
        assert!(last.active.is_empty(), "{last:?}");
        assert_eq!(last.ended.len(), 1);
        assert_eq!(last.ended[0].id, job.id);
        assert_eq!(last.ended[0].state, JobState::Completed);
        assert_eq!(
            all.iter().filter(|c| !c.ended.is_empty()).count(),
            1,
            "one end: {all:?}"
        );
        for change in &all {
            assert!(change.active.iter().all(|j| j.id == job.id), "{change:?}");
            assert_eq!(change.active.len() + change.ended.len(), 1, "{change:?}");
        }
        assert_eq!(app.active_jobs(), Vec::new());
    }
}
