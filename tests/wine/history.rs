//! The history the Windows build keeps: `history` lists a run, `events` replays it, `show`
//! tells its steps.

use std::fs;

use tidemark_core::ProgressEvent;

use crate::util::{pseudo_random, run_json, shown_steps, write};
use crate::wine::{Wine, win};

#[test]
fn history_and_events_on_windows_show_the_runs() {
    let Some(wine) = Wine::get("history_and_events_on_windows_show_the_runs") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = tmp.path().join("src");
    for i in 0..20u64 {
        write(
            src.join(format!("d{}/f{i}.bin", i % 3)),
            &pseudo_random(20_000, i),
        );
    }
    let out = tmp.path().join("out");
    fs::create_dir(&out).expect("out");
    let ok = run_json(
        wine.tidemark(&db),
        &["snapshot", &win(&src), "--to", &win(&out)],
    );
    assert_eq!(ok.code, 0, "stderr: {}", ok.stderr);
    let missing = win(&tmp.path().join("no such source"));
    let failed = run_json(wine.tidemark(&db), &["sync", &missing, "--to", &win(&out)]);
    assert_eq!(failed.code, 1, "stderr: {}", failed.stderr);
    assert_eq!(failed.error_code().as_deref(), Some("source_missing"));

    let list = wine
        .tidemark(&db)
        .args(["history", "--json"])
        .output()
        .expect("history");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let jobs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let jobs = jobs.as_array().expect("array");
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(jobs[0]["id"], failed.last().job_id.as_str(), "newest first");
    assert_eq!(jobs[0]["state"], "failed");
    assert_eq!(jobs[0]["error"]["code"], "source_missing");
    assert_eq!(jobs[1]["id"], ok.last().job_id.as_str());
    assert_eq!(jobs[1]["state"], "completed");
    assert_eq!(
        jobs[1]["resultUrl"].as_str(),
        ok.last().result_url.as_deref()
    );
    assert_eq!(
        jobs[1]["processed"].as_u64(),
        Some(ok.last().counters.processed)
    );

    // Every event the run printed was stored, the same and in order, and replays alike.
    let id = &ok.last().job_id;
    let stored = wine
        .tidemark(&db)
        .args(["events", id])
        .output()
        .expect("events");
    assert!(
        stored.status.success(),
        "{}",
        String::from_utf8_lossy(&stored.stderr)
    );
    let stored: Vec<ProgressEvent> = String::from_utf8_lossy(&stored.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect();
    assert_eq!(stored, ok.events);

    assert_eq!(
        shown_steps(wine.tidemark(&db), id),
        [
            "waiting",
            "browsing",
            "manifest",
            "compressing",
            "uploading"
        ]
    );
}
