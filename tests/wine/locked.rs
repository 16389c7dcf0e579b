//! Files another program holds open with no sharing (a mail client's store, a database):
//! Windows refuses to open them, so each is a warning naming it, and the job completes with
//! the rest.

use std::fs;

use tidemark_core::JobState;

use crate::util::{extract, pseudo_random, run_json, write};
use crate::wine::{Wine, win};

#[test]
fn files_another_program_holds_locked_are_warnings_and_the_rest_is_archived_and_mirrored() {
    let Some(wine) = Wine::get(
        "files_another_program_holds_locked_are_warnings_and_the_rest_is_archived_and_mirrored",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("mail");
    write(src.join("notes.txt"), b"free to read\n");
    // One small file (read ahead by the snapshot's readers) and one large (read in turn).
    write(src.join("inbox.db"), b"held by another program\n");
    write(src.join("archive.pst"), &pseudo_random(1 << 20, 3));
    let _inbox = wine.lock(&src.join("inbox.db"));
    let _archive = wine.lock(&src.join("archive.pst"));
    let db = tmp.path().join("history.db");

    let out = tmp.path().join("out");
    fs::create_dir(&out).expect("out");
    let snap = run_json(
        wine.tidemark(&db),
        &["snapshot", &win(&src), "--to", &win(&out), "--name", "mail"],
    );
    assert_eq!(snap.last().state, JobState::Completed, "{}", snap.stderr);
    assert_eq!(snap.code, 23, "done with warnings: {}", snap.stderr);
    let mut warned: Vec<&str> = snap
        .last()
        .warnings
        .iter()
        .map(|w| w.path.as_str())
        .collect();
    warned.sort_unstable();
    assert_eq!(
        warned,
        ["archive.pst", "inbox.db"],
        "{:?}",
        snap.last().warnings
    );
    let x = tmp.path().join("x");
    extract(&out.join("mail.tar.zst"), &x);
    assert_eq!(
        fs::read(x.join("mail/notes.txt")).expect("notes"),
        b"free to read\n"
    );
    assert!(!x.join("mail/inbox.db").exists() && !x.join("mail/archive.pst").exists());

    let mirror = tmp.path().join("mirror");
    let sync = run_json(
        wine.tidemark(&db),
        &["sync", &win(&src), "--to", &win(&mirror)],
    );
    assert_eq!(sync.last().state, JobState::Completed, "{}", sync.stderr);
    assert_eq!(sync.code, 23, "done with warnings: {}", sync.stderr);
    let mut warned: Vec<&str> = sync
        .last()
        .warnings
        .iter()
        .map(|w| w.path.as_str())
        .collect();
    warned.sort_unstable();
    assert_eq!(
        warned,
        ["mail/archive.pst", "mail/inbox.db"],
        "{:?}",
        sync.last().warnings
    );
    for path in ["mail/archive.pst", "mail/inbox.db"] {
        assert!(
            sync.stderr.contains(path),
            "{path} not on stderr: {}",
            sync.stderr
        );
    }
    assert_eq!(
        fs::read(mirror.join("mail/notes.txt")).expect("notes"),
        b"free to read\n"
    );
    assert!(!mirror.join("mail/inbox.db").exists());
}
