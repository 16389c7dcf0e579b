//! The fleet with a real agent on a loopback port (HTTPS, its certificate pinned): checked
//! in the background from the moment it is added, jobs started and controlled there, their
//! ends and the agent's outage and return notified, a read-only token answered with its code.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tidemark_core::JobState;
use tidemark_tests::pseudo_random;
use tidemark_tests::slow_put::SlowPut;

use crate::tests::{Sent, agent_config, start_agent};
use crate::*;

/// What the shell would emit: every fleet the app published.
#[derive(Default)]
struct Published(Mutex<Vec<Fleet>>);
impl Hooks for Published {
    fn fleet_changed(&self, fleet: &Fleet) {
        self.0.lock().expect("published").push(fleet.clone());
    }
}

/// Polls `probe` until it gives something (20 s at most).
async fn until<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    for _ in 0..400 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited 20 s for {what}");
}

async fn agent_in(app: &App, id: &str) -> Option<FleetAgent> {
    app.fleet().await.agents.into_iter().find(|a| a.id == id)
}

fn titles(sent: &Sent) -> Vec<String> {
    let sent = sent.0.lock().expect("sent");
    sent.iter().map(|n| n.title.clone()).collect()
}

async fn notified(sent: &Sent, title: &str) {
    until(&format!("the notification {title:?}"), || async {
        titles(sent).iter().any(|t| t == title).then_some(())
    })
    .await;
}

fn snapshot(source: &std::path::Path, destination: String) -> RemoteJobRequest {
    RemoteJobRequest::Snapshot(StartSnapshot {
        source: source.display().to_string(),
        destination,
        name: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_follows_an_agent_runs_jobs_there_and_notifies_what_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent = start_agent(dir.path()).await;
    let sent = Arc::new(Sent::default());
    let published = Arc::new(Published::default());
    let app = App::new(
        AppConfig::beside(dir.path().join("history.db")),
        tokio::runtime::Handle::current(),
        published.clone(),
        sent.clone(),
    );
    let nas = app
        .add_agent(AddAgent {
            name: "NAS".into(),
            url: agent.link.clone(),
            token: String::new(),
        })
        .await
        .expect("added");
    let online = until("the agent online", || async {
        agent_in(&app, &nas.id)
            .await
            .filter(|a| matches!(a.reachability, Reachability::Online { .. }))
    })
    .await;
    assert_eq!(online.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let root = dunce::canonicalize(&agent.root).expect("root");
    assert_eq!(online.roots, [root.display().to_string()]);
    assert!(!online.read_only);
    assert_eq!(online.url, agent.url);

    // A snapshot started from here ends before a check may see it run: its end is still news.
    let out = agent.root.join("out").display().to_string();
    let job = app
        .start_remote_job(&nas.id, snapshot(&agent.photos, out))
        .await
        .expect("started");
    assert_eq!(job.title, "Snapshot on NAS");
    notified(&sent, "Snapshot on NAS completed").await;
    let ended = agent_in(&app, &nas.id).await.expect("listed");
    assert!(
        ended
            .recent
            .iter()
            .any(|j| j.id == job.id && j.state == JobState::Completed),
        "{ended:?}"
    );

    // Paused, resumed and cancelled mid-upload (a slow server holds it in step 5).
    let big = agent.root.join("big");
    tidemark_tests::write(big.join("data.bin"), &pseudo_random(6 << 20, 3));
    let put = SlowPut::start();
    let slow = app
        .start_remote_job(&nas.id, snapshot(&big, put.url.clone()))
        .await
        .expect("started");
    let state_is = |want: JobState| {
        let (app, id, job) = (&app, nas.id.clone(), slow.id.clone());
        move || {
            let (id, job) = (id.clone(), job.clone());
            async move {
                let a = agent_in(app, &id).await?;
                a.running
                    .iter()
                    .find(|j| j.id == job && j.state == want)
                    .cloned()
            }
        }
    };
    until("the upload running", state_is(JobState::Running)).await;
    let paused = app
        .pause_remote_job(&nas.id, &slow.id)
        .await
        .expect("pause");
    assert_eq!(paused.id, slow.id);
    until("the job paused", state_is(JobState::Paused)).await;
    app.resume_remote_job(&nas.id, &slow.id)
        .await
        .expect("resume");
    until("the job running again", state_is(JobState::Running)).await;
    app.cancel_remote_job(&nas.id, &slow.id)
        .await
        .expect("cancel");
    let cancelled = until("the job cancelled", || async {
        let a = agent_in(&app, &nas.id).await?;
        a.recent
            .iter()
            .find(|j| j.id == slow.id && j.state == JobState::Cancelled)
            .cloned()
    })
    .await;
    assert_eq!(cancelled.title, "Snapshot on NAS");
    let missing = app
        .pause_remote_job(&nas.id, "no-such-job")
        .await
        .expect_err("no such job");
    assert_eq!(missing.code(), ErrorCode::NotFound, "{missing}");

    // A read-only token sees the agent and its jobs, and is refused any change, by the agent.
    let tokens = dir.path().join("agent-tokens.json");
    let viewer_token = tidemark_agent::add_named(&tokens, "viewer", true).expect("token");
    let mut link: tidemark_core::PairingLink = agent.link.parse().expect("link");
    link.token = viewer_token;
    let viewer = app
        .add_agent(AddAgent {
            name: "NAS (viewer)".into(),
            url: link.to_string(),
            token: String::new(),
        })
        .await
        .expect("added read-only");
    let seen = until("the read-only agent checked", || async {
        agent_in(&app, &viewer.id)
            .await
            .filter(|a| a.version.is_some())
    })
    .await;
    assert!(seen.read_only);
    assert!(seen.recent.iter().any(|j| j.id == job.id));
    let refused = app
        .start_remote_job(
            &viewer.id,
            snapshot(&agent.photos, agent.root.display().to_string()),
        )
        .await
        .expect_err("read-only");
    assert_eq!(refused.code(), ErrorCode::ReadOnly, "{refused}");
    let refused = app
        .cancel_remote_job(&viewer.id, &job.id)
        .await
        .expect_err("read-only");
    assert_eq!(refused.code(), ErrorCode::ReadOnly, "{refused}");
    app.remove_agent(&viewer.id).expect("removed");
    until("the read-only agent gone", || async {
        agent_in(&app, &viewer.id).await.is_none().then_some(())
    })
    .await;

    // The agent goes away and comes back on the same port: each said once.
    let addr: SocketAddr = agent
        .url
        .trim_start_matches("https://")
        .parse()
        .expect("addr");
    agent.server.abort();
    notified(&sent, "Agent NAS is unreachable").await;
    let mut cfg = agent_config(dir.path(), &agent.root);
    cfg.listen = addr;
    let again = tokio::spawn(tidemark_agent::serve(cfg, |_| {}));
    notified(&sent, "Agent NAS is back").await;
    let all = titles(&sent);
    for once in ["Agent NAS is unreachable", "Agent NAS is back"] {
        assert_eq!(all.iter().filter(|t| *t == once).count(), 1, "{all:?}");
    }
    assert!(
        !all.iter().any(|t| t.contains("viewer")),
        "a removed agent is no longer checked: {all:?}"
    );

    // Every change reached the shell, in order.
    let revisions: Vec<u64> = published
        .0
        .lock()
        .expect("published")
        .iter()
        .map(|f| f.revision)
        .collect();
    assert!(revisions.len() > 5, "{revisions:?}");
    assert!(revisions.windows(2).all(|w| w[1] > w[0]), "{revisions:?}");
    again.abort();
}
