//! The tray as a tray host sees it (StatusNotifierItem and its D-Bus menu), closing to the
//! tray, a second launch, and two windows on one job.

use serde_json::Value;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Desktop, LONG, SHORT, close_window, desktop_bin, window_state};
use crate::webdriver::{wait_until, wait_until_or};

pub(crate) fn labels(menu: &Value) -> Vec<String> {
    menu["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["label"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until a menu item satisfies `f`; returns the menu.
pub(crate) fn wait_menu(app: &Desktop, what: &str, f: impl Fn(&[String]) -> bool) -> Value {
    wait_until(what, SHORT, || {
        let menu = app.bus.tray_menu().ok()?;
        f(&labels(&menu)).then_some(menu)
    })
}

/// Waits for the main window's map state; on a timeout says what the X server and the tray
/// showed instead (a window gone rather than hidden, say, means the app saw no active job).
fn wait_window(app: &Desktop, state: &str) {
    if let Err(seen) = reach_window(state, SHORT) {
        panic!("{}", window_report(app, state, &seen, SHORT));
    }
}

fn reach_window(state: &str, within: Duration) -> Result<(), String> {
    let mut seen = String::new();
    wait_until_or(within, || {
        seen = window_state("Tidemark");
        (seen == state).then_some(())
    })
    .ok_or(seen)
}

fn window_report(app: &Desktop, state: &str, seen: &str, waited: Duration) -> String {
    let menu = app.bus.tray_menu().map(|m| labels(&m));
    format!(
        "waited {waited:?} for the main window {state}: its state is {seen:?}; the app is \
         running: {}; the tray menu: {menu:?}",
        app.pid().is_some()
    )
}

/// Closes the main window as its title bar's x would, and waits for it to go to the tray.
/// With no window manager, a delete request was once seen not acted on in CI while the app
/// and its tray answered: as a person would, the x is pressed again, a few times at most.
fn close_to_tray(app: &Desktop) {
    const TRIES: u32 = 4;
    let each = SHORT / TRIES;
    let mut seen = String::new();
    for _ in 0..TRIES {
        close_window("Tidemark");
        match reach_window("unmapped", each) {
            Ok(()) => return,
            Err(s) => seen = s,
        }
    }
    panic!(
        "{} (the close request was sent {TRIES} times)",
        window_report(app, "unmapped", &seen, SHORT)
    );
}

#[test]
fn the_tray_follows_jobs_and_the_window_closes_to_it_and_comes_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = crate::jobs::upload_source(tmp.path());
    let put = crate::jobs::SlowPut::start();
    let app = Desktop::start(tmp.path(), "tray");

    let idle = wait_menu(&app, "the tray menu", |l| l.iter().any(|x| x == "Quit"));
    assert_eq!(
        idle["XAyatanaLabel"].as_str().unwrap_or_default(),
        "",
        "{idle}"
    );
    assert_eq!(
        labels(&idle),
        [
            "Show Tidemark",
            "New window",
            "No active jobs",
            "Pause all",
            "Resume all",
            "Pause everything",
            "For 1 hour",
            "For 4 hours",
            "Until tomorrow",
            "Quit"
        ]
    );

    crate::jobs::start_snapshot(&app, &src, &put.url);
    crate::jobs::wait_uploading(&app);
    let job_line = |l: &[String]| {
        l.iter()
            .any(|x| x.starts_with("Snapshot of vault — ") && x.ends_with('%'))
    };
    let running = wait_menu(&app, "the job with its percent in the menu", job_line);
    // No tooltips on these trays: the overall percent is the label beside the icon.
    let label = running["XAyatanaLabel"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        label.ends_with(" %"),
        "the label beside the icon: {running}"
    );
    app.bus.tray_click("Pause all").expect("click Pause all");
    app.wait_modal("paused", SHORT);
    wait_menu(&app, "the job paused in the menu", |l| {
        l.iter().any(|x| x == "Snapshot of vault — paused")
    });

    // Closing the window while a job runs keeps the app in the tray.
    close_to_tray(&app);
    assert!(app.pid().is_some(), "still running");
    // A second launch does not start a second app: it brings the first one's window back.
    let second = Command::new(desktop_bin())
        .env("TIDEMARK_DB", &app.db)
        .env("DBUS_SESSION_BUS_ADDRESS", &app.bus.address)
        .env("NO_AT_BRIDGE", "1")
        .output()
        .expect("second launch");
    assert!(second.status.success(), "{second:?}");
    wait_window(&app, "viewable");
    close_to_tray(&app);
    app.bus.tray_click("Show Tidemark").expect("click Show");
    wait_window(&app, "viewable");

    // A second window on the same job shows the same state, and acts on it.
    let first = app.s.current_window().expect("first window");
    app.bus.tray_click("New window").expect("click New window");
    let second = wait_until("a second window", SHORT, || {
        app.s.windows().into_iter().find(|h| *h != first)
    });
    app.s.switch_to(&second).expect("switch");
    app.tab("jobs");
    app.s.wait("[data-testid=active-job]", SHORT);
    app.observe_modal();
    app.click("active-job");
    app.wait_modal("paused", SHORT);
    let here = app.text("modal-percent");
    let counts = app.text("modal-counts");
    app.s.switch_to(&first).expect("switch back");
    assert_eq!(
        app.text("modal-percent"),
        here,
        "the same percent in both windows"
    );
    assert_eq!(
        app.text("modal-counts"),
        counts,
        "the same counts in both windows"
    );
    app.s.switch_to(&second).expect("switch");
    app.click("resume-button");
    app.wait_modal("completed", LONG);
    app.s.switch_to(&first).expect("switch back");
    app.wait_modal("completed", SHORT);
    wait_menu(&app, "no active jobs once it is done", |l| {
        l.iter().any(|x| x == "No active jobs")
    });
    wait_until("no label beside the icon once it is done", SHORT, || {
        let menu = app.bus.tray_menu().ok()?;
        menu["XAyatanaLabel"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
            .then_some(())
    });

    app.bus.tray_click("Quit").expect("click Quit");
    wait_until("the app to quit", SHORT, || {
        app.pid().is_none().then_some(())
    });
}
