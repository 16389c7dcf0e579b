//! Sync with a missing source, cancel from the modal, and the app killed mid-job.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use tidemark_tests::slow_put::SlowPut;
use tidemark_tests::{diff_trees, extract, generate_tree, names};

use crate::harness::{Desktop, LONG, SHORT, tmp_dir};
use crate::webdriver::wait_until;

/// A source whose archive is about 8 MiB (random bytes: zstd keeps their size), so an
/// upload to [`SlowPut`] lasts several seconds.
pub fn upload_source(root: &Path) -> PathBuf {
    let src = root.join("vault");
    generate_tree(&src, 8 << 20);
    src
}

pub fn start_snapshot(app: &Desktop, src: &Path, dest: &str) {
    app.fill("snapshot-source", &src.display().to_string());
    app.fill("snapshot-destination", dest);
    app.observe_modal();
    app.click("start-snapshot");
}

/// Waits until the modal shows the archive being uploaded (step 5).
pub fn wait_uploading(app: &Desktop) {
    crate::webdriver::wait_until("step 5, uploading", LONG, || {
        app.observed()
            .iter()
            .any(|s| s["step"].as_str().is_some_and(|t| t.starts_with("Step 5 ")))
            .then_some(())
    });
}

/// What the app left in its temporary folder, apart from the tray's icon files.
fn staged(test_dir: &Path) -> Vec<String> {
    let mut left = names(&tmp_dir(test_dir));
    left.retain(|n| n != "tray-icon");
    left
}

#[test]
fn a_sync_with_a_missing_source_shows_two_rows_done_and_one_failed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let photos = tmp.path().join("photos");
    generate_tree(&photos, 1 << 20);
    let music = tmp.path().join("music");
    generate_tree(&music, 2 << 20);
    let missing = tmp.path().join("not-there");
    let mirror = tmp.path().join("mirror");

    let app = Desktop::start(tmp.path(), "sync");
    let normal = wait_until("the tray icon", SHORT, || app.bus.tray_icon());
    app.click("sync-add-source");
    app.click("sync-add-source");
    let fields = app.s.all("[data-testid=sync-source]");
    assert_eq!(fields.len(), 3, "three source fields");
    for (field, path) in fields.iter().zip([&photos, &missing, &music]) {
        app.s
            .type_text(field, &path.display().to_string())
            .expect("type a source");
    }
    app.fill("sync-destination", &mirror.display().to_string());
    app.observe_modal();
    app.click("start-sync");
    app.wait_modal("failed", LONG);
    app.screenshot("modal-failed");

    let last = app
        .observed()
        .into_iter()
        .rfind(|s| !s.is_null())
        .expect("a state");
    assert_eq!(
        last["rows"],
        serde_json::json!(["done", "failed", "done"]),
        "{last}"
    );
    let row_error = app.text("source-error");
    assert!(
        row_error.contains("not-there"),
        "the row names what is wrong: {row_error}"
    );
    let message = app.text("modal-error-message");
    assert!(message.contains("1 of 3 sources failed"), "{message}");
    assert!(
        app.s.find("[data-testid=retry-button]").is_some(),
        "Retry offered"
    );
    assert_eq!(diff_trees(&photos, &mirror.join("photos")), "");
    assert_eq!(diff_trees(&music, &mirror.join("music")), "");
    assert!(!mirror.join("not-there").exists());

    let (summary, body) = app.bus.wait_notification("failed");
    assert!(summary.starts_with("Sync"), "{summary}");
    assert!(
        body.contains("not-there"),
        "the error in the notification: {body}"
    );

    // The tray icon says something failed until the window is brought back from the tray.
    wait_until("the failure icon", SHORT, || {
        app.bus.tray_icon().filter(|i| *i != normal)
    });
    app.bus.tray_click("Show Tidemark").expect("click Show");
    wait_until("the normal icon again", SHORT, || {
        app.bus.tray_icon().filter(|i| *i == normal)
    });

    app.click("close-button");
    app.tab("history");
    let row = app.el("history-row");
    assert!(app.s.text(&row).contains("Failed"), "{}", app.s.text(&row));
}

#[test]
fn a_job_cancelled_from_the_modal_leaves_nothing_half_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = upload_source(tmp.path());
    let put = SlowPut::start();

    let app = Desktop::start(tmp.path(), "cancel");
    start_snapshot(&app, &src, &put.url);
    wait_uploading(&app);
    app.wait_modal_on_screen("running", SHORT);
    app.screenshot("modal-running");
    app.click("cancel-button");
    app.wait_modal("cancelled", LONG);

    // The upload was cut off, never completed, and the staged archive is gone.
    wait_until("the server to see the upload cut off", SHORT, || {
        (put.broken.load(Ordering::SeqCst) > 0).then_some(())
    });
    assert!(put.whole().is_empty(), "no whole upload");
    assert_eq!(
        staged(tmp.path()),
        Vec::<String>::new(),
        "nothing staged left"
    );

    app.click("close-button");
    app.tab("history");
    let row = app.el("history-row");
    assert!(
        app.s.text(&row).contains("Cancelled"),
        "{}",
        app.s.text(&row)
    );
    // A cancel is the user's own doing: no notification for it.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.bus.notifications(), Vec::<(String, String)>::new());
}

#[test]
fn a_job_of_a_killed_app_is_interrupted_and_resume_completes_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = upload_source(tmp.path());
    let put = SlowPut::start();

    let mut app = Desktop::start(tmp.path(), "crash");
    start_snapshot(&app, &src, &put.url);
    wait_uploading(&app);
    app.kill();
    app.restart();

    app.tab("history");
    let row = app.el("history-row");
    assert!(
        app.s.text(&row).contains("Interrupted"),
        "{}",
        app.s.text(&row)
    );
    app.s.click(&row).expect("click row");
    app.observe_modal();
    app.click("resume-button");
    app.wait_modal("completed", LONG);

    // The one whole upload is the archive of the source.
    let whole = put.whole();
    assert_eq!(whole.len(), 1, "one whole upload");
    let archive = tmp.path().join("uploaded.tar.zst");
    std::fs::write(&archive, &whole[0]).expect("write");
    let out = tmp.path().join("extracted");
    extract(&archive, &out);
    assert_eq!(diff_trees(&src, &out.join("vault")), "");
    assert_eq!(
        staged(tmp.path()),
        Vec::<String>::new(),
        "nothing staged left"
    );
}
