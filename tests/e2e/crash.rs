//! kill -9 at chosen moments, then resume: the history survives, the job is interrupted, its
//! stored seq has no gap, and the resumed run finishes with a result equal to the source.
//!
//! The moments come from a seed printed by the test; `TIDEMARK_CRASH_SEED=N` replays them.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tidemark_core::{JobState, ProgressEvent};

use crate::util::*;

const KILLS: usize = 10;

fn seed() -> u64 {
    std::env::var("TIDEMARK_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// `n` kill moments as fractions of the job's duration: one in each of `n` equal slices, at a
/// random place inside it, so every phase of the job gets hit.
fn moments(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (i as f64 + (x % 1000) as f64 / 1000.0) / n as f64
        })
        .collect()
}

/// Starts `args --json`, learns the job id from the first event, kills -9 after `after`.
/// Returns the id and, when the job ended by itself before the kill, how long it took.
fn start_and_kill(args: &[&str], after: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    let mut child = tidemark()
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first: ProgressEvent =
        serde_json::from_str(&lines.next().expect("first event").expect("line")).expect("JSON");
    // Keep the pipe drained so the job never blocks on a full stdout; its end is the
    // process's end.
    let drain = std::thread::spawn(move || {
        lines.count();
        start.elapsed()
    });
    std::thread::sleep(after.saturating_sub(start.elapsed()));
    let ended_first = matches!(child.try_wait(), Ok(Some(_)));
    let pid = child.id().to_string();
    let _ = Command::new("kill")
        .args(["-9", &pid])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    let took = drain.join().ok().filter(|_| ended_first);
    (first.job_id, took)
}

/// Kills `args` at KILLS moments over the job's normal duration; after each, checks the
/// history and resumes, then checks the result with `verify`.
fn kill_and_resume(
    name: &str,
    args: &dyn Fn(&Path) -> Vec<String>,
    setup: &dyn Fn(&Path),
    verify: &dyn Fn(&Path, &ProgressEvent),
) {
    let seed = seed();
    let tmp = tempfile::tempdir().expect("tmp");
    // Undisturbed runs tell how long the job takes here. The first one is slow (a cold
    // database and page cache), so the faster of two sets the span: measured on the first
    // alone, most kills landed after the end of the (warm) runs that follow.
    let mut span = Duration::MAX;
    for probe in ["probe-1", "probe-2"] {
        let probe = tmp.path().join(probe);
        setup(&probe);
        let t0 = Instant::now();
        let args0 = args(&probe);
        let run = run_json(
            tidemark(),
            &args0.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(run.code, 0, "undisturbed run: {}", run.stderr);
        span = span.min(t0.elapsed());
    }
    let points = moments(seed, KILLS);
    eprintln!("{name}: seed {seed}, job takes {span:?}, kills at {points:.3?} of it");

    let mut interrupted = 0;
    for (i, frac) in points.iter().enumerate() {
        let dir = tmp.path().join(format!("run-{i}"));
        setup(&dir);
        let a = args(&dir);
        let at = span.mul_f64(*frac);
        let (id, took) = start_and_kill(&a.iter().map(String::as_str).collect::<Vec<_>>(), at);
        // The job ran faster than the probes did (they can share the cores with other
        // tests): the moments that follow are spread over this shorter run, or most of them
        // would land after the end.
        if let Some(took) = took.filter(|t| *t < span) {
            eprintln!("{name}: kill #{i} came after the end; the job now takes {took:?}");
            span = took;
        }
        let replay = format!("{name} kill #{i} at {at:?} (TIDEMARK_CRASH_SEED={seed})");

        // The database opens and the killed job is found interrupted, its seq gapless.
        let before = stored_events(tidemark(), &id);
        for (k, ev) in before.iter().enumerate() {
            assert_eq!(ev.seq, k as u64 + 1, "{replay}: stored seq has a gap");
        }
        let last = before.last().expect("stored events");
        if last.state == JobState::Completed {
            // The kill landed after the end was stored (the process may still have been
            // exiting): nothing to resume, and the result must be whole.
            verify(&dir, last);
            continue;
        }
        assert_eq!(
            last.state,
            JobState::Interrupted,
            "{replay}: job not marked interrupted"
        );
        interrupted += 1;

        let out = tidemark()
            .args(["resume", &id, "--json"])
            .output()
            .expect("resume");
        let resumed = parse_run(&out);
        assert_eq!(
            resumed.code, 0,
            "{replay}: resume failed: {}",
            resumed.stderr
        );
        assert_eq!(
            resumed.events[0].seq,
            last.seq + 1,
            "{replay}: resumed seq continues"
        );
        let all = stored_events(tidemark(), &id);
        for (k, ev) in all.iter().enumerate() {
            assert_eq!(ev.seq, k as u64 + 1, "{replay}: seq gap after resume");
        }
        let end = all.last().expect("end");
        assert_eq!(end.state, JobState::Completed, "{replay}");
        assert_eq!(
            all.iter().filter(|e| e.state.is_terminal()).count(),
            1,
            "{replay}"
        );
        assert!(
            partials(&dir).is_empty(),
            "{replay}: partial files left: {:?}",
            partials(&dir)
        );
        verify(&dir, end);
    }
    assert!(
        interrupted >= KILLS / 2,
        "{name}: only {interrupted} kills landed mid-job"
    );
}

fn tree(dir: &Path) {
    let src = dir.join("src");
    for i in 0..24u64 {
        write(
            src.join(format!("d{}/part-{i:02}.bin", i % 4)),
            &pseudo_random(3 << 20, i),
        );
    }
    write(src.join("small.txt"), b"small");
    std::os::unix::fs::symlink("small.txt", src.join("link")).expect("symlink");
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn a_snapshot_killed_anywhere_resumes_to_an_identical_archive() {
    kill_and_resume(
        "snapshot",
        &|dir| {
            vec![
                "snapshot".into(),
                s(&dir.join("src")),
                "--to".into(),
                s(&dir.join("out")),
                "--name".into(),
                "snap".into(),
            ]
        },
        &|dir| {
            tree(dir);
            fs::create_dir_all(dir.join("out")).expect("out");
        },
        &|dir, end| {
            let archive = dir.join("out/snap.tar.zst");
            assert_eq!(end.result_url.as_deref(), archive.to_str());
            let x = dir.join("x");
            extract(&archive, &x);
            assert_eq!(diff_trees(&dir.join("src"), &x.join("src")), "");
            assert_eq!(
                names(&dir.join("out")),
                vec!["snap.manifest.json", "snap.tar.zst"]
            );
            // 24 parts and small.txt: the hashes survive the kill with the archive.
            check_manifest(&dir.join("out/snap.manifest.json"), &dir.join("src"), 25);
        },
    );
}

#[test]
fn a_sync_killed_anywhere_resumes_to_an_identical_mirror() {
    kill_and_resume(
        "sync",
        &|dir| {
            vec![
                "sync".into(),
                s(&dir.join("src")),
                "--to".into(),
                s(&dir.join("mirror")),
            ]
        },
        &tree,
        &|dir, _| {
            assert_eq!(diff_trees(&dir.join("src"), &dir.join("mirror/src")), "");
        },
    );
}

#[test]
fn a_restore_killed_anywhere_resumes_to_an_identical_tree() {
    // One archive for every run, made before the first.
    let shared = tempfile::tempdir().expect("shared");
    tree(shared.path());
    let out = shared.path().join("out");
    fs::create_dir_all(&out).expect("out");
    let run = run_json(
        tidemark(),
        &[
            "snapshot",
            &s(&shared.path().join("src")),
            "--to",
            &s(&out),
            "--name",
            "snap",
        ],
    );
    assert_eq!(run.code, 0, "snapshot: {}", run.stderr);
    let archive = out.join("snap.tar.zst");
    let src = shared.path().join("src");
    kill_and_resume(
        "restore",
        &|dir| {
            vec![
                "restore".into(),
                s(&archive),
                "--to".into(),
                s(&dir.join("restored")),
            ]
        },
        &|dir| fs::create_dir_all(dir).expect("dir"),
        &|dir, end| {
            let restored = dir.join("restored");
            assert_eq!(end.result_url.as_deref(), restored.to_str());
            // Every file written once, checked against the manifest, none kept as "already
            // there": what the killed run wrote is this job's own.
            assert!(end.warnings.is_empty(), "{:?}", end.warnings);
            assert_eq!(diff_trees(&src, &restored.join("src")), "");
        },
    );
}
