//! Plans in the app: made in the Plans view, run from it, two of them followed at once, and
//! everything paused from the tray; a stale plan announced once on the session's bus.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Desktop, LONG, SHORT};
use crate::jobs::{SlowPut, upload_source};
use crate::tray::wait_menu;
use crate::webdriver::wait_until;

/// Fills the Plans view's form for a snapshot plan run only when asked, and saves it.
fn add_plan(app: &Desktop, name: &str, src: &Path, dest: &str) {
    app.click("new-plan");
    app.fill("plan-name", name);
    app.fill("plan-source", &src.display().to_string());
    app.fill("plan-destination", dest);
    app.fill("plan-schedule", "daily 02:00");
    app.click("plan-save");
    wait_until(&format!("the plan {name} listed"), SHORT, || {
        app.s
            .find(&format!("[data-testid=plan-row][data-plan={name:?}]"))
    });
}

/// The states the modals show now, one per modal.
fn modal_states(app: &Desktop) -> Vec<String> {
    app.s
        .all("[data-testid=modal]")
        .iter()
        .filter_map(|m| app.s.attr(m, "data-state"))
        .collect()
}

fn run_now(app: &Desktop, plan: &str) {
    let button = app.s.wait(
        &format!("[data-testid=plan-row][data-plan={plan:?}] [data-testid=plan-run-now]"),
        SHORT,
    );
    app.s.click(&button).expect("click Run now");
}

#[test]
fn plans_are_made_and_run_from_their_view_two_at_once_and_everything_pauses_from_the_tray() {
    let tmp = tempfile::tempdir().expect("tmp");
    let photos = upload_source(&tmp.path().join("photos"));
    let music = upload_source(&tmp.path().join("music"));
    // Uploads that last several seconds each: both jobs are surely still running when the
    // test looks at them side by side, and when it pauses everything.
    let put = SlowPut::start();

    let app = Desktop::start_on_plans(tmp.path(), "plans");
    app.s.wait("[data-testid=no-plans]", SHORT);
    add_plan(&app, "Photos", &photos, &put.url);
    add_plan(&app, "Music", &music, &put.url);
    app.screenshot("plans-view");

    // Each run opens its modal over the view; the first is hidden to reach the second's
    // Run now, then opened again from the running strip, which stays above the modals.
    run_now(&app, "Photos");
    app.click("hide-button");
    app.wait_modal_gone(SHORT);
    run_now(&app, "Music");
    let photos = app.s.wait(
        "[data-testid=running-panel] [data-testid=running-row] button",
        SHORT,
    );
    app.s
        .click(&photos)
        .expect("open Photos from the running strip");
    let both = wait_until("two modals, both running", LONG, || {
        let states = modal_states(&app);
        (states.len() == 2 && states.iter().all(|s| s == "running")).then_some(states)
    });
    assert_eq!(both.len(), 2);
    app.screenshot("two-modals");

    // Pause everything for an hour from the tray: both jobs pause, and the tray and the
    // window say until when.
    app.bus.tray_click("For 1 hour").expect("click For 1 hour");
    wait_until("both modals paused", SHORT, || {
        let states = modal_states(&app);
        (states.len() == 2 && states.iter().all(|s| s == "paused")).then_some(())
    });
    let menu = wait_menu(&app, "the pause's end in the tray", |labels| {
        labels
            .iter()
            .any(|l| l.starts_with("Everything paused until "))
    });
    assert!(
        crate::tray::labels(&menu).contains(&"Resume everything now".to_owned()),
        "{menu}"
    );
    assert!(
        app.text("paused-everything").contains("paused until"),
        "the window says so too"
    );

    app.bus
        .tray_click("Resume everything now")
        .expect("click Resume everything now");
    wait_until("both runs completed", LONG * 2, || {
        let done = app
            .s
            .all("[data-testid=plan-row]")
            .iter()
            .filter(|r| app.s.attr(r, "data-state").as_deref() == Some("completed"))
            .count();
        (done == 2).then_some(())
    });
    assert_eq!(put.whole().len(), 2, "both archives arrived whole");
    wait_menu(&app, "the pause gone from the tray", |labels| {
        labels.iter().any(|l| l == "Pause everything")
    });
}

#[test]
fn a_stale_plan_is_announced_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("docs");
    tidemark_tests::generate_tree(&src, 64 << 10);
    let dest = tmp.path().join("archives");
    std::fs::create_dir_all(&dest).expect("dest");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data");
    // Made with the CLI on the app's history: never run, and allowed one second without a
    // successful run, so it is stale by the time the app looks.
    let out = Command::new(crate::harness::cli_bin())
        .args(["plan", "add", "Docs", "snapshot"])
        .arg(&src)
        .arg("--to")
        .arg(&dest)
        .args(["--stale-after", "1s"])
        .env("TIDEMARK_DB", data.join("history.db"))
        .output()
        .expect("tidemark plan add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(1100));

    let app = Desktop::start_on_plans(tmp.path(), "stale");
    let (summary, _body) = app.bus.wait_notification("Docs has had no successful run");
    assert!(summary.contains("Docs"), "{summary}");
    app.s.wait("[data-testid=plan-stale]", SHORT);
    // Once: not again while it stays stale.
    std::thread::sleep(Duration::from_secs(3));
    let told = app
        .bus
        .notifications()
        .into_iter()
        .filter(|(s, _)| s.contains("no successful run"))
        .count();
    assert_eq!(told, 1);
}
