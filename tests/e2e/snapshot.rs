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
    assert_eq!(run.code, 23, "done with warnings; stderr: {}", run.stderr);
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
    assert_eq!(steps_of(&run), SNAPSHOT_STEPS);
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
        compressing.last().map(|e| e.counters.bytes_done),
        compressing.last().and_then(|e| e.counters.bytes_total)
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

    let files = manifest_files(&dest.join("snap.manifest.json"));
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
        uploading.counters.bytes_done,
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
fn a_file_growing_while_read_is_archived_as_listed_with_a_warning() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("logs");
    let growing = src.join("app.log");
    write(growing.clone(), &pseudo_random(8 * 1024 * 1024, 1));
    write(src.join("other.txt"), b"steady\n");
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");

    let mut child = tidemark()
        .args([
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
            "--name",
            "logs",
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
    assert_eq!(run.code, 23, "done with warnings; stderr: {}", run.stderr);
    let end = run.last();
    assert_eq!(end.state, JobState::Completed);
    let warned: Vec<(&str, &str)> = end
        .warnings
        .iter()
        .map(|w| (w.path.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].0, "app.log");
    assert!(warned[0].1.contains("grew"), "{warned:?}");
    assert!(run.stderr.contains("app.log"), "{}", run.stderr);

    // The archive holds the bytes the manifest lists, and the manifest's hash is theirs.
    let extracted = tmp.path().join("extracted");
    extract(&dest.join("logs.tar.zst"), &extracted);
    let archived = fs::read(extracted.join("logs/app.log")).expect("archived");
    let files = manifest_files(&dest.join("logs.manifest.json"));
    let listed = files
        .iter()
        .find(|f| f["path"] == "app.log")
        .expect("app.log listed");
    assert_eq!(listed["size"], archived.len() as u64);
    assert_eq!(listed["blake3"], blake3::hash(&archived).to_hex().as_str());
    assert!(archived.len() >= 8 * 1024 * 1024);
    let now = fs::read(&growing).expect("log");
    assert!(
        now.len() > archived.len(),
        "the file did grow past what was listed"
    );
    assert_eq!(
        &now[..archived.len()],
        archived.as_slice(),
        "its first bytes"
    );
    assert_eq!(files.len(), 2);
    assert!(partials(&dest).is_empty());
}

#[test]
fn snapshots_of_one_folder_in_the_same_second_get_distinct_names() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("site");
    generate_tree(&src, 1024);
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");
    // An archive of this folder for every second the run may start in: whenever it
    // starts, an earlier snapshot of that same second is there already.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let stamps = utc_stamps(start - 1..start + 600);
    for stamp in &stamps {
        write(dest.join(format!("site-{stamp}.tar.zst")), b"earlier");
    }

    let run = run_json(
        tidemark(),
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let made = run.last().result_url.clone().expect("result");
    let made = std::path::Path::new(&made);
    let name = made
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let stem = name.strip_suffix("-2.tar.zst").expect("a -2 name");
    assert!(stamps.iter().any(|s| stem == format!("site-{s}")), "{name}");
    assert!(dest.join(format!("{stem}-2.manifest.json")).is_file());
    assert_eq!(
        fs::read(dest.join(format!("{stem}.tar.zst"))).expect("earlier"),
        b"earlier",
        "the earlier archive is left alone"
    );
    let out = tmp.path().join("extracted");
    extract(made, &out);
    assert_eq!(diff_trees(&src, &out.join("site")), "");

    // A name given with --name that is taken is refused, not moved aside.
    let taken = run_json(
        tidemark(),
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
            "--name",
            stem,
        ],
    );
    assert_eq!(taken.code, 1, "stderr: {}", taken.stderr);
    assert_eq!(taken.error_code().as_deref(), Some("dest_exists"));
}

#[test]
fn an_archive_name_of_the_longest_length_is_written_through_a_temporary_name_that_fits() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    generate_tree(&src, 1024);
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");
    // With ".manifest.json", the manifest's name has the 255 bytes a name may have.
    let name = "n".repeat(255 - ".manifest.json".len());
    let run = run_json(
        tidemark(),
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            dest.to_str().expect("utf8"),
            "--name",
            &name,
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(
        names(&dest),
        [format!("{name}.manifest.json"), format!("{name}.tar.zst")]
    );
}

/// `YYYYmmdd-HHMMSS` in UTC of each of these Unix times, as the default archive name has.
fn utc_stamps(times: std::ops::Range<u64>) -> Vec<String> {
    let input: String = times.map(|t| format!("@{t}\n")).collect();
    let mut child = Command::new("date")
        .args(["-u", "-f", "-", "+%Y%m%d-%H%M%S"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("date");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("date");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
