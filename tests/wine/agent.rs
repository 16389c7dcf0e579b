//! The agent of the Windows build over HTTPS, paired with and followed by `tidemark watch`
//! of the Windows build.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use serde_json::{Value, json};
use tidemark_core::{Fingerprint, JobState, PairingLink, ProgressEvent};

use crate::util::{diff_trees, extract, pseudo_random, write};
use crate::wine::{Wine, win};
use tidemark_tests::slow_put::SlowPut;

/// `tidemark.exe agent` on a port the system picks, killed when dropped.
struct Agent {
    child: Child,
    url: String,
    token: String,
    fingerprint: Fingerprint,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_agent(wine: &Wine, dir: &Path) -> Agent {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).expect("root");
    let mut child = wine
        .tidemark(&dir.join("history.db"))
        .env("RUST_LOG", "warn")
        .args(["agent", "--listen", "127.0.0.1:0", "--root", &win(&root)])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the agent");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("listening line").expect("read");
    let url = first
        .strip_prefix("Tidemark agent listening on ")
        .unwrap_or_else(|| panic!("not the listening line: {first:?}"))
        .to_string();
    let second = lines.next().expect("fingerprint line").expect("read");
    let fingerprint = second
        .strip_prefix("certificate fingerprint (SHA-256): ")
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("not the fingerprint line: {second:?}"));
    // The admin token is written beside the history database, with the Linux path's name.
    let tokens: Value =
        serde_json::from_slice(&std::fs::read(dir.join("agent-tokens.json")).expect("token file"))
            .expect("tokens JSON");
    let token = tokens["admin"].as_str().expect("admin").to_string();
    // Nothing more is read from the agent's stdout: drained, it never blocks on a full pipe.
    std::thread::spawn(move || lines.count());
    Agent {
        child,
        url,
        token,
        fingerprint,
    }
}

impl Agent {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        // Pinned to the certificate the Windows agent made, as a paired client is.
        let client = tidemark_tests::paired::client(self.fingerprint);
        let mut req = client
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().expect("body");
        assert!(status < 300, "{method} {path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON answer")
    }
}

#[test]
fn tidemark_watch_on_windows_follows_a_job_of_the_windows_agent_to_its_end() {
    let Some(wine) =
        Wine::get("tidemark_watch_on_windows_follows_a_job_of_the_windows_agent_to_its_end")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent(&wine, tmp.path());
    // About 2 MB zstd cannot shrink, uploaded at 1 MB/s: the job is still running when the
    // watcher connects, whatever the machine's speed.
    let src = tmp.path().join("root/site");
    for i in 0..4u64 {
        write(
            src.join(format!("page-{i}.bin")),
            &pseudo_random(500_000, i),
        );
    }
    write(src.join("index.html"), b"<h1>hi</h1>\n");
    let put = SlowPut::start();
    let base = format!("{}/", put.url);

    let job = agent.call(
        "POST",
        "/api/v1/jobs",
        Some(json!({
            "kind": "snapshot",
            "source": win(&src),
            "destination": base,
            "name": "site",
        })),
    );
    let id = job["id"].as_str().expect("id").to_string();
    let paired = wine
        .tidemark(&tmp.path().join("history.db"))
        .args(["agent", "pair", "--read-only"])
        .output()
        .expect("pair");
    assert!(
        paired.status.success(),
        "{}",
        String::from_utf8_lossy(&paired.stderr)
    );
    let link = String::from_utf8_lossy(&paired.stdout).trim().to_owned();
    let parsed: PairingLink = link.parse().expect("a pairing link");
    assert_eq!(
        (parsed.base_url(), parsed.fingerprint),
        (agent.url.clone(), agent.fingerprint)
    );
    let now = agent.call("GET", &format!("/api/v1/jobs/{id}"), None);
    assert!(
        ["queued", "running"].contains(&now["state"].as_str().unwrap_or("")),
        "the watch must start before the job ends: {now}"
    );

    let watched = wine
        .exe()
        .args(["watch", "--agent", &link])
        .args([id.as_str(), "--json"])
        .output()
        .expect("watch");
    assert_eq!(
        watched.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&watched.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let events: Vec<ProgressEvent> = lines
        .iter()
        .filter(|l| l.get("connection").is_none())
        .map(|l| serde_json::from_value(l.clone()).expect("event"))
        .collect();
    let stored: Vec<ProgressEvent> =
        serde_json::from_value(agent.call("GET", &format!("/api/v1/jobs/{id}/events"), None))
            .expect("events");
    assert_eq!(
        events, stored,
        "the watcher's events are the agent's, once each"
    );
    let end = events.last().expect("events");
    assert_eq!(end.state, JobState::Completed, "{end:?}");
    assert_eq!(
        end.result_url.as_deref(),
        Some(format!("{base}site.tar.zst").as_str())
    );
    // Connected, then the job's end: the watch follows the job and stops at its end.
    let connected = lines
        .iter()
        .position(|l| l["connection"]["state"] == "connected")
        .expect("a connected state");
    let terminal = lines
        .iter()
        .position(|l| l.get("connection").is_none() && l["seq"] == end.seq)
        .expect("the end");
    assert!(connected < terminal, "{lines:?}");

    let whole = put.whole();
    assert_eq!(whole.len(), 1, "one upload");
    let archive = tmp.path().join("got.tar.zst");
    std::fs::write(&archive, &whole[0]).expect("write");
    let x = tmp.path().join("x");
    extract(&archive, &x);
    assert_eq!(diff_trees(&src, &x.join("site")), "");
}
