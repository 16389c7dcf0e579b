//! Every bad input ends with a clear error code, a non-zero exit, and nothing half-written.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::util::*;

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Runs the CLI and checks it failed with `code` and left `dest` as it was.
fn fails_with(cmd: Command, args: &[&str], code: &str) -> Run {
    let run = run_json(cmd, args);
    assert_eq!(run.code, 1, "exit code; stderr: {}", run.stderr);
    assert_eq!(
        run.error_code().as_deref(),
        Some(code),
        "stderr: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("error[{code}]")),
        "stderr names the code: {}",
        run.stderr
    );
    run
}

#[test]
fn a_missing_source_is_named() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");
    let missing = tmp.path().join("no such folder");
    let run = fails_with(
        tidemark(),
        &["snapshot", s(&missing), "--to", s(&dest)],
        "source_missing",
    );
    assert!(
        run.last()
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("no such folder"))
    );
    assert!(names(&dest).is_empty());
}

#[test]
fn a_file_is_not_a_source() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("notes.txt");
    write(file.clone(), b"x");
    let dest = tmp.path().join("out");
    fails_with(
        tidemark(),
        &["snapshot", s(&file), "--to", s(&dest)],
        "source_not_directory",
    );
    fails_with(
        tidemark(),
        &["sync", s(&file), "--to", s(&dest)],
        "source_not_directory",
    );
}

#[test]
fn a_destination_inside_the_source_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    generate_tree(&src, 10);
    let inside = src.join("backups");
    fs::create_dir(&inside).expect("inside");
    fails_with(
        tidemark(),
        &["snapshot", s(&src), "--to", s(&inside)],
        "dest_inside_source",
    );
    assert!(names(&inside).is_empty());
    fails_with(
        tidemark(),
        &["sync", s(&src), "--to", s(&src)],
        "dest_inside_source",
    );
}

#[test]
fn an_unwritable_destination_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    generate_tree(&src, 10);
    let dest = tmp.path().join("locked");
    fs::create_dir(&dest).expect("dest");
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o555)).expect("chmod");
    fails_with(
        tidemark_unprivileged(),
        &["snapshot", s(&src), "--to", s(&dest)],
        "dest_unwritable",
    );
    let run = run_json(
        tidemark_unprivileged(),
        &["sync", s(&src), "--to", s(&dest)],
    );
    assert_eq!(
        run.error_code().as_deref(),
        Some("dest_unwritable"),
        "stderr: {}",
        run.stderr
    );
    fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert!(names(&dest).is_empty());
}

#[test]
fn an_unreachable_url_is_a_refused_connection() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    generate_tree(&src, 10);
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/bucket/");
    let mut cmd = tidemark();
    cmd.env("TMPDIR", tmp.path());
    fails_with(
        cmd,
        &["snapshot", s(&src), "--to", &url],
        "connection_refused",
    );
    assert_eq!(
        names(tmp.path()),
        vec!["src"],
        "the spooled archive is removed"
    );
    fails_with(
        tidemark(),
        &["snapshot", s(&src), "--to", "http://"],
        "invalid_url",
    );
}

#[test]
fn a_refusing_server_is_reported_with_its_status() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    generate_tree(&src, 10);
    for (status, reason) in [(403, "Forbidden"), (500, "Internal Server Error")] {
        let server = put_server(status, reason, "<html><body>quota exceeded</body></html>");
        let run = fails_with(
            tidemark(),
            &["snapshot", s(&src), "--to", &server.url],
            "upload_rejected",
        );
        let msg = &run.last().error.as_ref().expect("error").message;
        assert!(
            msg.contains(&status.to_string()) && msg.contains("quota exceeded"),
            "{msg}"
        );
        assert!(server.received.lock().expect("lock").is_empty());
    }
}

/// Runs `tidemark ARGS` with a 2 MiB filesystem mounted at `mnt` (a private mount namespace)
/// and returns the run and what was left in the filesystem afterwards.
fn on_a_tiny_disk(args_before_dest: &[&str], tmp: &std::path::Path) -> (Run, String) {
    let mnt = tempfile::tempdir_in(tmp).expect("mount point").keep();
    let script = r#"mount -t tmpfs -o size=2m tidemark-test "$1" || exit 99
shift; "$@" "$MNT" --json; rc=$?
echo "LEFT:$(find "$MNT" -mindepth 1 | tr '\n' ' ')" >&2
exit $rc"#;
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.arg("-r");
    }
    with_test_db(&mut cmd);
    cmd.args(["-m", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(bin())
        .args(args_before_dest)
        .env("MNT", &mnt);
    let out = cmd.output().expect("unshare");
    assert_ne!(
        out.status.code(),
        Some(99),
        "could not mount a tmpfs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = parse_run(&out);
    check_invariants(&run.events);
    let left = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("LEFT:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    (run, left)
}

#[test]
fn a_full_disk_fails_cleanly_during_compress_and_copy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    write(src.join("big.bin"), &pseudo_random(5 * 1024 * 1024, 3));
    write(src.join("small.txt"), b"small");

    let (run, left) = on_a_tiny_disk(&["snapshot", s(&src), "--to"], tmp.path());
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert_eq!(run.error_code().as_deref(), Some("disk_full"));
    assert_eq!(left, "", "nothing half-written on the full disk");

    let (run, left) = on_a_tiny_disk(&["sync", s(&src), "--to"], tmp.path());
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert_eq!(run.error_code().as_deref(), Some("disk_full"));
    // The source's folder may exist, and finished files are kept; partial ones are not.
    assert!(
        !left.contains("tidemark-partial") && !left.contains("big.bin"),
        "left: {left}"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let out = tidemark().output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let out = tidemark().args(["snapshot", "/tmp"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "--to is required");
    let out = tidemark().args(["--version"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tidemark "));
}
