//! `tidemark plan …` against the real binary, each test with a history of its own: refusals
//! that save nothing, pauses, retention over real runs, a seeded ETA on a second run, and
//! due runs started by the scheduler of real `tidemark agent` processes (one, then two on
//! one database).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tidemark_core::{EtaSource, JobState};

use crate::agent_proc::*;
use crate::util::*;

/// `tidemark --db DB ARGS…` (the test's own history, never the shared one).
fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("spawn tidemark")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let out = cli(db, args);
    assert!(
        out.status.success(),
        "tidemark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn plans(db: &Path) -> Value {
    serde_json::from_str(&ok(db, &["plan", "list", "--json"])).expect("plan list JSON")
}

fn plan<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .expect("a list")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no plan {name} in {list}"))
}

/// The plan's runs, newest first (`history --plan NAME --json`).
fn history(db: &Path, name: &str) -> Vec<Value> {
    let text = ok(db, &["history", "--plan", name, "--json"]);
    serde_json::from_str::<Value>(&text)
        .expect("history JSON")
        .as_array()
        .expect("a list")
        .clone()
}

fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("no time: {v}")))
        .expect("RFC 3339")
        .to_utc()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A small folder to archive or mirror.
fn source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    for i in 0..8u64 {
        write(src.join(format!("f{i}.bin")), &pseudo_random(64 << 10, i));
    }
    src
}

/// Waits until the plan has a run in `state`; returns that run (from `history --plan`).
fn wait_run(db: &Path, name: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        if let Some(run) = history(db, name).into_iter().find(|r| r["state"] == state) {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "no {state} run of {name} within {within:?}: {:?}",
            history(db, name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn plan_refusals_say_why_and_save_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = source(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    ok(
        &db,
        &[
            "plan",
            "add",
            "Photos",
            "snapshot",
            s(&src),
            "--to",
            s(&out),
        ],
    );
    let before = plans(&db);

    let refusals: [(&[&str], &str, &str); 4] = [
        (
            &["--schedule", "every blue moon"],
            "bad_schedule",
            "every blue moon",
        ),
        (&["--schedule", "61 * * * *"], "bad_schedule", "61 * * * *"),
        (&[], "plan_exists", "\"photos\" exists already"),
        (&["--schedule", "hourly"], "plan_exists", "exists already"),
    ];
    for (extra, code, says) in refusals {
        let mut args = vec![
            "plan",
            "add",
            "photos",
            "snapshot",
            s(&src),
            "--to",
            s(&out),
        ];
        // A bad schedule is refused whatever the name; a taken name (without regard to
        // case) whatever the schedule.
        if code == "bad_schedule" {
            args[2] = "Other";
        }
        args.extend_from_slice(extra);
        let refused = cli(&db, &args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error[{code}]")) && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }

    let missing = tmp.path().join("no-such-folder");
    for (args, code) in [
        (
            vec![
                "plan",
                "add",
                "Gone",
                "snapshot",
                s(&missing),
                "--to",
                s(&out),
            ],
            "source_missing",
        ),
        (
            vec![
                "plan",
                "add",
                "Nowhere",
                "sync",
                s(&src),
                "--to",
                s(&missing.join("deeper")),
            ],
            "dest_missing",
        ),
    ] {
        let refused = cli(&db, &args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("error[{code}]")) && stderr.contains("no-such-folder"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(plans(&db), before, "a refused plan saves nothing");
    assert!(!missing.exists(), "a refused plan creates no folder");
}

#[test]
fn plan_pause_for_a_while_then_resume() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = source(tmp.path());
    ok(
        &db,
        &[
            "plan",
            "add",
            "Docs",
            "sync",
            s(&src),
            "--to",
            s(&tmp.path().join("mirror")),
            "--schedule",
            "daily 02:00",
        ],
    );
    let before = Utc::now();
    let said = cli(&db, &["plan", "pause", "Docs", "--for", "4h"]);
    assert!(said.status.success());
    assert!(
        String::from_utf8_lossy(&said.stderr).contains("paused until"),
        "{said:?}"
    );
    let list = plans(&db);
    let p = plan(&list, "Docs");
    assert_eq!(p["paused"], true, "{p}");
    let until = time(&p["pausedUntil"]);
    let four_hours = chrono::TimeDelta::hours(4);
    assert!(
        until >= before + four_hours && until <= Utc::now() + four_hours,
        "paused until {until}"
    );
    // The next run is the first one due after the pause.
    assert!(time(&p["nextRunAt"]) >= until, "{p}");

    ok(&db, &["plan", "resume", "Docs"]);
    let list = plans(&db);
    let p = plan(&list, "Docs");
    assert_eq!(p["paused"], false, "{p}");
    assert!(p["pausedUntil"].is_null(), "{p}");
}

#[test]
fn plan_keep_2_run_three_times_leaves_the_newest_two_archives() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = source(tmp.path());
    let out = tmp.path().join("out");
    write(out.join("mine.tar.zst"), b"the user's own, not the plan's");
    write(out.join("notes.txt"), b"mine too");
    ok(
        &db,
        &[
            "plan",
            "add",
            "Keep2",
            "snapshot",
            s(&src),
            "--to",
            s(&out),
            "--keep",
            "2",
        ],
    );
    let mut archives = Vec::new();
    for _ in 0..3 {
        let run = cli(&db, &["plan", "run", "Keep2"]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let newest = history(&db, "Keep2").into_iter().next().expect("a run");
        assert_eq!(newest["state"], "completed", "{newest}");
        archives.push(PathBuf::from(newest["resultUrl"].as_str().expect("result")));
    }
    let oldest = &archives[0];
    assert!(!oldest.exists(), "{} should be deleted", oldest.display());
    let mut want = vec!["mine.tar.zst".to_string(), "notes.txt".to_string()];
    for a in &archives[1..] {
        let name = a.file_name().and_then(|n| n.to_str()).expect("name");
        want.push(name.to_string());
        want.push(name.replace(".tar.zst", ".manifest.json"));
    }
    want.sort();
    assert_eq!(names(&out), want);
    assert_eq!(
        std::fs::read(out.join("mine.tar.zst")).expect("mine"),
        b"the user's own, not the plan's"
    );
    // The kept archives are whole: GNU tar extracts the newest as the source was.
    let into = tmp.path().join("extracted");
    extract(&archives[2], &into);
    assert_eq!(diff_trees(&src, &into.join("src")), "");
}

#[test]
fn plan_second_run_starts_with_an_eta_from_the_first() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = source(tmp.path());
    let out = tmp.path().join("out");
    ok(
        &db,
        &["plan", "add", "Eta", "snapshot", s(&src), "--to", s(&out)],
    );
    let run = |n: usize| {
        let mut cmd = Command::new(bin());
        cmd.arg("--db").arg(&db);
        let run = run_json(cmd, &["plan", "run", "Eta"]);
        assert_eq!(run.code, 0, "run {n}: {}", run.stderr);
        run
    };
    let first = run(1);
    assert!(
        first.events.iter().all(|e| e.eta_source.is_none()),
        "a first run has no past to estimate from"
    );
    let second = run(2);
    let running: Vec<_> = second
        .events
        .iter()
        .filter(|e| e.state == JobState::Running)
        .collect();
    let seeded = running
        .first()
        .unwrap_or_else(|| panic!("no running event: {:?}", second.events));
    assert_eq!(seeded.eta_source, Some(EtaSource::History), "{seeded:?}");
    assert!(seeded.eta_seconds.is_some_and(|s| s > 0.0), "{seeded:?}");
}

/// Adds a plan due every 10 s with a small snapshot in `dir/root`, the agent's root.
fn scheduled_plan(dir: &Path, name: &str) -> PathBuf {
    let db = db(dir);
    let root = dir.join("root");
    let src = source(&root);
    let out = root.join("out");
    ok(
        &db,
        &[
            "plan",
            "add",
            name,
            "snapshot",
            s(&src),
            "--to",
            s(&out),
            "--schedule",
            "every 10s",
        ],
    );
    db
}

#[test]
fn plan_due_is_started_by_the_agents_scheduler() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = scheduled_plan(tmp.path(), "Nightly");
    let added = Utc::now();
    let _agent = start_agent(tmp.path());
    // Due within 10 s of its creation; one missed before the agent was up waits 10 s more.
    let run = wait_run(&db, "Nightly", "completed", Duration::from_secs(30));
    let created = time(&run["createdAt"]);
    assert!(created >= added, "{run}");
    let list = plans(&db);
    let p = plan(&list, "Nightly");
    assert_eq!(p["lastRun"]["state"], "completed", "{p}");
    assert!(time(&p["lastSuccessAt"]) >= created, "{p}");
    assert!(
        time(&p["nextRunAt"]) > Utc::now() - chrono::TimeDelta::seconds(1),
        "{p}"
    );
    assert_eq!(run["planId"], p["id"]);
}

#[test]
fn plan_two_agents_on_one_history_start_each_due_run_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = scheduled_plan(tmp.path(), "Shared");
    let (a, b) = (start_agent(tmp.path()), start_agent(tmp.path()));
    assert_ne!(a.url, b.url);
    // Both schedulers wake at the same due times and race for each; run until two due
    // times have passed.
    let deadline = Instant::now() + Duration::from_secs(35);
    while history(&db, "Shared")
        .iter()
        .filter(|r| r["state"] == "completed")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "two runs never completed: {:?}",
            history(&db, "Shared")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop((a, b));
    let runs = history(&db, "Shared");
    let mut starts: Vec<DateTime<Utc>> = runs.iter().map(|r| time(&r["createdAt"])).collect();
    starts.sort();
    // Each due time (10 s apart) started one run: no two runs within one period.
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] > chrono::TimeDelta::seconds(5),
            "two runs for one due time: {starts:?}"
        );
    }
    // The agent seeds a plan's run from its past runs too: its first running event says so.
    let second = runs
        .iter()
        .rev()
        .filter(|r| r["state"] == "completed")
        .nth(1)
        .expect("a second completed run");
    let mut events = Command::new(bin());
    events.arg("--db").arg(&db);
    let events = stored_events(events, second["id"].as_str().expect("id"));
    let first_running = events
        .iter()
        .find(|e| e.state == JobState::Running)
        .expect("a running event");
    assert_eq!(
        first_running.eta_source,
        Some(EtaSource::History),
        "{first_running:?}"
    );
    let states: Vec<&Value> = runs.iter().map(|r| &r["state"]).collect();
    assert!(
        states
            .iter()
            .all(|s| *s == "completed" || *s == "interrupted"),
        "{states:?}"
    );
}

/// A `plan run` killed with -9 as soon as its archive is published (before or after its
/// retention got to run, whichever the machine makes it): the new archive is whole, the plan
/// keeps at least its N, and the next run's retention tidies what is the plan's to delete.
#[test]
fn plan_run_killed_after_publishing_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let src = source(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).expect("out");
    ok(
        &db,
        &[
            "plan",
            "add",
            "Keep1",
            "snapshot",
            s(&src),
            "--to",
            s(&out),
            "--keep",
            "1",
        ],
    );
    ok(&db, &["plan", "run", "Keep1"]);
    let first = PathBuf::from(
        history(&db, "Keep1")[0]["resultUrl"]
            .as_str()
            .expect("first archive"),
    );
    let archives = |dir: &Path| -> Vec<String> {
        names(dir)
            .into_iter()
            .filter(|n| n.ends_with(".tar.zst"))
            .collect()
    };
    let before = archives(&out);

    let mut child = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["plan", "run", "Keep1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn plan run");
    let deadline = Instant::now() + Duration::from_secs(30);
    let published = loop {
        if let Some(new) = archives(&out).into_iter().find(|n| !before.contains(n)) {
            break out.join(new);
        }
        assert!(Instant::now() < deadline, "no new archive was published");
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();

    // Published means whole: it extracts to the source as it was.
    let into = tmp.path().join("extracted");
    extract(&published, &into);
    assert_eq!(diff_trees(&src, &into.join("src")), "");
    assert!(
        !archives(&out).is_empty(),
        "the plan keeps at least one archive"
    );

    // The next run completes and leaves the plan's newest; the first run's archive, a
    // completed run's beyond keep 1, is gone by then.
    ok(&db, &["plan", "run", "Keep1"]);
    let newest = PathBuf::from(
        history(&db, "Keep1")[0]["resultUrl"]
            .as_str()
            .expect("newest archive"),
    );
    assert!(newest.exists());
    assert!(!first.exists(), "{} is beyond keep 1", first.display());
}
