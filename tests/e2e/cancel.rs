//! Ctrl-C (SIGINT) in the middle of a job cancels it cleanly.

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use tidemark_core::{JobState, ProgressEvent, Step};

use crate::util::*;

/// Starts `tidemark ARGS --json`, sends SIGINT at the first event `when` accepts, and returns
/// every event and the exit code.
fn interrupt(args: &[&str], when: impl Fn(&ProgressEvent) -> bool) -> (i32, Vec<ProgressEvent>) {
    let mut child = tidemark()
        .args(args)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut events = Vec::new();
    let mut sent = false;
    for line in BufReader::new(stdout).lines() {
        let ev: ProgressEvent = serde_json::from_str(&line.expect("line")).expect("event");
        if !sent && when(&ev) {
            let pid = child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .expect("kill")
                    .success()
            );
            sent = true;
        }
        events.push(ev);
    }
    let status = child.wait().expect("wait");
    assert!(sent, "the job ended before the moment to interrupt it came");
    check_invariants(&events);
    (status.code().unwrap_or(-1), events)
}

#[test]
fn sigint_during_compression_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    write(src.join("big.bin"), &pseudo_random(160 * 1024 * 1024, 5));
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");
    let (code, events) = interrupt(
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
        ],
        |e| e.step == Step::Compressing && e.counters.bytes_done > 0,
    );
    assert_eq!(code, 130);
    assert_eq!(events.last().map(|e| e.state), Some(JobState::Cancelled));
    assert!(
        names(&dest).is_empty(),
        "left at the destination: {:?}",
        names(&dest)
    );
}

#[test]
fn sigint_during_a_sync_keeps_finished_files_and_no_partial_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    for i in 0..16 {
        write(
            src.join(format!("part-{i:02}.bin")),
            &pseudo_random(16 * 1024 * 1024, i),
        );
    }
    let mirror = tmp.path().join("mirror");
    // At the step's first event, which goes out at once: on a fast disk the whole copy can
    // end before the first counter update 100 ms in.
    let (code, events) = interrupt(
        &[
            "sync",
            src.to_str().expect("utf8"),
            "--to",
            mirror.to_str().expect("utf8"),
        ],
        |e| e.step == Step::Copying,
    );
    assert_eq!(code, 130);
    assert_eq!(events.last().map(|e| e.state), Some(JobState::Cancelled));
    assert!(
        partials(&mirror).is_empty(),
        "partial files left: {:?}",
        partials(&mirror)
    );
    let copied = names(&mirror.join("src"));
    assert!(copied.len() < 16, "cancelled before the end");
    for name in copied {
        let a = fs::read(src.join(&name)).expect("src");
        let b = fs::read(mirror.join("src").join(&name)).expect("mirror");
        assert!(a == b, "{name} in the mirror is not a complete copy");
    }
}
