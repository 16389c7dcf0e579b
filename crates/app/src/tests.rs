use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveTime;
use tidemark_core::{
    Counters, ErrorInfo, EventLog, ItemState, JobKind, JobSpec, JobState, ProgressEvent,
    SnapshotSpec, Step,
};

use crate::notify::{self, NotificationKind};
use crate::settings::{in_quiet_hours, parse_hhmm};
use crate::*;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<JobUpdate>>>);

impl Recorder {
    fn take(&self) -> Vec<JobUpdate> {
        std::mem::take(&mut *self.0.lock().expect("recorder"))
    }
}

impl ProgressSink<JobUpdate> for Recorder {
    fn deliver(&mut self, update: &JobUpdate) -> Result<(), SinkClosed> {
        self.0.lock().expect("recorder").push(update.clone());
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct Sent(pub(crate) Mutex<Vec<Notification>>);
impl Notifier for Sent {
    fn notify(&self, n: &Notification) -> Result<(), crate::notify::NotifyError> {
        self.0.lock().expect("sent").push(n.clone());
        Ok(())
    }
}

pub(crate) fn app_in(dir: &Path) -> App {
    App::new(
        AppConfig::beside(dir.join("history.db")),
        tokio::runtime::Handle::current(),
        Arc::new(NoHooks),
        Arc::new(NoNotifier),
    )
}

fn at(hhmm: &str) -> NaiveTime {
    parse_hhmm(hhmm).expect("time")
}

fn ev(state: JobState, step: Step, n: u32, processed: u64) -> ProgressEvent {
    ProgressEvent {
        state,
        step,
        step_number: n,
        percent: Some(processed as f64 / 10.0),
        counters: Counters {
            processed,
            total: Some(1000),
            bytes_done: processed * 10,
            bytes_total: Some(10_000),
        },
        timestamp: "2026-11-23T10:00:00.000Z".into(),
        ..ProgressEvent::blank("j1", JobKind::Snapshot, 6)
    }
}

fn sample_tree(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("photos");
    std::fs::create_dir_all(src.join("2026")).expect("mkdir");
    for i in 0..20 {
        std::fs::write(
            src.join("2026").join(format!("img-{i}.raw")),
            vec![i as u8; 4096 * (i + 1)],
        )
        .expect("write");
    }
    src
}

async fn wait_until_not_active(app: &App, id: &str) {
    for _ in 0..600 {
        if app.active_jobs().iter().all(|j| j.id != id) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not end");
}

#[test]
fn quiet_hours_span_midnight_and_exclude_their_end() {
    let night = QuietHours {
        start: "22:00".into(),
        end: "07:30".into(),
    };
    assert!(in_quiet_hours(&night, at("23:15")));
    assert!(in_quiet_hours(&night, at("00:00")));
    assert!(in_quiet_hours(&night, at("07:29")));
    assert!(!in_quiet_hours(&night, at("07:30")));
    assert!(!in_quiet_hours(&night, at("12:00")));
    let lunch = QuietHours {
        start: "12:00".into(),
        end: "13:00".into(),
    };
    assert!(in_quiet_hours(&lunch, at("12:00")));
    assert!(!in_quiet_hours(&lunch, at("13:00")));
    let none = QuietHours {
        start: "09:00".into(),
        end: "09:00".into(),
    };
    assert!(!in_quiet_hours(&none, at("09:00")));
    for bad in ["9:00", "24:00", "12:60", "noon", "12-00", ""] {
        assert!(parse_hhmm(bad).is_none(), "{bad}");
    }
}

#[test]
fn the_policy_follows_the_settings_and_quiet_hours() {
    let mut s = Settings::default();
    for kind in [
        NotificationKind::Completed,
        NotificationKind::Failed,
        NotificationKind::AgentUnreachable,
    ] {
        assert!(notify::allowed(kind, &s, at("12:00")));
    }
    s.notify_completed = false;
    assert!(!notify::allowed(
        NotificationKind::Completed,
        &s,
        at("12:00")
    ));
    assert!(notify::allowed(NotificationKind::Failed, &s, at("12:00")));
    s.quiet_hours = Some(QuietHours {
        start: "22:00".into(),
        end: "07:00".into(),
    });
    assert!(!notify::allowed(NotificationKind::Failed, &s, at("23:00")));
    assert!(notify::allowed(NotificationKind::Failed, &s, at("08:00")));
}

fn summary(state: JobState) -> JobSummary {
    JobSummary {
        id: "j1".into(),
        kind: JobKind::Snapshot,
        state,
        title: "Snapshot of photos".into(),
        source: "/p".into(),
        destination: "/a".into(),
        created_at: String::new(),
        started_at: None,
        finished_at: None,
        percent: Some(100.0),
        counters: Counters {
            processed: 10,
            total: Some(10),
            bytes_done: 2_500_000,
            bytes_total: Some(2_500_000),
        },
        result_url: Some("/a/photos.tar.zst".into()),
        error: None,
        resumable: false,
        remote: None,
    }
}

#[test]
fn a_summary_keeps_its_counters_as_flat_keys() {
    let v = serde_json::to_value(summary(JobState::Completed)).expect("json");
    assert_eq!(
        (
            &v["processed"],
            &v["total"],
            &v["bytesDone"],
            &v["bytesTotal"]
        ),
        (
            &serde_json::json!(10),
            &serde_json::json!(10),
            &serde_json::json!(2_500_000),
            &serde_json::json!(2_500_000)
        )
    );
    assert!(v.get("counters").is_none(), "{v}");
}

#[test]
fn job_end_notifications_say_size_duration_or_the_error() {
    let done = notify::for_job_end(&summary(JobState::Completed), Some(192_000)).expect("done");
    assert_eq!(done.kind, NotificationKind::Completed);
    assert_eq!(done.title, "Snapshot of photos completed");
    assert!(
        done.body.starts_with("2.5 MB in 3 min 12 s"),
        "{}",
        done.body
    );
    assert!(done.body.contains("/a/photos.tar.zst"));

    let mut failed = summary(JobState::Failed);
    failed.error = Some(ErrorInfo {
        code: tidemark_core::ErrorCode::DiskFull,
        message: "no space left on the device".into(),
    });
    let n = notify::for_job_end(&failed, Some(1000)).expect("failed");
    assert_eq!(n.kind, NotificationKind::Failed);
    assert_eq!(n.body, "no space left on the device");

    assert!(notify::for_job_end(&summary(JobState::Cancelled), None).is_none());
    assert!(notify::for_job_end(&summary(JobState::Running), None).is_none());
}

#[tokio::test]
async fn settings_persist_and_invalid_ones_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_in(dir.path());
    assert_eq!(app.get_settings(), Settings::default());
    let s = Settings {
        close_to_tray: false,
        quiet_hours: Some(QuietHours {
            start: "22:00".into(),
            end: "07:00".into(),
        }),
        ..Settings::default()
    };
    assert_eq!(app.set_settings(s.clone()).expect("saved"), s);
    assert_eq!(app_in(dir.path()).get_settings(), s);

    let mut bad = s.clone();
    bad.quiet_hours = Some(QuietHours {
        start: "25:00".into(),
        end: "07:00".into(),
    });
    let err = AppError::from(app.set_settings(bad).expect_err("refused"));
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert_eq!(app.get_settings(), s, "a refused change changes nothing");

    std::fs::write(dir.path().join("settings.json"), "{ not json").expect("write");
    assert_eq!(app_in(dir.path()).get_settings(), Settings::default());
}

#[tokio::test]
async fn errors_carry_codes_and_serialise_as_code_and_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_in(dir.path());
    let missing = app
        .start_snapshot(StartSnapshot {
            source: dir.path().join("nope").display().to_string(),
            destination: dir.path().display().to_string(),
            name: None,
        })
        .expect_err("missing source");
    let json = serde_json::to_value(AppError::from(missing)).expect("json");
    assert_eq!(json["code"], "source_missing");
    assert!(json["message"].as_str().expect("message").contains("nope"));
    assert_eq!(json.as_object().expect("object").len(), 2);

    let cases = [
        app.job_detail("no-such-job").expect_err("unknown").code(),
        app.cancel_job("no-such-job").expect_err("unknown").code(),
        app.resume_job("no-such-job").expect_err("unknown").code(),
        app.remove_agent("nobody").expect_err("unknown").code(),
    ];
    assert!(cases.iter().all(|c| *c == ErrorCode::NotFound), "{cases:?}");
    let empty = app
        .start_sync(StartSync {
            sources: vec![],
            destination: "/tmp".into(),
            delete: false,
        })
        .expect_err("no sources");
    assert_eq!(empty.code(), ErrorCode::InvalidInput);
    let relative = app
        .start_snapshot(StartSnapshot {
            source: sample_tree(dir.path()).display().to_string(),
            destination: "relative/dir".into(),
            name: None,
        })
        .expect_err("relative destination");
    assert_eq!(relative.code(), ErrorCode::InvalidInput);
}

/// The first message is the current state; afterwards about 10/s, with every step change
/// and the end delivered, then `closed`. On tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn a_subscription_starts_with_the_current_state_and_is_throttled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_in(dir.path());
    let log = EventLog::new();
    log.append(ev(JobState::Queued, Step::Waiting, 1, 0));
    for i in 0..5 {
        log.append(ev(JobState::Running, Step::Browsing, 2, i));
    }
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: "/p/photos".into(),
        destination: "/a".into(),
        name: None,
    });
    app.attach_for_test("j1", log.clone(), spec);
    let rec = Recorder::default();
    app.subscribe_job("j1", Box::new(rec.clone()))
        .expect("subscribed");
    let first = rec.take();
    match first.as_slice() {
        [
            JobUpdate::Event { event },
            JobUpdate::Connection {
                state: ConnectionState::Live,
            },
        ] => {
            assert_eq!(event.seq, 6, "the newest event, not the first");
        }
        other => panic!("unexpected first messages {other:?}"),
    }

    // A burst of 200 counter updates within one second: about 10 reach the window.
    for i in 0..200 {
        log.append(ev(JobState::Running, Step::Browsing, 2, 10 + i));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let burst = rec.take();
    assert!(
        (8..=13).contains(&burst.len()),
        "{} updates for a 1 s burst",
        burst.len()
    );
    let last_seq = |u: &[JobUpdate]| match u.last() {
        Some(JobUpdate::Event { event }) => event.seq,
        other => panic!("expected an event, got {other:?}"),
    };
    assert_eq!(
        last_seq(&burst),
        206,
        "the newest state is never held back for good"
    );

    // A step change right after an update, and the end right after it: neither waits.
    log.append(ev(JobState::Running, Step::Manifest, 3, 0));
    log.append(ev(JobState::Running, Step::Compressing, 4, 0));
    let mut end = ev(JobState::Completed, Step::Completed, 6, 1000);
    end.result_url = Some("/a/photos.tar.zst".into());
    log.append(end);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let tail = rec.take();
    let steps: Vec<Step> = tail
        .iter()
        .filter_map(|u| match u {
            JobUpdate::Event { event } => Some(event.step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [Step::Manifest, Step::Compressing, Step::Completed]);
    assert_eq!(tail.last(), Some(&JobUpdate::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_runs_to_history_with_its_steps_and_a_notification() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = Arc::new(Sent::default());
    let app = App::new(
        AppConfig::beside(dir.path().join("data").join("history.db")),
        tokio::runtime::Handle::current(),
        Arc::new(NoHooks),
        sent.clone(),
    );
    let src = sample_tree(dir.path());
    let dest = dir.path().join("archives");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let job = app
        .start_snapshot(StartSnapshot {
            source: src.display().to_string(),
            destination: dest.display().to_string(),
            name: Some("photos-test".into()),
        })
        .expect("started");
    assert_eq!(job.title, "Snapshot of photos");
    let rec = Recorder::default();
    app.subscribe_job(&job.id, Box::new(rec.clone()))
        .expect("subscribed");
    wait_until_not_active(&app, &job.id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let updates = rec.take();
    assert!(
        matches!(updates.first(), Some(JobUpdate::Event { .. })),
        "{updates:?}"
    );
    assert_eq!(updates.last(), Some(&JobUpdate::Closed));

    let history = app.list_history(HistoryFilter::default()).expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].state,
        JobState::Completed,
        "{:?}",
        history[0].error
    );
    assert!(dest.join("photos-test.tar.zst").exists());
    let detail = app.job_detail(&job.id).expect("detail");
    let steps: Vec<Step> = detail.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps.first(), Some(&Step::Waiting));
    assert_eq!(steps.last(), Some(&Step::Completed));
    assert!(steps.contains(&Step::Compressing));
    let events = app.job_events(&job.id, 0).expect("events");
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(
        detail.last.as_ref().map(|e| e.seq),
        events.last().map(|e| e.seq)
    );

    let notes = sent.0.lock().expect("sent").clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].kind, NotificationKind::Completed);
    assert!(notes[0].body.contains(" in "), "{}", notes[0].body);

    // A later subscriber to an ended job gets its end, then closed.
    let late = Recorder::default();
    app.subscribe_job(&job.id, Box::new(late.clone()))
        .expect("subscribed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got = late.take();
    assert!(
        matches!(got.first(), Some(JobUpdate::Event { event }) if event.state == JobState::Completed),
        "{got:?}"
    );
    assert_eq!(got.last(), Some(&JobUpdate::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_job_is_found_at_start_and_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.db");
    let src = sample_tree(dir.path());
    let dest = dir.path().join("archives");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: src.clone(),
        destination: dest.display().to_string(),
        name: Some("resumed".into()),
    });
    // A run whose process died in its second step: stored as running, nobody holds its lock.
    {
        let mut store = tidemark_store::Store::open(&db).expect("store");
        store
            .create_job("dead-1", &spec, &chrono::Utc::now().to_rfc3339())
            .expect("job");
        let mut e1 = ev(JobState::Queued, Step::Waiting, 1, 0);
        e1.job_id = "dead-1".into();
        e1.seq = 1;
        let mut e2 = ev(JobState::Running, Step::Browsing, 2, 3);
        e2.job_id = "dead-1".into();
        e2.seq = 2;
        e2.percent = Some(5.0);
        store
            .append_events(&[Arc::new(e1), Arc::new(e2)])
            .expect("events");
    }
    let app = app_in(dir.path());
    let found = app.list_history(HistoryFilter::default()).expect("history");
    assert_eq!(found[0].state, JobState::Interrupted);
    assert!(found[0].resumable);

    let rec = Recorder::default();
    app.subscribe_job("dead-1", Box::new(rec.clone()))
        .expect("subscribed");
    let resumed = app.resume_job("dead-1").expect("resumed");
    assert_eq!(resumed.id, "dead-1");
    assert_eq!(
        resumed.created_at, found[0].created_at,
        "still the job it was"
    );
    wait_until_not_active(&app, "dead-1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let detail = app.job_detail("dead-1").expect("detail");
    assert_eq!(
        detail.job.state,
        JobState::Completed,
        "{:?}",
        detail.job.error
    );
    assert!(dest.join("resumed.tar.zst").exists());
    let events = app.job_events("dead-1", 0).expect("events");
    assert!(
        events.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "no gap"
    );

    // The window that watched the interrupted job followed the resumed run to its end.
    let updates = rec.take();
    let states: Vec<JobState> = updates
        .iter()
        .filter_map(|u| match u {
            JobUpdate::Event { event } => Some(event.state),
            _ => None,
        })
        .collect();
    assert_eq!(states.first(), Some(&JobState::Interrupted), "{states:?}");
    assert_eq!(states.last(), Some(&JobState::Completed), "{states:?}");
    assert_eq!(updates.last(), Some(&JobUpdate::Closed));

    let again = app.resume_job("dead-1").expect_err("completed");
    assert_eq!(again.code(), ErrorCode::NotResumable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_ends_cancelled_and_can_be_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_in(dir.path());
    // 3 MiB that do not compress, to a target that reads about 1 MiB/s: the job cannot
    // end before it is paused, however late the test gets to pausing it.
    let src = dir.path().join("noise");
    tidemark_tests::write(
        src.join("noise.bin"),
        &tidemark_tests::pseudo_random(3 << 20, 9),
    );
    let put = tidemark_tests::slow_put::SlowPut::start();
    let job = app
        .start_snapshot(StartSnapshot {
            source: src.display().to_string(),
            destination: put.url.clone(),
            name: None,
        })
        .expect("started");
    app.pause_job(&job.id).expect("paused");
    app.cancel_job(&job.id).expect("cancelled");
    wait_until_not_active(&app, &job.id).await;
    let detail = app.job_detail(&job.id).expect("detail");
    assert_eq!(detail.job.state, JobState::Cancelled);
    assert!(app.pause_job(&job.id).is_err());
    app.cancel_job(&job.id)
        .expect("cancelling an ended job is a no-op");
    let retry = app.retry_job(&job.id).expect("retried");
    assert_ne!(retry.id, job.id);
    wait_until_not_active(&app, &retry.id).await;
    let history = app.list_history(HistoryFilter::default()).expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].state, JobState::Completed);
    assert_eq!(put.whole().len(), 1, "only the retry's upload is whole");
}

/// A missing source does not refuse the whole sync: the others are mirrored and its row
/// says what is wrong, and the job as a whole reports the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_with_a_missing_source_mirrors_the_others_and_fails_that_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app_in(dir.path());
    let good = sample_tree(dir.path());
    let other = dir.path().join("music");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("a.flac"), b"la").expect("write");
    let missing = dir.path().join("not-there");
    let mirror = dir.path().join("mirror");
    let job = app
        .start_sync(StartSync {
            sources: [&good, &missing, &other]
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            destination: mirror.display().to_string(),
            delete: false,
        })
        .expect("started despite the missing source");
    wait_until_not_active(&app, &job.id).await;
    let detail = app.job_detail(&job.id).expect("detail");
    assert_eq!(detail.job.state, JobState::Failed);
    let last = detail.last.expect("last event");
    let rows: Vec<(String, ItemState)> = last
        .items
        .iter()
        .map(|i| (i.name.clone(), i.state))
        .collect();
    assert_eq!(
        rows,
        [
            ("photos".to_owned(), ItemState::Done),
            ("not-there".to_owned(), ItemState::Failed),
            ("music".to_owned(), ItemState::Done),
        ]
    );
    let err = last.items[1].error.as_ref().expect("the row's error");
    assert!(err.message.contains("not-there"), "{}", err.message);
    assert!(mirror.join("photos/2026/img-3.raw").exists());
    assert!(mirror.join("music/a.flac").exists());

    let relative = app
        .start_sync(StartSync {
            sources: vec!["relative/src".into()],
            destination: mirror.display().to_string(),
            delete: false,
        })
        .expect_err("relative source");
    assert_eq!(relative.code(), ErrorCode::InvalidInput);
}

#[test]
fn app_types_serialise_as_the_contract_says() {
    let u = JobUpdate::Connection {
        state: ConnectionState::Reconnecting {
            attempt: 2,
            of: 5,
            delay_ms: 4000,
        },
    };
    assert_eq!(
        serde_json::to_value(&u).expect("json"),
        serde_json::json!({"type": "connection", "state": {"state": "reconnecting", "attempt": 2, "of": 5, "delayMs": 4000}})
    );
    assert_eq!(
        serde_json::to_value(JobUpdate::Closed).expect("json"),
        serde_json::json!({"type": "closed"})
    );
    assert_eq!(
        serde_json::to_value(ConnectionState::AuthFailed {
            message: "no".into()
        })
        .expect("json"),
        serde_json::json!({"state": "authFailed", "message": "no"})
    );
    let s: Settings =
        serde_json::from_value(serde_json::json!({"notifyCompleted": false})).expect("partial");
    assert!(!s.notify_completed && s.notify_failed && s.close_to_tray);
}

/// The agent commands against a real agent on a loopback port: a wrong token, an address
/// nobody answers, then a job started there and followed to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_is_checked_added_and_its_job_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    let photos = sample_tree(&root);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(tidemark_agent::serve(
        agent_config(dir.path(), &root),
        move |started| {
            let _ = tx.send(started);
        },
    ));
    let started = rx.await.expect("the agent started");
    let token = started.new_admin_token.clone().expect("a new admin token");
    let link = |token: &str| pairing_link(&started, token);
    let client = pinned_client(&started);
    let url = started.url.clone();
    let app = app_in(dir.path());

    let add = |url: &str, token: &str| AddAgent {
        name: "nas".into(),
        url: url.into(),
        token: token.into(),
    };
    let refused = app
        .add_agent(add(&link("wrong"), ""))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), ErrorCode::AgentAuthFailed, "{refused}");
    let nobody = app
        .add_agent(add("http://127.0.0.1:9", &token))
        .await
        .expect_err("unreachable");
    assert_eq!(nobody.code(), ErrorCode::AgentUnreachable, "{nobody}");
    assert!(
        app.list_agents().is_empty(),
        "nothing kept from failed checks"
    );

    // Its https:// address alone: its own certificate is signed by no authority.
    let untrusted = app
        .add_agent(add(&url, &token))
        .await
        .expect_err("not trusted");
    assert!(untrusted.to_string().contains("certificate"), "{untrusted}");

    let agent = app.add_agent(add(&link(&token), "")).await.expect("added");
    assert_eq!(agent.url, url, "shown by its address, not its link");
    assert_eq!(app.list_agents(), vec![agent.clone()]);
    assert_eq!(
        app_in(dir.path()).list_agents(),
        vec![agent.clone()],
        "persisted"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("agents.json"))
            .expect("agents.json")
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "only its user reads where the agents are"
        );
    }

    let started_job: serde_json::Value = client
        .post(format!("{url}/api/v1/jobs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "kind": "snapshot", "source": photos, "destination": root.join("out"), "name": "remote"
        }))
        .send()
        .await
        .expect("POST")
        .json()
        .await
        .expect("json");
    let job_id = started_job["id"].as_str().expect("job id").to_owned();
    let listed = app.list_remote_jobs(&agent.id).await.expect("listed");
    assert!(
        listed
            .iter()
            .any(|j| j.id == job_id && j.agent_id == agent.id)
    );
    assert_eq!(listed[0].title, "Snapshot on nas");

    let rec = Recorder::default();
    app.watch_remote_job(&agent.id, &job_id, Box::new(rec.clone()))
        .expect("watching");
    let mut seen = Vec::new();
    for _ in 0..400 {
        seen.extend(rec.take());
        if seen.last() == Some(&JobUpdate::Closed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.first(),
        Some(&JobUpdate::Connection {
            state: ConnectionState::Connecting
        })
    );
    assert!(seen.contains(&JobUpdate::Connection {
        state: ConnectionState::Live
    }));
    let last_event = seen.iter().rev().find_map(|u| match u {
        JobUpdate::Event { event } => Some(event.state),
        _ => None,
    });
    assert_eq!(last_event, Some(JobState::Completed), "{seen:?}");
    assert_eq!(seen.last(), Some(&JobUpdate::Closed));
    assert!(root.join("out").join("remote.tar.zst").exists());

    app.remove_agent(&agent.id).expect("removed");
    assert!(app.list_agents().is_empty());
    server.abort();
}

/// A real agent on a loopback port with a folder of photos under its root.
pub(crate) struct TestAgent {
    pub(crate) url: String,
    /// Its pairing link with the admin token.
    pub(crate) link: String,
    pub(crate) token: String,
    pub(crate) client: reqwest::Client,
    pub(crate) root: std::path::PathBuf,
    pub(crate) photos: std::path::PathBuf,
    pub(crate) server: tokio::task::JoinHandle<Result<(), tidemark_agent::AgentError>>,
}

pub(crate) fn agent_config(dir: &Path, root: &Path) -> tidemark_agent::AgentConfig {
    let mut cfg = tidemark_agent::AgentConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        vec![root.to_owned()],
        dir.join("agent.db"),
        dir.join("agent-tokens.json"),
    );
    cfg.max_streams_per_token = 8;
    cfg
}

fn pairing_link(started: &tidemark_agent::Started, token: &str) -> String {
    tidemark_core::PairingLink {
        host: started.addr.ip().to_string(),
        port: started.addr.port(),
        fingerprint: started.fingerprint.expect("TLS"),
        token: token.to_owned(),
    }
    .to_string()
}

/// A client that trusts the agent's own certificate, as a paired one does.
fn pinned_client(started: &tidemark_agent::Started) -> reqwest::Client {
    let (tls, _) = tidemark_remote::tls::client_config(started.fingerprint).expect("TLS config");
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .expect("client")
}

pub(crate) async fn start_agent(dir: &Path) -> TestAgent {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("out")).expect("mkdir");
    let photos = sample_tree(&root);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(tidemark_agent::serve(
        agent_config(dir, &root),
        move |started| {
            let _ = tx.send(started);
        },
    ));
    let started = rx.await.expect("the agent started");
    let token = started.new_admin_token.clone().expect("a new admin token");
    TestAgent {
        url: started.url.clone(),
        link: pairing_link(&started, &token),
        token,
        client: pinned_client(&started),
        root,
        photos,
        server,
    }
}

impl TestAgent {
    async fn start_snapshot(&self, name: &str) -> String {
        let started: serde_json::Value = self
            .client
            .post(format!("{}/api/v1/jobs", self.url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({
                "kind": "snapshot", "source": self.photos,
                "destination": self.root.join("out"), "name": name
            }))
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json");
        started["id"].as_str().expect("job id").to_owned()
    }

    async fn events(&self, job: &str) -> Vec<ProgressEvent> {
        self.client
            .get(format!("{}/api/v1/jobs/{job}/events?since=0", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET events")
            .json()
            .await
            .expect("events json")
    }
}

/// A real agent, and an app on `dir` that has added it as "nas".
async fn app_with_agent(dir: &Path) -> (TestAgent, App, AgentInfo) {
    let agent_proc = start_agent(dir).await;
    let app = app_in(dir);
    let agent = app
        .add_agent(AddAgent {
            name: "nas".into(),
            url: agent_proc.link.clone(),
            token: String::new(),
        })
        .await
        .expect("added");
    (agent_proc, app, agent)
}

/// Waits for a subscription's `closed`, returning everything it received.
async fn until_closed(rec: &Recorder) -> Vec<JobUpdate> {
    let mut seen = Vec::new();
    for _ in 0..600 {
        seen.extend(rec.take());
        if seen.last() == Some(&JobUpdate::Closed) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the watch did not close: {seen:?}");
}

/// Two windows watch one job of a real agent to its end: the history holds the job once,
/// marked remote, with exactly the agent's events; a restart does not touch it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_remote_job_is_recorded_once_with_the_agents_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent_proc, app, agent) = app_with_agent(dir.path()).await;
    let job_id = agent_proc.start_snapshot("remote").await;
    let (a, b) = (Recorder::default(), Recorder::default());
    app.watch_remote_job(&agent.id, &job_id, Box::new(a.clone()))
        .expect("first watch");
    app.watch_remote_job(&agent.id, &job_id, Box::new(b.clone()))
        .expect("second watch");
    let (seen_a, seen_b) = (until_closed(&a).await, until_closed(&b).await);
    for seen in [&seen_a, &seen_b] {
        assert!(
            !seen
                .iter()
                .any(|u| matches!(u, JobUpdate::NotRecorded { .. })),
            "{seen:?}"
        );
    }

    let local = App::remote_history_id(&agent.id, &job_id);
    let stored = app.job_events(&local, 0).expect("stored events");
    let theirs = agent_proc.events(&job_id).await;
    assert!(!theirs.is_empty());
    assert_eq!(stored, theirs, "the history is the agent's list, once");
    assert!(
        stored.iter().zip(1..).all(|(e, n)| e.seq == n),
        "seq 1, 2, … without a gap"
    );
    assert_eq!(
        stored.last().map(|e| e.state),
        Some(JobState::Completed),
        "{stored:?}"
    );

    let history = app.list_history(HistoryFilter::default()).expect("history");
    let row = history
        .iter()
        .find(|j| j.id == local)
        .expect("the remote run is listed");
    assert_eq!(history.iter().filter(|j| j.id == local).count(), 1);
    assert_eq!(
        row.remote,
        Some(RemoteRun {
            agent_id: agent.id.clone(),
            agent_name: "nas".into(),
            job_id: job_id.clone(),
        })
    );
    assert_eq!(
        (row.state, row.title.as_str(), row.resumable),
        (JobState::Completed, "Snapshot of photos", false)
    );
    assert_eq!(row.source, agent_proc.photos.display().to_string());
    let detail = app.job_detail(&local).expect("detail");
    let steps: Vec<Step> = detail.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps.first(), Some(&Step::Waiting), "{steps:?}");
    assert_eq!(steps.last(), Some(&Step::Completed), "{steps:?}");
    assert_eq!(detail.last.as_ref(), theirs.last());

    // Watching again later (a new window) stores nothing twice.
    let c = Recorder::default();
    app.watch_remote_job(&agent.id, &job_id, Box::new(c.clone()))
        .expect("third watch");
    until_closed(&c).await;
    assert_eq!(app.job_events(&local, 0).expect("events"), theirs);

    // A restart of the app leaves the remote run as the agent said.
    let again = app_in(dir.path());
    let row = again.job_detail(&local).expect("after a restart").job;
    assert_eq!(row.state, JobState::Completed);
    assert_eq!(again.job_events(&local, 0).expect("events"), theirs);
    let err = again.retry_job(&local).expect_err("not retried here");
    assert_eq!(err.code(), ErrorCode::NotResumable, "{err}");
    agent_proc.server.abort();
}

/// A remote run the app stopped watching mid-job is neither marked interrupted at the next
/// start nor resumed, paused or cancelled locally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_remote_run_survives_a_restart_and_is_not_controlled_locally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.db");
    let origin = tidemark_store::RemoteOrigin {
        agent_id: "a1".into(),
        agent_name: "nas".into(),
        job_id: "j1".into(),
    };
    let local = {
        let mut store = tidemark_store::Store::open(&db).expect("store");
        let id = store
            .create_remote_job(
                &origin,
                &JobSpec::Snapshot(SnapshotSpec {
                    source: "/srv/photos".into(),
                    destination: "/srv/out".into(),
                    name: None,
                }),
                "2026-11-23T10:00:00.000Z",
            )
            .expect("remote job");
        let mut events = vec![
            ev(JobState::Running, Step::Browsing, 2, 0),
            ev(JobState::Running, Step::Compressing, 4, 10),
        ];
        for (e, seq) in events.iter_mut().zip(1..) {
            e.seq = seq;
        }
        store
            .append_remote_events(&id, &events)
            .expect("remote events");
        id
    };
    assert_eq!(local, App::remote_history_id("a1", "j1"));
    let app = app_in(dir.path());
    let row = app.job_detail(&local).expect("detail").job;
    assert_eq!(row.state, JobState::Running, "not interrupted by recovery");
    assert_eq!(app.job_events(&local, 0).expect("events").len(), 2);
    for err in [
        app.resume_job(&local).expect_err("resume"),
        app.retry_job(&local).expect_err("retry"),
    ] {
        assert_eq!(err.code(), ErrorCode::NotResumable, "{err}");
        assert!(err.to_string().contains("agent nas"), "{err}");
    }
    for err in [
        app.pause_job(&local).expect_err("pause"),
        app.cancel_job(&local).expect_err("cancel"),
    ] {
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    }
    assert!(app.active_jobs().is_empty());
}

/// A history that cannot be written while a job is watched: the window is told, progress
/// still shows, and once the history works again every event is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_history_write_is_shown_and_retried_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The history file is a folder for now: nothing can be written.
    let db = dir.path().join("history.db");
    std::fs::create_dir(&db).expect("a folder in its place");
    let (agent_proc, app, agent) = app_with_agent(dir.path()).await;
    let job_id = agent_proc.start_snapshot("remote").await;
    let rec = Recorder::default();
    app.watch_remote_job(&agent.id, &job_id, Box::new(rec.clone()))
        .expect("watching");
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen.extend(rec.take());
        if seen
            .iter()
            .any(|u| matches!(u, JobUpdate::NotRecorded { .. }))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failure = seen.iter().find_map(|u| match u {
        JobUpdate::NotRecorded { error } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(
        failure.map(|e| e.code),
        Some(ErrorCode::DbIo),
        "the failure is shown: {seen:?}"
    );
    std::fs::remove_dir(&db).expect("the folder goes");
    // A job that ends before its first failed write is reported gets `closed` right after
    // the failure, in the same batch the loop above stopped at.
    if seen.last() != Some(&JobUpdate::Closed) {
        seen.extend(until_closed(&rec).await);
    }
    assert!(
        seen.iter()
            .any(|u| matches!(u, JobUpdate::Event { event } if event.state == JobState::Completed)),
        "progress kept showing: {seen:?}"
    );
    // A job that ended while the history failed is still being retried after `closed`.
    let local = App::remote_history_id(&agent.id, &job_id);
    let expected = agent_proc.events(&job_id).await;
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored = app.job_events(&local, 0).unwrap_or_default();
        if stored == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, expected);
    agent_proc.server.abort();
}

/// The copy differs from the agent's list (as when an agent killed before writing events it
/// had streamed numbers its next ones again): at the job's end the agent's list wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_that_differs_from_the_agents_list_is_replaced_at_the_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (agent_proc, app, agent) = app_with_agent(dir.path()).await;
    let job_id = agent_proc.start_snapshot("remote").await;
    // What a previous watch stored before the agent lost and renumbered seq 2 and 3.
    {
        let mut store = tidemark_store::Store::open(app.db()).expect("store");
        let origin = tidemark_store::RemoteOrigin {
            agent_id: agent.id.clone(),
            agent_name: "nas".into(),
            job_id: job_id.clone(),
        };
        let id = store
            .create_remote_job(
                &origin,
                &JobSpec::Snapshot(SnapshotSpec {
                    source: agent_proc.photos.clone(),
                    destination: "/elsewhere".into(),
                    name: None,
                }),
                "2026-11-23T10:00:00.000Z",
            )
            .expect("row");
        let mut stale = vec![
            ev(JobState::Running, Step::Browsing, 2, 1),
            ev(JobState::Running, Step::Browsing, 2, 2),
            ev(JobState::Running, Step::Browsing, 2, 3),
        ];
        for (e, seq) in stale.iter_mut().zip(1..) {
            e.seq = seq;
            e.job_id = job_id.clone();
            e.message = "lost by the agent".into();
        }
        store.append_remote_events(&id, &stale).expect("stale");
    }
    let rec = Recorder::default();
    app.watch_remote_job(&agent.id, &job_id, Box::new(rec.clone()))
        .expect("watching");
    until_closed(&rec).await;
    let local = App::remote_history_id(&agent.id, &job_id);
    let stored = app.job_events(&local, 0).expect("stored");
    assert_eq!(stored, agent_proc.events(&job_id).await);
    assert!(stored.iter().all(|e| e.message != "lost by the agent"));
    assert_eq!(
        app.job_detail(&local).expect("detail").job.state,
        JobState::Completed
    );
    agent_proc.server.abort();
}
