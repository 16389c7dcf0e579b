//! A real agent added in the Agents view by its pairing link, one of its jobs watched
//! through an outage: the agent killed mid-job and restarted on the same port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tidemark_core::{Fingerprint, ProgressEvent};
use tidemark_store::Store;
use tidemark_tests::{diff_trees, pseudo_random, write};

use crate::harness::{Desktop, LONG, Proc, SHORT, cli_bin};
use crate::webdriver::wait_until;

pub(crate) struct Agent {
    pub(crate) proc: Proc,
    pub(crate) url: String,
    token: String,
    fingerprint: Fingerprint,
    pub(crate) dir: PathBuf,
}

impl Agent {
    /// `tidemark agent` on `listen` with `dir/root` as its only root, its own history.
    pub(crate) fn start(dir: &Path, listen: &str) -> Agent {
        std::fs::create_dir_all(dir.join("root")).expect("root");
        let mut child = Command::new(cli_bin())
            .arg("--db")
            .arg(dir.join("agent.db"))
            .args(["agent", "--listen", listen, "--root"])
            .arg(dir.join("root"))
            // The agent logs every request at info: only its warnings belong in test output.
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the agent");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut next_word = || {
            let mut line = String::new();
            out.read_line(&mut line).expect("the agent's output");
            line.trim()
                .rsplit(' ')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let url = next_word();
        let fingerprint = next_word().parse().expect("the certificate's fingerprint");
        let tokens: Value = serde_json::from_slice(
            &std::fs::read(dir.join("agent-tokens.json")).expect("token file"),
        )
        .expect("tokens");
        Agent {
            proc: Proc(child),
            url,
            token: tokens["admin"].as_str().expect("admin token").to_owned(),
            fingerprint,
            dir: dir.to_path_buf(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let http = tidemark_tests::paired::client(self.fingerprint);
        let mut req = http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", self.url),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("agent answers");
        let status = resp.status();
        let v: Value = serde_json::from_slice(&resp.bytes().expect("body")).expect("JSON");
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    /// The link `tidemark agent pair` prints, with the admin token.
    pub(crate) fn link(&self) -> String {
        tidemark_tests::paired::link(&self.url, self.fingerprint, &self.token)
    }

    fn state(&self, id: &str) -> String {
        self.call("GET", &format!("/api/v1/jobs/{id}"), None)["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn events(&self, id: &str) -> Vec<ProgressEvent> {
        let v = self.call("GET", &format!("/api/v1/jobs/{id}/events?since=0"), None);
        let list = v.get("events").cloned().unwrap_or(v);
        serde_json::from_value(list).expect("events")
    }
}

#[test]
fn a_remote_job_is_followed_through_an_agent_outage_and_recorded_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent_dir = tmp.path().join("agent");
    let mut agent = Agent::start(&agent_dir, "127.0.0.1:0");
    let listen = agent.url.trim_start_matches("https://").to_owned();
    let vault = agent_dir.join("root/vault");
    for i in 0..40u64 {
        write(
            vault.join(format!("f{i:03}.bin")),
            &pseudo_random(2 << 20, i),
        );
    }
    let job = agent.call(
        "POST",
        "/api/v1/jobs",
        Some(json!({ "kind": "sync", "sources": [vault], "destination": agent_dir.join("root/mirror") })),
    );
    let id = job["id"].as_str().expect("job id").to_owned();
    // Held still while the app connects, so the outage lands mid-job.
    agent.call("POST", &format!("/api/v1/jobs/{id}/pause"), None);
    wait_until("the job paused", SHORT, || {
        (agent.state(&id) == "paused").then_some(())
    });

    let app = Desktop::start(tmp.path(), "remote");
    app.tab("agents");
    app.fill("agent-name", "NAS");
    app.fill("agent-url", &agent.link());
    app.click("add-agent");
    let row = app.el("agent-row");
    let agent_id = app.s.attr(&row, "data-agent-id").expect("agent id");
    let job_row = app.s.wait(
        &format!("[data-testid=remote-job-row][data-job-id=\"{id}\"]"),
        SHORT,
    );
    app.observe_modal();
    let watch = app.s.find("[data-testid=watch-button]").expect("Watch");
    app.s.click(&watch).expect("click watch");
    drop(job_row);
    let connection = |want: &'static str| {
        move |app: &Desktop| {
            app.observed()
                .iter()
                .any(|s| s["connection"] == want)
                .then_some(())
        }
    };
    let live = connection("live");
    wait_until("the modal live", SHORT, || live(&app));
    app.wait_modal("paused", SHORT);

    // The agent dies: five reconnections (1, 2, 4, 8, 15 s), then polling every second.
    drop(std::mem::replace(
        &mut agent.proc,
        Proc(Command::new("true").spawn().expect("true")),
    ));
    let reconnecting = connection("reconnecting");
    wait_until("the modal reconnecting", SHORT, || reconnecting(&app));
    let polling = connection("polling");
    wait_until("the modal polling", Duration::from_secs(90), || {
        polling(&app)
    });
    // Polls get no answer either, and the modal says why, in words.
    wait_until("the reason polls fail", SHORT, || {
        app.observed().iter().find_map(|s| {
            let t = s["connectionText"].as_str()?;
            t.contains("polling every 1 s · agent unreachable (cannot connect")
                .then_some(())
        })
    });
    app.screenshot("modal-polling");
    let attempts: Vec<String> = app
        .observed()
        .iter()
        .filter(|s| s["connection"] == "reconnecting")
        .filter_map(|s| s["connectionText"].as_str().map(str::to_owned))
        .collect();
    assert!(
        attempts.iter().any(|t| t.contains("attempt 5/5")),
        "five reconnections before polling: {attempts:?}"
    );
    let (summary, _) = app.bus.wait_notification("unreachable");
    assert!(summary.contains("NAS"), "{summary}");

    // Back on the same port: the job is found interrupted, resumed there, and completes.
    let agent = Agent::start(&agent_dir, &listen);
    wait_until("the job interrupted on the agent", SHORT, || {
        (agent.state(&id) == "interrupted").then_some(())
    });
    agent.call("POST", &format!("/api/v1/jobs/{id}/resume"), None);
    app.wait_modal("completed", LONG);
    assert_eq!(diff_trees(&vault, &agent.dir.join("root/mirror/vault")), "");

    // What the app recorded equals the agent's list: every seq once, no gap.
    let theirs = agent.events(&id);
    let local_id = format!("remote-{agent_id}-{id}");
    let ours = wait_until("the app's record to be complete", SHORT, || {
        let ours = Store::open(&app.db)
            .and_then(|s| s.events_since(&local_id, 0))
            .ok()?;
        (ours.len() == theirs.len()).then_some(ours)
    });
    let seqs: Vec<u64> = ours.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=theirs.len() as u64).collect::<Vec<_>>());
    assert_eq!(ours, theirs);
}
