//! What the CLI writes where: results on stdout, messages for the user on stderr, logs on
//! stderr only when asked for.

use std::process::Output;

use crate::util::*;

fn history(db: &std::path::Path, extra: &[&str]) -> Output {
    let mut c = tidemark();
    c.env("TIDEMARK_DB", db).env_remove("RUST_LOG");
    c.arg("history")
        .args(extra)
        .output()
        .expect("tidemark history")
}

#[test]
fn logs_reach_stderr_only_with_verbose() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");

    let quiet = history(&db, &[]);
    assert!(quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert_eq!(stderr.trim(), "no jobs yet", "only the user's message");

    let verbose = history(&db, &["-v"]);
    assert!(verbose.status.success());
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    let log = stderr
        .lines()
        .find(|l| l.contains(" INFO tidemark"))
        .unwrap_or_else(|| panic!("no log line with -v:\n{stderr}"));
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert!(stderr.contains("no jobs yet"), "{stderr}");
    assert!(
        !stderr.contains("DEBUG"),
        "-v is info, not debug:\n{stderr}"
    );
}
