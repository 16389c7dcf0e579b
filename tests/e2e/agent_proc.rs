//! The agent as a real process on a loopback port, driven over HTTPS with its own
//! certificate pinned, as a paired client reaches it: what the agent, pairing and remote
//! suites share.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tidemark_core::{Fingerprint, JobState, ProgressEvent};

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

pub(crate) fn db(dir: &Path) -> PathBuf {
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
pub(crate) fn start_agent_logging(dir: &Path, log: &Path) -> Agent {
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

pub(crate) fn add_token(dir: &Path, name: &str) -> String {
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
    pub(crate) fn client(&self) -> reqwest::blocking::Client {
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

    pub(crate) fn stream(&self, id: &str, last_event_id: Option<u64>) -> Sse {
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
pub(crate) struct Sse {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) id: u64,
    pub(crate) event: String,
    pub(crate) data: ProgressEvent,
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

pub(crate) fn contiguous(frames: &[u64], from: u64) {
    let want: Vec<u64> = (from..from + frames.len() as u64).collect();
    assert_eq!(
        frames,
        want.as_slice(),
        "seq must be contiguous without duplicates"
    );
}
