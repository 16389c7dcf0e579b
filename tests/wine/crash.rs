//! The Windows build killed mid-upload, then resumed: the history says interrupted, and the
//! resumed run uploads the whole archive.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tidemark_core::{JobState, Step};

use crate::util::{diff_trees, extract, parse_run, pseudo_random, stored_events, write};
use crate::wine::{Live, Wine, win};
use tidemark_tests::slow_put::SlowPut;

#[test]
fn a_snapshot_killed_mid_upload_on_windows_resumes_to_a_whole_upload() {
    let Some(wine) = Wine::get("a_snapshot_killed_mid_upload_on_windows_resumes_to_a_whole_upload")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    // About 2.5 MB that zstd cannot shrink: some 2.5 s of upload to the slow target.
    let src = tmp.path().join("vault");
    for i in 0..5u64 {
        write(
            src.join(format!("part-{i}.bin")),
            &pseudo_random(500_000, i),
        );
    }
    write(src.join("notes/readme.txt"), b"kept\n");
    let server = SlowPut::start();

    // A folder-like URL: the archive goes to URL/vault.tar.zst.
    let base = format!("{}/", server.url);
    let mut cmd = wine.tidemark(&db);
    cmd.args(["snapshot", &win(&src), "--to", &base, "--name", "vault"]);
    let mut live = Live::spawn(cmd);
    live.until(Duration::from_secs(60), |e| {
        e.step == Step::Uploading && e.counters.bytes_done > 0
    });
    // SIGKILL of the Linux process that runs the .exe: the Windows process ends as it would
    // by TerminateProcess, with no chance to tidy up.
    let status = Command::new("kill")
        .args(["-9", &live.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = live.child.wait().expect("wait");
    assert_eq!(status.signal(), Some(9), "killed, not ended: {status:?}");
    let id = live.seen[0].job_id.clone();
    assert!(
        server.whole().is_empty(),
        "no upload finished before the kill"
    );

    // The next process to open the history finds the job's lock free: interrupted.
    let before = stored_events(wine.tidemark(&db), &id);
    for (k, ev) in before.iter().enumerate() {
        assert_eq!(ev.seq, k as u64 + 1, "stored seq has a gap");
    }
    let last = before.last().expect("stored events");
    assert_eq!(last.state, JobState::Interrupted, "{last:?}");

    let out = wine
        .tidemark(&db)
        .args(["resume", &id, "--json"])
        .output()
        .expect("resume");
    let resumed = parse_run(&out);
    assert_eq!(resumed.code, 0, "resume failed: {}", resumed.stderr);
    assert_eq!(resumed.events[0].seq, last.seq + 1, "resumed seq continues");
    let end = resumed.last();
    assert_eq!(end.state, JobState::Completed);
    let want_url = format!("{base}vault.tar.zst");
    assert_eq!(end.result_url.as_deref(), Some(want_url.as_str()));

    let all = stored_events(wine.tidemark(&db), &id);
    for (k, ev) in all.iter().enumerate() {
        assert_eq!(ev.seq, k as u64 + 1, "seq gap after resume");
    }
    assert_eq!(all.iter().filter(|e| e.state.is_terminal()).count(), 1);

    // The killed run's request never had its answer. A loopback socket buffers megabytes,
    // so its bytes may all have been sent before the kill and reach the server whole; either
    // way the resumed run uploads the archive again, whole.
    let whole = server.whole();
    let broken = server.broken.load(Ordering::SeqCst);
    assert!(
        matches!((whole.len(), broken), (1, 1) | (2, 0)),
        "the killed upload and the resumed one: {} whole, {broken} cut short",
        whole.len()
    );
    let archive = tmp.path().join("got.tar.zst");
    std::fs::write(&archive, whole.last().expect("whole")).expect("write");
    let x = tmp.path().join("x");
    extract(&archive, &x);
    assert_eq!(diff_trees(&src, &x.join("vault")), "");
    // The archive waited in %TEMP% for its upload; once uploaded it is gone.
    let temps = wine.temp_dirs();
    assert!(!temps.is_empty(), "no %TEMP% found in the prefix");
    for temp in temps {
        let left: Vec<_> = std::fs::read_dir(&temp)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("vault"))
            .collect();
        assert!(left.is_empty(), "left in {}: {left:?}", temp.display());
    }
}
