//! A snapshot started from the Jobs view, followed in the modal, found in History.

use std::time::Duration;

use serde_json::Value;
use tidemark_tests::{diff_trees, extract, generate_tree, names};

use crate::harness::{Desktop, LONG, SHORT};
use crate::webdriver::wait_until_or;

/// Regular files under `dir`, as a snapshot counts them (links and folders are not files).
fn walkdir_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walkdir_files(&e.path()),
                    Ok(t) if t.is_file() => 1,
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// "Step 3 of 6 · Hashing" → 3.
fn step_number(state: &Value) -> Option<u32> {
    state["step"]
        .as_str()?
        .strip_prefix("Step ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

fn percent(state: &Value) -> Option<f64> {
    state["percent"]
        .as_str()?
        .trim_end_matches('%')
        .trim()
        .parse()
        .ok()
}

#[test]
fn a_snapshot_goes_through_six_steps_closes_itself_and_is_in_history() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("photos");
    generate_tree(&src, 64 << 20);
    let dest = tmp.path().join("archives");
    std::fs::create_dir_all(&dest).expect("dest");

    let app = Desktop::start(tmp.path(), "snapshot");
    app.fill("snapshot-source", &src.display().to_string());
    app.fill("snapshot-destination", &dest.display().to_string());
    app.observe_modal();
    app.click("start-snapshot");
    app.wait_modal("running", SHORT);
    // The pointer over the modal keeps it open after success...
    let modal = app.el("modal");
    app.s.hover(&modal).expect("pointer over the modal");
    app.wait_modal("completed", LONG);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        app.modal_state().as_deref(),
        Some("completed"),
        "kept open while hovered"
    );
    app.screenshot("modal-completed");
    // The finished job counts the files it archived, not the one archive it delivered.
    let files = walkdir_files(&src);
    assert_eq!(app.text("modal-counts"), format!("{files}/{files}"));
    // ...and once it leaves, the modal closes itself 2 s later.
    app.s.pointer_at(5, 5).expect("pointer away");
    app.wait_modal_gone(Duration::from_secs(10));

    // Every state the modal showed, from the DOM's own changes.
    let seen: Vec<Value> = app
        .observed()
        .into_iter()
        .filter(|s| !s.is_null())
        .collect();
    let steps: Vec<u32> = seen.iter().filter_map(step_number).collect();
    assert!(
        steps.windows(2).all(|w| w[0] <= w[1]),
        "steps never go back: {steps:?}"
    );
    // The modal opens on the job's current step (the first ones can be over by then); the
    // dots say which steps are done, so every state shows the whole way through the six.
    let mut distinct = steps.clone();
    distinct.dedup();
    assert_eq!(distinct.last(), Some(&6), "{steps:?}");
    assert!(
        distinct.windows(2).all(|w| w[1] == w[0] + 1),
        "no step skipped while the modal was open: {distinct:?}"
    );
    for state in &seen {
        let (Some(n), Some(dots)) = (step_number(state), state["dots"].as_array()) else {
            continue;
        };
        let want: Vec<&str> = (1..=6)
            .map(|i| match (i.cmp(&n), state["state"].as_str()) {
                (_, Some("completed")) | (std::cmp::Ordering::Less, _) => "done",
                (std::cmp::Ordering::Equal, _) => "current",
                _ => "todo",
            })
            .collect();
        assert_eq!(dots.len(), 6, "{state}");
        assert!(
            dots.iter().zip(&want).all(|(d, w)| d == w),
            "dots of {state}"
        );
    }
    let percents: Vec<f64> = seen.iter().filter_map(percent).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "the bar never goes back: {percents:?}"
    );
    assert_eq!(percents.last(), Some(&100.0));
    assert_eq!(
        seen.last().map(|s| s["state"].clone()),
        Some("completed".into())
    );

    // The archive is whole: system tar gives back the same tree.
    let made = names(&dest);
    let [manifest, archive] = &made[..] else {
        panic!("an archive and its manifest, nothing partial: {made:?}");
    };
    assert!(manifest.ends_with(".manifest.json"), "{made:?}");
    assert!(archive.ends_with(".tar.zst"), "{made:?}");
    let out = tmp.path().join("extracted");
    extract(&dest.join(archive), &out);
    assert_eq!(diff_trees(&src, &out.join("photos")), "");

    // History has the run, with its step timeline.
    app.tab("history");
    let row = app.el("history-row");
    assert!(app.s.text(&row).contains("photos"), "{}", app.s.text(&row));
    app.s.click(&row).expect("click row");
    app.el("history-detail");
    // The detail may first show the run as its history stood a moment before the end (the
    // history is written on its own thread); it reloads when the job's end is announced.
    let timeline: Vec<String> = wait_until_or(SHORT, || {
        let steps: Vec<String> = app
            .s
            .all("[data-testid=timeline-step]")
            .iter()
            .filter_map(|e| app.s.attr(e, "data-step"))
            .collect();
        (steps.len() == 6).then_some(steps)
    })
    .unwrap_or_default();
    assert_eq!(timeline.len(), 6, "six steps in the timeline: {timeline:?}");
    assert!(
        app.s.find("[data-testid=event-row]").is_some(),
        "its events"
    );
    app.screenshot("history-detail");

    // The completion was announced on the bus, with the size and the time it took.
    let (summary, body) = app.bus.wait_notification("completed");
    assert!(summary.contains("photos"), "{summary}");
    assert!(body.contains("MB") && body.contains(" in "), "{body}");
}
