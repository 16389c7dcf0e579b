//! The commands as the webview calls them: `mock_builder` with the real context (so the
//! capability's permissions apply), JSON in, JSON or `{code, message}` out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, Channel, InvokeBody, InvokeResponseBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};
use tidemark_app::{App, JobUpdate};
use tidemark_desktop::{ChannelSink, Mode, install, with_app};

struct Fixture {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn fixture_with(dir: tempfile::TempDir) -> Fixture {
    let app = with_app(mock_builder(), Mode::Headless)
        .build(tauri::generate_context!())
        .expect("app");
    install(
        &app,
        &tidemark_store::Places::beside(&dir.path().join("history.db")),
        Mode::Headless,
    );
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("window");
    Fixture {
        _app: app,
        window,
        dir,
    }
}

fn fixture() -> Fixture {
    fixture_with(tempfile::tempdir().expect("tempdir"))
}

impl Fixture {
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().expect("json"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn tree(&self, files: usize) -> PathBuf {
        let src = self.dir.path().join("photos");
        std::fs::create_dir_all(src.join("2026")).expect("mkdir");
        for i in 0..files {
            let data: Vec<u8> = (0..64 * 1024)
                .map(|b| ((b * 31 + i * 7) % 251) as u8)
                .collect();
            std::fs::write(src.join("2026").join(format!("img-{i}.raw")), data).expect("write");
        }
        src
    }

    fn dest(&self) -> PathBuf {
        let d = self.dir.path().join("archives");
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    fn wait_idle(&self, id: &str) {
        let start = Instant::now();
        while self
            .ok("active_jobs", json!({}))
            .as_array()
            .expect("array")
            .iter()
            .any(|j| j["id"] == id)
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "job {id} never ended"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn start_snapshot(f: &Fixture, src: &Path, name: &str) -> Value {
    f.ok(
        "start_snapshot",
        json!({"request": {"source": src, "destination": f.dest(), "name": name}}),
    )
}

#[test]
fn a_snapshot_started_from_the_window_reaches_the_history() {
    let f = fixture();
    let src = f.tree(20);
    let job = start_snapshot(&f, &src, "first");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(job["kind"], "snapshot");
    assert_eq!(job["title"], "Snapshot of photos");

    // A late subscriber gets the current state first, then the rest, then closed.
    let (tx, rx) = mpsc::channel::<JobUpdate>();
    let channel = Channel::new(move |body| {
        if let InvokeResponseBody::Json(s) = body {
            let _ = tx.send(serde_json::from_str(&s).expect("a JobUpdate"));
        }
        Ok(())
    });
    let app = f.window.state::<App>();
    app.subscribe_job(&id, Box::new(ChannelSink(channel)))
        .expect("subscribed");
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(JobUpdate::Event { .. })
    ));
    f.wait_idle(&id);
    let rest: Vec<JobUpdate> = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(5)).ok())
        .take_while(|u| *u != JobUpdate::Closed)
        .collect();
    assert!(
        rest.iter().any(
            |u| matches!(u, JobUpdate::Event { event } if event.state.as_str() == "completed")
        ),
        "{rest:?}"
    );

    let history = f.ok(
        "list_history",
        json!({"filter": {"state": null, "kind": "snapshot", "limit": 10}}),
    );
    assert_eq!(history[0]["id"], id.as_str());
    assert_eq!(history[0]["state"], "completed");
    assert!(f.dest().join("first.tar.zst").exists());
    let detail = f.ok("job_detail", json!({"id": id}));
    assert_eq!(detail["steps"][0]["step"], "waiting");
    assert_eq!(detail["last"]["state"], "completed");
    let events = f.ok("job_events", json!({"id": id, "since": 2}));
    assert_eq!(events[0]["seq"], 3);
    // subscribe_job over IPC answers with a subscription number (the channel is the JS one).
    let sub = f.ok(
        "subscribe_job",
        json!({"id": id, "channel": "__CHANNEL__:42"}),
    );
    assert!(sub.as_u64().is_some(), "{sub}");
    f.ok("unsubscribe", json!({"subscription": sub}));
}

#[test]
fn a_paused_job_can_be_cancelled_and_retried() {
    let f = fixture();
    let src = f.tree(60);
    let job = start_snapshot(&f, &src, "cancelled");
    let id = job["id"].as_str().expect("id").to_owned();
    f.ok("pause_job", json!({"id": id}));
    assert_eq!(f.ok("cancel_job", json!({"id": id})), Value::Null);
    f.wait_idle(&id);
    let detail = f.ok("job_detail", json!({"id": id}));
    assert_eq!(detail["job"]["state"], "cancelled");
    assert!(!f.dest().join("cancelled.tar.zst").exists());
    let err = f
        .invoke("pause_job", json!({"id": id}))
        .expect_err("not running");
    assert_eq!(err["code"], "invalid_input");
    let retry = f.ok("retry_job", json!({"id": id}));
    assert_ne!(retry["id"], id.as_str());
    f.wait_idle(retry["id"].as_str().expect("id"));
    assert!(f.dest().join("cancelled.tar.zst").exists());
}

#[test]
fn an_interrupted_job_is_resumed_from_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("history.db");
    let src = dir.path().join("docs");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("a.txt"), "a".repeat(10_000)).expect("write");
    let dest = dir.path().join("archives");
    std::fs::create_dir_all(&dest).expect("mkdir");
    // A job whose process died: recorded as running, its lock free.
    {
        let spec: tidemark_core::JobSpec = serde_json::from_value(json!({
            "kind": "snapshot", "source": src, "destination": dest, "name": "again"
        }))
        .expect("spec");
        let mut store = tidemark_store::Store::open(&db).expect("store");
        store
            .create_job("dead-job", &spec, "2026-11-23T10:00:00+00:00")
            .expect("job");
        let first: tidemark_core::ProgressEvent = serde_json::from_value(json!({
            "jobId": "dead-job", "seq": 1, "kind": "snapshot", "state": "running",
            "step": "browsing", "stepNumber": 2, "totalSteps": 6, "percent": null,
            "processed": 0, "total": null, "bytesDone": 0, "bytesTotal": null,
            "ratePerSec": null, "etaSeconds": null, "message": "", "items": [],
            "warnings": [], "error": null, "resultUrl": null,
            "timestamp": "2026-11-23T10:00:01.000Z"
        }))
        .expect("event");
        store.append_events(&[Arc::new(first)]).expect("events");
    }
    let f = fixture_with(dir);
    let history = f.ok("list_history", json!({"filter": {}}));
    assert_eq!(history[0]["state"], "interrupted");
    assert_eq!(history[0]["resumable"], true);
    let resumed = f.ok("resume_job", json!({"id": "dead-job"}));
    assert_eq!(resumed["id"], "dead-job");
    f.wait_idle("dead-job");
    let detail = f.ok("job_detail", json!({"id": "dead-job"}));
    assert_eq!(detail["job"]["state"], "completed", "{detail}");
    assert!(f.dest().join("again.tar.zst").exists());
    let err = f
        .invoke("resume_job", json!({"id": "dead-job"}))
        .expect_err("done");
    assert_eq!(err["code"], "not_resumable");
}

#[test]
fn failures_reach_the_window_as_code_and_message() {
    let f = fixture();
    let missing = f.dir.path().join("nowhere");
    let err = f
        .invoke(
            "start_snapshot",
            json!({"request": {"source": missing, "destination": f.dest(), "name": null}}),
        )
        .expect_err("missing source");
    assert_eq!(err["code"], "source_missing");
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("nowhere")
    );
    assert_eq!(err.as_object().expect("object").len(), 2, "{err}");

    let err = f
        .invoke("job_detail", json!({"id": "nope"}))
        .expect_err("unknown");
    assert_eq!(err, json!({"code": "not_found", "message": "no job nope"}));
    let err = f
        .invoke(
            "set_settings",
            json!({"settings": {"quietHours": {"start": "9", "end": "10:00"}}}),
        )
        .expect_err("bad time");
    assert_eq!(err["code"], "invalid_input");
    let err = f
        .invoke("list_remote_jobs", json!({"agentId": "x"}))
        .expect_err("no agent");
    assert_eq!(err["code"], "not_found");
    let err = f
        .invoke(
            "add_agent",
            json!({"request": {"name": "nas", "url": "ftp://nas", "token": "t"}}),
        )
        .expect_err("bad url");
    assert_eq!(err["code"], "invalid_input");
}

#[test]
fn settings_round_trip_and_agents_start_empty() {
    let f = fixture();
    let mut settings = f.ok("get_settings", json!({}));
    assert_eq!(settings["closeToTray"], true);
    settings["notifyCompleted"] = json!(false);
    settings["quietHours"] = json!({"start": "22:00", "end": "07:00"});
    assert_eq!(
        f.ok("set_settings", json!({"settings": settings})),
        settings
    );
    assert_eq!(f.ok("get_settings", json!({})), settings);
    assert!(f.dir.path().join("settings.json").exists());
    assert_eq!(f.ok("list_agents", json!({})), json!([]));
    assert_eq!(f.ok("pick_folder", json!({})), Value::Null);
}

/// The windows are told of a job as it starts, moves and ends, without asking: each
/// `jobs-changed` carries only that job, and its end comes last.
#[test]
fn jobs_changed_tells_the_windows_of_a_job_from_start_to_end() {
    use tauri::Listener;
    use tidemark_app::{AppEvent, JobsChanged};

    let f = fixture();
    let (tx, rx) = mpsc::channel::<JobsChanged>();
    f._app.listen_any(AppEvent::JOBS_CHANGED, move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).expect("a JobsChanged"));
    });
    let src = f.tree(20);
    let job = start_snapshot(&f, &src, "pushed");
    let id = job["id"].as_str().expect("id").to_owned();

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut heard: Vec<JobsChanged> = Vec::new();
    while heard.last().is_none_or(|c| c.ended.is_empty()) {
        let left = deadline.saturating_duration_since(Instant::now());
        heard.push(
            rx.recv_timeout(left)
                .expect("jobs-changed up to the job's end"),
        );
    }
    let first = &heard[0];
    assert_eq!(first.active.len(), 1, "{first:?}");
    assert_eq!(first.active[0].id, id);
    let last = heard.last().expect("heard");
    assert!(last.active.is_empty(), "{last:?}");
    assert_eq!(last.ended.len(), 1);
    assert_eq!(last.ended[0].id, id);
    assert_eq!(last.ended[0].state, tidemark_core::JobState::Completed);
    for change in &heard {
        let ids: Vec<&str> = change
            .active
            .iter()
            .chain(&change.ended)
            .map(|j| j.id.as_str())
            .collect();
        assert_eq!(ids, [id.as_str()], "{change:?}");
    }
}

/// "Open log" opens the log folder, next to a history given by path (made if the app has
/// not written a log there yet); a test has no file manager, so the refusal names the folder.
#[test]
fn open_log_opens_the_log_folder_next_to_the_history() {
    let f = fixture();
    let logs = f.dir.path().join("logs");
    let err = f.invoke("open_log", json!({})).expect_err("no desktop");
    assert_eq!(err["code"], "io");
    let message = err["message"].as_str().expect("message");
    assert!(message.contains(&logs.display().to_string()), "{message}");
    assert!(logs.is_dir());
}
