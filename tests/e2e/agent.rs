//! The agent as a real process on a loopback port, driven over HTTPS with its own
//! certificate pinned, as a paired client reaches it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidemark_core::{ErrorCode, ErrorInfo, Fingerprint, JobState, ProgressEvent};

use crate::util::*;

pub(crate) struct Agent {
    pub(crate) child: Child,
    /// `https://127.0.0.1:PORT`
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) fingerprint: Fingerprint,
    dir: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db(dir: &Path) -> PathBuf {
    dir.join("history.db")
}

/// Starts `tidemark agent` on port 0 with `dir/root` as its only root.
pub(crate) fn start_agent(dir: &Path) -> Agent {
    start_agent_on(dir, "127.0.0.1:0")
}

pub(crate) fn start_agent_on(dir: &Path, listen: &str) -> Agent {
    // Only warnings: a request log line per call would bury the tests' own output.
    spawn_agent(dir, listen, &[], Stdio::inherit(), "warn")
}

/// [`start_agent`] with more of `tidemark agent`'s options.
pub(crate) fn start_agent_with(dir: &Path, options: &[&str]) -> Agent {
    spawn_agent(dir, "127.0.0.1:0", options, Stdio::inherit(), "warn")
}

/// An agent logging at its default level into `log`.
fn start_agent_logging(dir: &Path, log: &Path) -> Agent {
    let file = std::fs::File::create(log).expect("log file");
    spawn_agent(dir, "127.0.0.1:0", &[], file.into(), "")
}

fn spawn_agent(dir: &Path, listen: &str, options: &[&str], stderr: Stdio, rust_log: &str) -> Agent {
    std::fs::create_dir_all(dir.join("root")).expect("root");
    let mut cmd = Command::new(bin());
    if rust_log.is_empty() {
        cmd.env_remove("RUST_LOG");
    } else {
        cmd.env("RUST_LOG", rust_log);
    }
    let mut child = cmd
        .arg("--db")
        .arg(db(dir))
        .args(["agent", "--listen", listen, "--root"])
        .arg(dir.join("root"))
        .args(options)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn agent");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("listening line").expect("read");
    let url = first.rsplit(' ').next().expect("url").to_string();
    assert!(url.starts_with("https://"), "{first}");
    let second = lines.next().expect("fingerprint line").expect("read");
    let fingerprint = second
        .rsplit(' ')
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no fingerprint in {second:?}"));
    // The rest (the admin token on a first start) is read from the token file.
    std::thread::spawn(move || for _ in lines {});
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(dir.join("agent-tokens.json")).expect("token file"))
            .expect("tokens JSON");
    let token = tokens["admin"].as_str().expect("admin").to_string();
    Agent {
        child,
        url,
        token,
        fingerprint,
        dir: dir.to_path_buf(),
    }
}

fn add_token(dir: &Path, name: &str) -> String {
    agent_command(dir, &["token", "add", name])
}

/// `tidemark agent ARGS…` on the agent's history in `dir`; its stdout.
pub(crate) fn agent_command(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("--db")
        .arg(db(dir))
        .arg("agent")
        .args(args)
        .output()
        .expect("tidemark agent");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) use tidemark_tests::paired::client as pinned_client;

impl Agent {
    fn client(&self) -> reqwest::blocking::Client {
        pinned_client(self.fingerprint)
    }

    /// The agent as a paired client reaches it, with the admin token.
    pub(crate) fn endpoint(&self) -> tidemark_remote::Endpoint {
        tidemark_remote::Endpoint {
            base: self.url.clone(),
            token: self.token.clone(),
            pin: Some(self.fingerprint),
        }
    }

    /// A pairing link for `token`, as `tidemark agent pair` prints it.
    pub(crate) fn link(&self, token: &str) -> String {
        tidemark_tests::paired::link(&self.url, self.fingerprint, token)
    }

    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client().request(
            method.parse().expect("method"),
            format!("{}{path}", self.url),
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, Some(&self.token), body);
        assert!(status < 300, "{method} {path}: {status} {v}");
        v
    }

    pub(crate) fn sync_spec(&self, name: &str) -> Value {
        let root = self.dir.join("root");
        json!({ "kind": "sync", "sources": [root.join(name)], "destination": root.join("mirror") })
    }

    pub(crate) fn wait_for(&self, id: &str, state: JobState) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self.admin("GET", &format!("/api/v1/jobs/{id}"), None);
            if job["state"] == serde_json::to_value(state).expect("state") {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job never reached {state:?}: {job}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stream(&self, id: &str, last_event_id: Option<u64>) -> Sse {
        let mut req = self
            .client()
            .get(format!("{}/api/v1/jobs/{id}/progress/stream", self.url))
            .bearer_auth(&self.token);
        if let Some(l) = last_event_id {
            req = req.header("Last-Event-ID", l.to_string());
        }
        let resp = req.send().expect("stream");
        assert_eq!(resp.status().as_u16(), 200);
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Sse {
            lines: BufReader::new(resp).lines(),
        }
    }
}

/// A minimal SSE reader: frames of `id`, `event`, `data`.
struct Sse {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

#[derive(Debug)]
struct Frame {
    id: u64,
    event: String,
    data: ProgressEvent,
}

impl Iterator for Sse {
    type Item = Frame;
    fn next(&mut self) -> Option<Frame> {
        let (mut id, mut event, mut data) = (None, String::new(), String::new());
        for line in self.lines.by_ref() {
            let line = line.ok()?;
            if line.is_empty() {
                if let Some(id) = id {
                    let data = serde_json::from_str(&data).expect("event JSON");
                    return Some(Frame { id, event, data });
                }
                continue; // a keep-alive comment's frame
            }
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push_str(v);
            }
        }
        None
    }
}

pub(crate) fn big_source(root: &Path, name: &str, files: u64) {
    for i in 0..files {
        write(
            root.join(name).join(format!("f{i:03}.bin")),
            &pseudo_random(2 << 20, i),
        );
    }
}

fn contiguous(frames: &[u64], from: u64) {
    let want: Vec<u64> = (from..from + frames.len() as u64).collect();
    assert_eq!(
        frames,
        want.as_slice(),
        "seq must be contiguous without duplicates"
    );
}

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
