use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use tidemark_core::{JobState, Step};

use crate::util::*;

#[test]
fn snapshot_extracts_with_system_tar_to_an_identical_tree() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("project");
    generate_tree(&src, 50 * 1024 * 1024);
    // Left out with a warning, not an abort: a file we may not read, and a FIFO we must not
    // read (it would block forever).
    let secret = src.join("secret.key");
    write(secret.clone(), b"top secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod");
    // Large files are read by the job itself, small ones ahead on reader threads: one of each.
    let vault = src.join("secret-vault.bin");
    write(vault.clone(), &pseudo_random(1 << 20, 7));
    fs::set_permissions(&vault, fs::Permissions::from_mode(0o000)).expect("chmod");
    let fifo = src.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let dest = tmp.path().join("backups");
    fs::create_dir(&dest).expect("dest");

    let run = run_json(
        tidemark_unprivileged(),
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
            "--name",
            "snap",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let end = run.last();
    assert_eq!(end.state, JobState::Completed);
    let archive = dest.join("snap.tar.zst");
    assert_eq!(end.result_url.as_deref(), archive.to_str());
    let warned: Vec<&str> = end.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        warned,
        vec!["pipe", "secret-vault.bin", "secret.key"],
        "warnings: {:?}",
        end.warnings
    );

    // The six steps, in order, as users know them.
    let mut steps: Vec<Step> = run.events.iter().map(|e| e.step).collect();
    steps.dedup();
    assert_eq!(
        steps,
        [
            Step::Waiting,
            Step::Browsing,
            Step::Manifest,
            Step::Compressing,
            Step::Uploading,
            Step::Completed
        ]
    );
    assert!(
        run.events
            .iter()
            .filter(|e| e.step == Step::Browsing)
            .all(|e| e.percent.is_none()),
        "the walk's total is unknown, so its percent must be too"
    );
    let compressing: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.step == Step::Compressing)
        .collect();
    assert_eq!(
        compressing.last().map(|e| e.bytes_done),
        compressing.last().and_then(|e| e.bytes_total)
    );

    fs::remove_file(&secret).expect("rm secret");
    fs::remove_file(&vault).expect("rm vault");
    fs::remove_file(&fifo).expect("rm fifo");
    let out = tmp.path().join("extracted");
    extract(&archive, &out);
    assert_eq!(
        diff_trees(&src, &out.join("project")),
        "",
        "extracted tree differs"
    );
    assert_eq!(
        names(&dest),
        vec!["snap.manifest.json", "snap.tar.zst"],
        "only the results"
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dest.join("snap.manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let files = manifest["files"].as_array().expect("files");
    let plain = files
        .iter()
        .find(|f| f["path"] == "plain.txt")
        .expect("plain.txt listed");
    assert_eq!(plain["blake3"], blake3::hash(b"hello\n").to_hex().as_str());
    assert!(
        files
            .iter()
            .all(|f| f["path"] != "secret.key" && f["path"] != "secret-vault.bin"),
        "left-out files not in manifest"
    );
    let find = Command::new("find")
        .args([src.as_os_str(), "-type".as_ref(), "f".as_ref()])
        .output()
        .expect("find");
    let regular = String::from_utf8_lossy(&find.stdout).lines().count();
    check_manifest(&dest.join("snap.manifest.json"), &src, regular);
}

#[test]
fn snapshot_uploads_by_streaming_put() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("site");
    generate_tree(&src, 3 * 1024 * 1024);
    let server = put_server(201, "Created", "");
    let spool = tmp.path().join("spool");
    fs::create_dir(&spool).expect("spool");

    let mut cmd = tidemark();
    cmd.env("TMPDIR", &spool);
    let run = run_json(
        cmd,
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            &server.url,
            "--name",
            "site-v2",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let want_url = format!("{}site-v2.tar.zst", server.url);
    assert_eq!(run.last().result_url.as_deref(), Some(want_url.as_str()));

    let received = server.received.lock().expect("lock").clone();
    assert_eq!(received.len(), 1, "one upload");
    assert_eq!(received[0].0, "/bucket/site-v2.tar.zst");
    let uploading = run
        .events
        .iter()
        .rfind(|e| e.step == Step::Uploading)
        .expect("upload step");
    assert_eq!(
        uploading.bytes_done,
        received[0].1.len() as u64,
        "every byte counted"
    );
    let archive = tmp.path().join("got.tar.zst");
    fs::write(&archive, &received[0].1).expect("write");
    let out = tmp.path().join("extracted");
    extract(&archive, &out);
    assert_eq!(diff_trees(&src, &out.join("site")), "");
    assert!(
        names(&spool).is_empty(),
        "the local copy of the archive is removed: {:?}",
        names(&spool)
    );
}

#[test]
fn a_file_growing_while_read_fails_the_snapshot_clearly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("logs");
    let growing = src.join("app.log");
    write(growing.clone(), &pseudo_random(8 * 1024 * 1024, 1));
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");

    let mut child = tidemark()
        .args([
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Keep appending until the job has ended: whenever it reads, the file has moved on.
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .expect("open");
    while child.try_wait().expect("wait").is_none() {
        std::io::Write::write_all(&mut log, b"another line\n").expect("append");
    }
    let out = child.wait_with_output().expect("output");
    let run = parse_run(&out);
    check_invariants(&run.events);
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert_eq!(run.error_code().as_deref(), Some("source_changed"));
    assert!(
        run.last()
            .error
            .as_ref()
            .is_some_and(|e| e.message.contains("app.log"))
    );
    assert!(
        names(&dest).is_empty(),
        "nothing left at the destination: {:?}",
        names(&dest)
    );
}
