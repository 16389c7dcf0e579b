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
    // A job that never ends after the interrupt would hang the suite: it is killed after a
    // minute instead, which its exit code then shows (no code: killed by a signal).
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (done, pid) = (done.clone(), child.id().to_string());
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                if std::time::Instant::now() > deadline {
                    let _ = Command::new("kill").args(["-KILL", &pid]).status();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        })
    };
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
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
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

/// A server that takes the whole upload and never answers: Ctrl-C still cancels the job at
/// once (the job does not wait on the request it gave up), and nothing is left behind.
#[test]
fn sigint_while_the_server_never_answers_cancels_at_once() {
    use std::io::Read;
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/bucket/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            let mut reader = conn.try_clone().expect("clone");
            // Read everything the client sends, answer nothing, keep the socket open.
            std::thread::spawn(move || {
                let mut sink = [0u8; 64 << 10];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            });
            held.push(conn);
        }
    });
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    write(src.join("data.bin"), &pseudo_random(256 << 10, 3));

    // If the job waited on the request, the CLI would never exit (`interrupt`'s watchdog
    // kills it after a minute, and the code is then not 130).
    let started = std::time::Instant::now();
    let (code, events) = interrupt(
        &["snapshot", src.to_str().expect("utf8"), "--to", &url],
        |e| {
            e.step == Step::Uploading
                && e.counters
                    .bytes_total
                    .is_some_and(|t| e.counters.bytes_done >= t)
        },
    );
    assert_eq!(code, 130, "after {:?}", started.elapsed());
    assert_eq!(events.last().map(|e| e.state), Some(JobState::Cancelled));
}
