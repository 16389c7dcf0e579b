//! Files another program holds open with no sharing (a mail client's store, a database):
//! Windows refuses to open them, so each is a warning naming it, and the job completes with
//! the rest.

use std::fs;

use crate::util::{extract, pseudo_random, run_json, write};
use crate::wine::{Wine, completed_warning_about, win};

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
    completed_warning_about(&snap, &["archive.pst".into(), "inbox.db".into()]);
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
    completed_warning_about(&sync, &["mail/archive.pst".into(), "mail/inbox.db".into()]);
    assert_eq!(
        fs::read(mirror.join("mail/notes.txt")).expect("notes"),
        b"free to read\n"
    );
    assert!(!mirror.join("mail/inbox.db").exists());
}
