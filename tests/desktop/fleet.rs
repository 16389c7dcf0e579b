//! The Agents view as the fleet's dashboard, against a real agent: added by its pairing
//! link, seen online with its version, jobs started there from the New job form, one in the
//! tray with its percent, their ends notified with the agent's name; then the agent killed
//! and restarted on the same port, noticed by the background check alone (no window watches
//! a job): "unreachable", then "back".

use std::process::Command;

use tidemark_tests::{generate_tree, names};

use crate::harness::{Desktop, LONG, Proc, SHORT};
use crate::remote::Agent;
use crate::tray::wait_menu;
use crate::webdriver::wait_until;

const DONE: &str = "Snapshot on NAS completed";

/// How many notifications have `summary` as theirs.
fn count(app: &Desktop, summary: &str) -> usize {
    app.bus
        .notifications()
        .iter()
        .filter(|(s, _)| s == summary)
        .count()
}

fn status(app: &Desktop) -> String {
    app.text("agent-status")
}

#[test]
fn the_dashboard_runs_jobs_on_an_agent_and_the_fleet_reports_its_outage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let agent_dir = tmp.path().join("agent");
    let mut agent = Agent::start(&agent_dir, "127.0.0.1:0");
    let listen = agent.url.trim_start_matches("https://").to_owned();
    let root = agent_dir.join("root");
    generate_tree(&root.join("vault"), 3 << 20);
    std::fs::create_dir_all(root.join("archives")).expect("archives");

    let app = Desktop::start(tmp.path(), "fleet");
    app.tab("agents");
    // The test's session bus has no Secret Service: the view says where tokens are kept.
    let warning = app.el("keychain-warning");
    let said = app.s.text(&warning);
    assert!(said.contains("desktop-agent-tokens.json"), "{said}");

    app.fill("agent-name", "NAS");
    app.fill("agent-url", &agent.link());
    app.click("add-agent");
    wait_until("the agent online", SHORT, || {
        (status(&app) == "online").then_some(())
    });
    let version = app.text("agent-version");
    assert_eq!(version, format!("version {}", env!("CARGO_PKG_VERSION")));
    app.screenshot("fleet-online");

    // A snapshot of a few MB under its root into a folder under its root.
    app.click("new-remote-job");
    app.fill("remote-source-path", "vault");
    app.fill("remote-destination-path", "archives");
    let full = app.text("remote-destination-full");
    assert!(full.ends_with("/root/archives"), "{full}");
    app.click("start-remote-job");
    let (_, body) = app.bus.wait_notification(DONE);
    assert!(body.contains("archives"), "{body}");
    let archives = names(&root.join("archives"));
    assert!(
        archives.iter().any(|n| n.ends_with(".tar.zst")),
        "{archives:?}"
    );
    app.s.wait(
        "[data-testid=agent-recent] [data-testid=remote-job-row][data-state=completed]",
        SHORT,
    );

    // One uploading to a slow server stays in the tray with its percent while it runs.
    let put = tidemark_tests::slow_put::SlowPut::start();
    generate_tree(&root.join("big"), 6 << 20);
    app.click("new-remote-job");
    app.fill("remote-source-path", "big");
    app.click("remote-destination-is-url");
    app.fill("remote-destination-url", &put.url);
    app.click("start-remote-job");
    let running = wait_menu(&app, "the remote job with its percent in the tray", |l| {
        l.iter()
            .any(|x| x.starts_with("Snapshot on NAS — ") && x.ends_with(" %"))
    });
    let label = running["XAyatanaLabel"].as_str().unwrap_or_default();
    assert!(
        label.ends_with(" %"),
        "the label beside the icon: {running}"
    );
    app.screenshot("fleet-running");
    wait_until("the second end notified", LONG, || {
        (count(&app, DONE) == 2).then_some(())
    });
    assert_eq!(put.whole().len(), 1, "the archive arrived whole");
    wait_menu(&app, "the tray without the ended job", |l| {
        !l.iter().any(|x| x.starts_with("Snapshot on NAS"))
    });

    // The agent dies: the background check notices, with no window watching a job.
    assert!(app.s.find("[data-testid=modal]").is_none());
    drop(std::mem::replace(
        &mut agent.proc,
        Proc(Command::new("true").spawn().expect("true")),
    ));
    let (summary, reason) = app.bus.wait_notification("unreachable");
    assert_eq!(summary, "Agent NAS is unreachable");
    assert!(!reason.is_empty());
    wait_until("the badge unreachable", SHORT, || {
        status(&app).starts_with("unreachable: ").then_some(())
    });
    app.screenshot("fleet-unreachable");

    // Back on the same port.
    let _agent = Agent::start(&agent_dir, &listen);
    let (summary, _) = app.bus.wait_notification("is back");
    assert_eq!(summary, "Agent NAS is back");
    wait_until("the badge online again", SHORT, || {
        (status(&app) == "online").then_some(())
    });
    assert_eq!(count(&app, "Agent NAS is unreachable"), 1);
}
