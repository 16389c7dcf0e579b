//! Settings survive a restart and decide which notifications go out.

use std::time::Duration;

use tidemark_tests::generate_tree;

use crate::harness::{Desktop, LONG};

#[test]
fn a_notification_turned_off_stays_off_and_the_others_still_go_out() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("photos");
    generate_tree(&src, 1 << 20);
    let dest = tmp.path().join("archives");
    std::fs::create_dir_all(&dest).expect("dest");

    let mut app = Desktop::start(tmp.path(), "settings");
    app.tab("settings");
    let completed = app.el("setting-notify-completed");
    assert!(app.s.selected(&completed), "on by default");
    app.s.click(&completed).expect("click completed");
    // Starting at login is off until asked for; on, it is a login item that starts the app
    // straight to the tray.
    let login = app.el("setting-launch-at-login");
    assert!(!app.s.selected(&login), "off by default");
    let entry = tmp.path().join("home/.config/autostart/Tidemark.desktop");
    assert!(!entry.exists());
    app.s.click(&login).expect("click launch at login");
    app.click("save-settings");
    app.el("settings-saved");
    let desktop_entry = std::fs::read_to_string(&entry).expect("the login item");
    assert!(desktop_entry.contains("--hidden"), "{desktop_entry}");

    app.restart();
    app.tab("settings");
    let completed = app.el("setting-notify-completed");
    assert!(!app.s.selected(&completed), "still off after a restart");
    assert!(app.s.selected(&app.el("setting-notify-failed")));
    let login = app.el("setting-launch-at-login");
    assert!(app.s.selected(&login));
    app.s.click(&login).expect("click launch at login");
    app.click("save-settings");
    crate::webdriver::wait_until("the login item gone", crate::harness::SHORT, || {
        (!entry.exists()).then_some(())
    });

    app.tab("jobs");
    app.fill("snapshot-source", &src.display().to_string());
    app.fill("snapshot-destination", &dest.display().to_string());
    app.observe_modal();
    app.click("start-snapshot");
    app.wait_modal("completed", LONG);
    app.wait_modal_gone(Duration::from_secs(10));

    // A failure is still announced; by then the completion would have been too.
    app.fill(
        "sync-source",
        &tmp.path().join("not-there").display().to_string(),
    );
    app.fill(
        "sync-destination",
        &tmp.path().join("mirror").display().to_string(),
    );
    app.click("start-sync");
    app.wait_modal("failed", LONG);
    app.bus.wait_notification("failed");
    let all = app.bus.notifications();
    assert_eq!(all.len(), 1, "only the failure: {all:?}");
}
