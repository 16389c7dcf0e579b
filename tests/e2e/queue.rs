//! The agent's job queue: many jobs sent at once run a few at a time, and all complete.

use std::process::Command;

use chrono::{DateTime, Utc};
use serde_json::json;
use tidemark_core::{JobState, ProgressEvent};

use crate::agent_proc::*;
use crate::util::*;

fn at(e: &ProgressEvent) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&e.timestamp)
        .expect("RFC 3339 timestamp")
        .with_timezone(&Utc)
}

/// The most runs overlapping at any moment; a run is from its first `running` event to its
/// terminal one, and one that starts when another ends does not overlap it.
fn most_at_once(runs: &[(DateTime<Utc>, DateTime<Utc>)]) -> usize {
    runs.iter()
        .map(|&(start, _)| {
            runs.iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn twenty_jobs_sent_at_once_run_at_most_max_jobs_at_a_time_and_all_complete() {
    const JOBS: usize = 20;
    const MAX: usize = 3;
    let tmp = tempfile::tempdir().expect("tmp");
    let agent = start_agent_with(tmp.path(), &["--max-jobs", &MAX.to_string()]);
    let root = tmp.path().join("root");
    // Enough work per job (a few MB) that unqueued jobs would surely overlap.
    for i in 0..24u64 {
        write(
            root.join("src").join(format!("f{i:02}.bin")),
            &pseudo_random(256 << 10, i),
        );
    }
    let ids: Vec<String> = std::thread::scope(|s| {
        let posts: Vec<_> = (0..JOBS)
            .map(|n| {
                let agent = &agent;
                let spec = json!({
                    "kind": "snapshot",
                    "source": root.join("src"),
                    "destination": root.join("out"),
                    "name": format!("run-{n:02}"),
                });
                s.spawn(move || agent.admin("POST", "/api/v1/jobs", Some(spec)))
            })
            .collect();
        posts
            .into_iter()
            .map(|p| {
                let job = p.join().expect("POST");
                job["id"].as_str().expect("id").to_string()
            })
            .collect()
    });

    let mut runs = Vec::new();
    let (mut waited, mut told_ahead) = (0, 0);
    for id in &ids {
        agent.wait_for(id, JobState::Completed);
        let events: Vec<ProgressEvent> = serde_json::from_value(agent.admin(
            "GET",
            &format!("/api/v1/jobs/{id}/events?since=0"),
            None,
        ))
        .expect("events");
        let start = events
            .iter()
            .find(|e| e.state == JobState::Running)
            .expect("a running event");
        let end = events.last().expect("events");
        assert_eq!(end.state, JobState::Completed, "{end:?}");
        // Until it starts, a job is queued and says where it stands.
        let queued: Vec<&ProgressEvent> = events
            .iter()
            .take_while(|e| e.state == JobState::Queued)
            .collect();
        assert!(!queued.is_empty() && queued.len() + 1 < events.len());
        if queued.iter().any(|e| e.message.starts_with("Waiting")) {
            waited += 1;
        }
        if queued.iter().any(|e| e.message.contains("jobs ahead")) {
            told_ahead += 1;
        }
        runs.push((at(start), at(end)));
    }
    let most = most_at_once(&runs);
    assert!(
        most <= MAX,
        "{most} jobs ran at once, at most {MAX} may: {runs:?}"
    );
    assert!(
        waited >= JOBS / 2 && told_ahead >= 1,
        "{waited} jobs said they waited, {told_ahead} how many were ahead of them"
    );
    let archives = std::fs::read_dir(root.join("out"))
        .expect("out")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tar.zst"))
        })
        .count();
    assert_eq!(archives, JOBS);
}

#[test]
fn max_jobs_zero_is_refused_before_the_agent_starts() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("root")).expect("root");
    let out = Command::new(bin())
        .arg("--db")
        .arg(db(tmp.path()))
        .args([
            "agent",
            "--listen",
            "127.0.0.1:0",
            "--max-jobs",
            "0",
            "--root",
        ])
        .arg(tmp.path().join("root"))
        .output()
        .expect("tidemark agent");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-jobs") && stderr.contains("at least 1"),
        "{stderr}"
    );
}
