//! A job whose engine panics reaches the UI as `internal`, in its events and its history.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_app::{
    App, AppConfig, ErrorCode, JobUpdate, NoHooks, NoNotifier, ProgressSink, SinkClosed,
    StartSnapshot,
};
use tidemark_core::JobState;
use tidemark_core::panic::inject;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<JobUpdate>>>);

impl ProgressSink<JobUpdate> for Recorder {
    fn deliver(&mut self, update: &JobUpdate) -> Result<(), SinkClosed> {
        self.0.lock().expect("recorder").push(update.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_ends_failed_with_an_internal_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::new(
        AppConfig::beside(dir.path().join("history.db")),
        tokio::runtime::Handle::current(),
        Arc::new(NoHooks),
        Arc::new(NoNotifier),
    );
    let src = dir.path().join("photos");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("a.raw"), b"a").expect("write");
    inject::panic_on_source(&src);
    let job = app
        .start_snapshot(StartSnapshot {
            source: src.display().to_string(),
            destination: dir.path().display().to_string(),
            name: None,
        })
        .expect("started");
    let rec = Recorder::default();
    app.subscribe_job(&job.id, Box::new(rec.clone()))
        .expect("subscribed");
    for _ in 0..600 {
        if rec.0.lock().expect("recorder").last() == Some(&JobUpdate::Closed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let updates = rec.0.lock().expect("recorder").clone();
    let end = updates
        .iter()
        .rev()
        .find_map(|u| match u {
            JobUpdate::Event { event } if event.state.is_terminal() => Some(event.clone()),
            _ => None,
        })
        .expect("the job's end reached the window");
    assert_eq!(end.state, JobState::Failed);
    let error = end.error.clone().expect("an error");
    assert_eq!(error.code, ErrorCode::Internal, "{error:?}");
    assert!(error.message.contains(inject::MESSAGE), "{}", error.message);
    let wire = serde_json::to_value(&error).expect("json");
    assert_eq!(wire["code"], "internal");

    let row = app.job_detail(&job.id).expect("detail").job;
    assert_eq!(row.state, JobState::Failed);
    assert_eq!(row.error.map(|e| e.code), Some(ErrorCode::Internal));
}
