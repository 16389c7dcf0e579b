//! The agent's API over HTTPS: streams and their replays, tokens and roots, errors, limits,
//! a killed agent, plain HTTP, and its log.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidemark_core::{ErrorCode, ErrorInfo, JobState, ProgressEvent};

use crate::agent_proc::*;
use crate::util::*;

#[test]
fn a_whole_stream_then_a_reconnection_replays_exactly_what_was_missed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "photos", 40);

    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("photos")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);

    // Read until the job reports it is paused, then hang up.
    let mut first: Vec<Frame> = Vec::new();
    for frame in agent.stream(&id, None) {
        let paused = frame.data.state == JobState::Paused;
        first.push(frame);
        if paused {
            break;
        }
    }
    let seen = first.last().expect("frames").id;
    contiguous(&first.iter().map(|f| f.id).collect::<Vec<_>>(), 1);
    assert!(
        first
            .iter()
            .all(|f| f.event == "progress" && f.id == f.data.seq)
    );

    // The job goes on to the end with nobody listening.
    agent.admin("POST", &format!("/api/v1/jobs/{id}/resume"), None);
    agent.wait_for(&id, JobState::Completed);

    let rest: Vec<Frame> = agent.stream(&id, Some(seen)).collect();
    let ids: Vec<u64> = rest.iter().map(|f| f.id).collect();
    contiguous(&ids, seen + 1);
    assert!(
        rest.last().is_some_and(|f| f.data.state.is_terminal()),
        "ends with the terminal event"
    );

    // Polling by seq returns the very same events.
    let polled = agent.admin(
        "GET",
        &format!("/api/v1/jobs/{id}/events?since={seen}"),
        None,
    );
    let polled: Vec<ProgressEvent> = serde_json::from_value(polled).expect("events");
    assert_eq!(
        polled,
        rest.iter().map(|f| f.data.clone()).collect::<Vec<_>>()
    );
    let progress: ProgressEvent =
        serde_json::from_value(agent.admin("GET", &format!("/api/v1/jobs/{id}/progress"), None))
            .expect("progress");
    assert_eq!(Some(&progress), polled.last());
    assert_eq!(
        diff_trees(
            &tmp.path().join("root/photos"),
            &tmp.path().join("root/mirror/photos")
        ),
        ""
    );

    // Once the history no longer keeps them, the full state stands in.
    let pruned = Command::new(bin())
        .arg("--db")
        .arg(db(tmp.path()))
        .args(["history", "--prune", "--keep", "0"])
        .output()
        .expect("prune");
    assert!(pruned.status.success());
    let after_prune: Vec<Frame> = agent.stream(&id, Some(1)).collect();
    assert_eq!(after_prune.len(), 1, "{after_prune:?}");
    assert_eq!(after_prune[0].event, "resync");
    assert_eq!(after_prune[0].data.state, JobState::Completed);
    assert_eq!(after_prune[0].id, progress.seq);
}

#[test]
fn tokens_see_only_their_own_jobs_and_paths_stay_under_the_roots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = add_token(tmp.path(), "alice");
    let bob = add_token(tmp.path(), "bob");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "docs", 1);

    assert_eq!(agent.call("GET", "/api/v1/jobs", None, None).0, 401);
    assert_eq!(
        agent
            .call("GET", "/api/v1/jobs", Some("not-a-token"), None)
            .0,
        401
    );
    let (status, body) = agent.call("GET", "/api/v1/jobs", Some(&format!("{alice}x")), None);
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    let info: ErrorInfo = serde_json::from_value(body).expect("an ErrorInfo");
    assert_eq!(info.code, ErrorCode::Unauthorized);

    let (status, job) = agent.call(
        "POST",
        "/api/v1/jobs",
        Some(&alice),
        Some(agent.sync_spec("docs")),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    assert_eq!(job["owner"], "alice");
    agent.wait_for(&id, JobState::Completed);

    let listed = |token: &str| -> Vec<String> {
        let (s, v) = agent.call("GET", "/api/v1/jobs", Some(token), None);
        assert_eq!(s, 200);
        v.as_array()
            .expect("list")
            .iter()
            .map(|j| j["id"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(listed(&alice), vec![id.clone()]);
    assert!(listed(&bob).is_empty(), "bob sees none of alice's jobs");
    assert_eq!(listed(&agent.token), vec![id.clone()], "the admin sees all");
    for path in ["", "/progress", "/events", "/progress/stream"] {
        let (status, body) =
            agent.call("GET", &format!("/api/v1/jobs/{id}{path}"), Some(&bob), None);
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    assert_eq!(
        agent
            .call(
                "POST",
                &format!("/api/v1/jobs/{id}/cancel"),
                Some(&bob),
                None
            )
            .0,
        404
    );

    let outside =
        json!({ "kind": "snapshot", "source": "/etc", "destination": tmp.path().join("root/out") });
    let (status, body) = agent.call("POST", "/api/v1/jobs", Some(&alice), Some(outside));
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden_path"))
    );
    let sneaky = json!({ "kind": "sync", "sources": [tmp.path().join("root/../../etc")], "destination": tmp.path().join("root/m") });
    assert_eq!(
        agent
            .call("POST", "/api/v1/jobs", Some(&alice), Some(sneaky))
            .0,
        403
    );
    let link = tmp.path().join("root/escape");
    std::os::unix::fs::symlink("/etc", &link).expect("symlink");
    let via_link =
        json!({ "kind": "sync", "sources": [link], "destination": tmp.path().join("root/m") });
    assert_eq!(
        agent
            .call("POST", "/api/v1/jobs", Some(&alice), Some(via_link))
            .0,
        403,
        "links are resolved first"
    );
}

#[test]
fn bad_requests_get_fitting_statuses_and_json_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    let send_raw = |body: String| {
        let resp = agent
            .client()
            .post(format!("{}/api/v1/jobs", agent.url))
            .bearer_auth(&agent.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("send");
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_str(&resp.text().expect("text")).expect("JSON error body");
        // Exactly `{code, message}`, with a code of the one enum.
        let info: ErrorInfo = serde_json::from_value(v.clone()).expect("an ErrorInfo");
        assert_eq!(v.as_object().map(|o| o.len()), Some(2), "{v}");
        (status, info.code.as_str().to_string())
    };
    assert_eq!(send_raw("{not json".into()), (400, "bad_request".into()));
    assert_eq!(
        send_raw(r#"{"kind":"teleport"}"#.into()),
        (400, "bad_request".into())
    );
    let huge = format!(
        r#"{{"kind":"sync","sources":["{}"],"destination":"/x"}}"#,
        "a".repeat(2 << 20)
    );
    assert_eq!(send_raw(huge), (413, "payload_too_large".into()));
    let (status, v) = agent.call("GET", "/api/v1/jobs/no-such-job", Some(&agent.token), None);
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    assert_eq!(
        agent
            .call("GET", "/api/v1/nothing-here", Some(&agent.token), None)
            .0,
        404
    );

    let doc = agent.admin("GET", "/api/v1/openapi.json", None);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/jobs/{id}/progress/stream"].is_object());
}

/// A stream's errors are `{code, message}` like every other answer's, whether the request
/// opens a connection or follows others on it.
#[test]
fn stream_requests_get_fitting_statuses_and_json_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "docs", 2);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("docs")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.wait_for(&id, JobState::Completed);

    let client = agent.client();
    // (status, `www-authenticate`, body)
    let get = |path: &str, token: Option<&str>, last: Option<&str>| {
        let mut req = client.get(format!("{}{path}", agent.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(l) = last {
            req = req.header("Last-Event-ID", l);
        }
        let resp = req.send().expect("stream");
        let status = resp.status().as_u16();
        let www = resp.headers().contains_key("www-authenticate");
        (status, www, resp.text().expect("body"))
    };
    let stream = format!("/api/v1/jobs/{id}/progress/stream");
    let token = Some(agent.token.as_str());
    let cases = [
        (stream.clone(), token, None, 200, None),
        (format!("{stream}?since=2"), token, None, 200, None),
        (stream.clone(), token, Some("3"), 200, None),
        (stream.clone(), None, None, 401, Some("unauthorized")),
        (
            stream.clone(),
            token,
            Some("three"),
            400,
            Some("bad_request"),
        ),
        (
            format!("{stream}?since=two"),
            token,
            None,
            400,
            Some("bad_request"),
        ),
        (
            "/api/v1/jobs/no-such-job/progress/stream".into(),
            token,
            None,
            404,
            Some("not_found"),
        ),
    ];
    // Twice over: the second round reuses the first round's connections.
    for _ in 0..2 {
        for (path, token, last, status, code) in &cases {
            let (got, www, body) = get(path, *token, *last);
            assert_eq!(got, *status, "{path} {last:?}: {body}");
            assert_eq!(www, *status == 401, "{path}: WWW-Authenticate");
            match code {
                None => assert!(body.starts_with(": tidemark\n"), "{body}"),
                Some(code) => {
                    let info: ErrorInfo = serde_json::from_str(&body).expect("{code, message}");
                    assert_eq!(info.code.as_str(), *code, "{path} {last:?}");
                }
            }
        }
    }
}

#[test]
fn more_than_64_streams_per_token_are_refused_until_one_closes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "big", 24);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("big")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    // A job that ended first would end its streams, and give their slots back.
    agent.wait_for(&id, JobState::Paused);
    let open: Vec<Sse> = (0..64).map(|_| agent.stream(&id, None)).collect();
    let (status, v) = agent.call(
        "GET",
        &format!("/api/v1/jobs/{id}/progress/stream"),
        Some(&agent.token),
        None,
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (429, Some("too_many_streams"))
    );
    drop(open);
    // The slots come back once the server notices the closed connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = agent
            .client()
            .get(format!("{}/api/v1/jobs/{id}/progress/stream", agent.url))
            .bearer_auth(&agent.token)
            .send()
            .expect("stream");
        if resp.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    agent.admin("POST", &format!("/api/v1/jobs/{id}/cancel"), None);
    agent.wait_for(&id, JobState::Cancelled);
}

/// A quiet stream (a paused job) still carries a comment every 15 s, so proxies and clients
/// with read timeouts (the watcher's is above two intervals) keep it open.
#[test]
fn a_quiet_stream_carries_a_keep_alive_comment() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "vault", 24);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("vault")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    agent.wait_for(&id, JobState::Paused);
    let now = agent.admin("GET", &format!("/api/v1/jobs/{id}/progress"), None);
    let seq = now["seq"].as_u64().expect("seq");

    let resp = agent
        .client()
        .get(format!("{}/api/v1/jobs/{id}/progress/stream", agent.url))
        .bearer_auth(&agent.token)
        .header("Last-Event-ID", seq.to_string())
        .send()
        .expect("stream");
    assert_eq!(resp.status().as_u16(), 200);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut comments = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while comments.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (at, line) = rx
            .recv_timeout(left)
            .expect("no keep-alive comment within 40 s");
        assert!(
            !line.starts_with("data:"),
            "a paused job sent an event: {line}"
        );
        if line.starts_with(':') {
            comments.push((at, line));
        }
    }
    assert!(comments[0].1.contains("tidemark"), "{comments:?}");
    assert!(comments[1].1.contains("keep-alive"), "{comments:?}");
    let gap = comments[1].0 - comments[0].0;
    assert!(
        gap >= Duration::from_secs(10),
        "keep-alive after {gap:?}, long before its 15 s"
    );
    agent.admin("POST", &format!("/api/v1/jobs/{id}/cancel"), None);
}

#[test]
fn an_agent_killed_mid_job_finds_it_interrupted_and_resumes_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut agent = start_agent(tmp.path());
    big_source(&tmp.path().join("root"), "vault", 24);
    let job = agent.admin("POST", "/api/v1/jobs", Some(agent.sync_spec("vault")));
    let id = job["id"].as_str().expect("id").to_string();
    agent.admin("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    let paused: Vec<Frame> = agent
        .stream(&id, None)
        .take_while(|f| f.data.state != JobState::Paused)
        .collect();
    assert!(!paused.is_empty());

    let _ = Command::new("kill")
        .args(["-9", &agent.child.id().to_string()])
        .status();
    let _ = agent.child.wait();
    drop(agent);
    agent = start_agent(tmp.path());

    let job = agent.admin("GET", &format!("/api/v1/jobs/{id}"), None);
    assert_eq!(job["state"], "interrupted");
    let before: Vec<ProgressEvent> =
        serde_json::from_value(agent.admin("GET", &format!("/api/v1/jobs/{id}/events"), None))
            .expect("events");
    contiguous(&before.iter().map(|e| e.seq).collect::<Vec<_>>(), 1);
    assert_eq!(before.last().map(|e| e.state), Some(JobState::Interrupted));

    agent.admin("POST", &format!("/api/v1/jobs/{id}/resume"), None);
    let rest: Vec<Frame> = agent.stream(&id, Some(before.len() as u64)).collect();
    contiguous(
        &rest.iter().map(|f| f.id).collect::<Vec<_>>(),
        before.len() as u64 + 1,
    );
    assert_eq!(rest.last().map(|f| f.data.state), Some(JobState::Completed));
    assert_eq!(
        diff_trees(
            &tmp.path().join("root/vault"),
            &tmp.path().join("root/mirror/vault")
        ),
        ""
    );
}

/// Plain HTTP is for a TLS proxy in front of the agent, on loopback only; a plain request
/// on the TLS port is told, in HTTP, to use HTTPS.
#[test]
fn plain_http_is_refused_off_loopback_and_answered_on_the_tls_port() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(bin())
        .arg("--db")
        .arg(db(tmp.path()))
        .args(["agent", "--no-tls", "--listen", "0.0.0.0:0", "--root"])
        .arg(tmp.path())
        .output()
        .expect("agent");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error[insecure_listen]") && stderr.contains("--no-tls"),
        "{stderr}"
    );

    let agent = start_agent(tmp.path());
    let plain = agent.url.replace("https://", "http://");
    let resp = reqwest::blocking::Client::new()
        .get(format!("{plain}/api/v1/jobs"))
        .bearer_auth(&agent.token)
        .send()
        .expect("a plain request is answered, not dropped");
    assert_eq!(resp.status().as_u16(), 400);
    let info: ErrorInfo = serde_json::from_str(&resp.text().expect("body")).expect("JSON");
    assert!(info.message.contains("HTTPS"), "{info}");
    // And the agent still serves HTTPS.
    agent.admin("GET", "/api/v1/jobs", None);
}

/// The agent's log once `done` holds for it (its lines are written as requests and jobs end,
/// which may be just after the client saw the answer).
fn log_when(log: &Path, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn requests_and_jobs_are_logged_with_the_token_name_never_the_token() {
    let tmp = tempfile::tempdir().expect("tmp");
    let nas = add_token(tmp.path(), "nas");
    let log = tmp.path().join("agent.log");
    let agent = start_agent_logging(tmp.path(), &log);
    big_source(&tmp.path().join("root"), "docs", 1);

    let (status, job) = agent.call(
        "POST",
        "/api/v1/jobs",
        Some(&nas),
        Some(agent.sync_spec("docs")),
    );
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().expect("id").to_string();
    agent.wait_for(&id, JobState::Completed);
    // A stream is logged once answered.
    assert!(
        agent
            .stream(&id, None)
            .last()
            .is_some_and(|f| f.data.is_terminal())
    );
    assert_eq!(agent.call("GET", "/api/v1/jobs", None, None).0, 401);

    let stream_path = format!("path=/api/v1/jobs/{id}/progress/stream");
    let text = log_when(&log, |t| {
        t.contains("job ended") && t.contains(&stream_path) && t.contains("status=401")
    });
    let line = |parts: &[&str]| {
        text.lines()
            .find(|l| parts.iter().all(|p| l.contains(p)))
            .unwrap_or_else(|| panic!("no log line with {parts:?} in:\n{text}"))
    };
    let started = line(&[
        "INFO",
        "request",
        "method=POST",
        "path=/api/v1/jobs ",
        "status=201",
    ]);
    assert!(started.contains("token=\"nas\""), "{started}");
    assert!(started.contains("ms="), "{started}");
    line(&["method=GET", &stream_path, "status=200", "token=\"admin\""]);
    let refused = line(&["method=GET", "path=/api/v1/jobs ", "status=401"]);
    assert!(!refused.contains("token="), "{refused}");
    line(&["job started", &id, "Sync"]);
    line(&["job ended", &id, "state=\"completed\""]);
    assert!(
        !text.contains(&nas),
        "the named token is in the log:\n{text}"
    );
    assert!(
        !text.contains(&agent.token),
        "the admin token is in the log:\n{text}"
    );
}
