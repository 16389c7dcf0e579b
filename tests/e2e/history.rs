//! The history as the CLI shows it, and a database that is not what it should be.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use tidemark_core::JobState;

use crate::util::*;

fn with_db(db: &Path) -> Command {
    let mut c = tidemark();
    c.env("TIDEMARK_DB", db);
    c
}

fn sqlite(db: &Path, sql: &str) {
    let status = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()"])
        .arg(db)
        .arg(sql)
        .status()
        .expect("python3");
    assert!(status.success());
}

#[test]
fn every_run_is_listed_shown_and_replayable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    let src = tmp.path().join("src");
    generate_tree(&src, 1 << 20);
    let out = tmp.path().join("out");
    fs::create_dir(&out).expect("out");
    let ok = run_json(
        with_db(&db),
        &[
            "snapshot",
            src.to_str().expect("utf8"),
            "--to",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(ok.code, 0);
    let failed = run_json(
        with_db(&db),
        &[
            "sync",
            "/no/such/source",
            "--to",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(failed.code, 1);

    let list = with_db(&db)
        .args(["history", "--json"])
        .output()
        .expect("history");
    let jobs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    let jobs = jobs.as_array().expect("array");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["id"], failed.last().job_id.as_str(), "newest first");
    assert_eq!(jobs[0]["error"]["code"], "source_missing");
    assert_eq!(jobs[1]["state"], "completed");
    assert_eq!(
        jobs[1]["resultUrl"].as_str(),
        ok.last().result_url.as_deref()
    );
    // The counters stay flat keys of the job, as they always were.
    assert_eq!(
        (jobs[1]["processed"].as_u64(), jobs[1]["bytesDone"].as_u64()),
        (
            Some(ok.last().counters.processed),
            Some(ok.last().counters.bytes_done)
        )
    );
    assert!(jobs[1].get("counters").is_none(), "{}", jobs[1]);

    let only_failed = with_db(&db)
        .args(["history", "--json", "--state", "failed"])
        .output()
        .expect("history");
    let v: serde_json::Value = serde_json::from_slice(&only_failed.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(1));

    // Every event the run printed was stored, the same, in order.
    let id = &ok.last().job_id;
    let stored = with_db(&db).args(["events", id]).output().expect("events");
    let stored: Vec<tidemark_core::ProgressEvent> = String::from_utf8_lossy(&stored.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event"))
        .collect();
    assert_eq!(stored, ok.events);
    let since = with_db(&db)
        .args(["events", id, "--since", "5"])
        .output()
        .expect("events");
    assert_eq!(
        String::from_utf8_lossy(&since.stdout).lines().count(),
        ok.events.len() - 5
    );

    assert_eq!(
        shown_steps(with_db(&db), id),
        [
            "waiting",
            "browsing",
            "manifest",
            "compressing",
            "uploading"
        ]
    );
    let human = with_db(&db).args(["show", id]).output().expect("show");
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("Compressing") && text.contains("result:"),
        "{text}"
    );

    let missing = with_db(&db).args(["show", "nope"]).output().expect("show");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("error[job_not_found]"));

    // Retention: events go, summaries stay.
    let prune = with_db(&db)
        .args(["history", "--prune", "--keep", "1"])
        .output()
        .expect("prune");
    assert!(prune.status.success());
    let stored = with_db(&db).args(["events", id]).output().expect("events");
    assert!(
        stored.stdout.is_empty(),
        "the older run's events were pruned"
    );
    let list = with_db(&db)
        .args(["history", "--json"])
        .output()
        .expect("history");
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("JSON");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "both summaries kept");
}

/// Runs a job against `db` and checks it refuses with `code`, leaving the file as it was.
fn refused(db: &Path, cmd: Command, code: &str) {
    let before = fs::read(db).ok();
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    write(src.join("a"), b"a");
    let mut cmd = cmd;
    cmd.env("TIDEMARK_DB", db)
        .args(["sync", src.to_str().expect("utf8"), "--to"])
        .arg(tmp.path().join("m"));
    let out = cmd.output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("error[{code}]")),
        "expected {code}: {stderr}"
    );
    assert!(!tmp.path().join("m").exists(), "no job ran");
    assert_eq!(
        fs::read(db).ok(),
        before,
        "the database file was not touched"
    );
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("notes.txt");
    fs::write(&db, "my precious notes, not a database\n").expect("write");
    refused(&db, tidemark(), "db_not_a_database");
    let corrupt = tmp.path().join("corrupt.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(pseudo_random(8192, 4));
    fs::write(&corrupt, &bytes).expect("write");
    refused(&corrupt, tidemark(), "db_not_a_database");
}

#[test]
fn a_database_from_a_newer_version_is_refused_untouched() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    sqlite(&db, "CREATE TABLE future(x); PRAGMA user_version = 99;");
    refused(&db, tidemark(), "db_too_new");
}

#[test]
fn a_read_only_database_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    // A real history first, then taken away from writers.
    let src = tmp.path().join("s");
    write(src.join("a"), b"a");
    assert_eq!(
        run_json(
            with_db(&db),
            &[
                "sync",
                src.to_str().expect("utf8"),
                "--to",
                tmp.path().join("m0").to_str().expect("utf8")
            ]
        )
        .code,
        0
    );
    fs::set_permissions(&db, fs::Permissions::from_mode(0o444)).expect("chmod");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o555)).expect("chmod");
    let out = {
        let mut c = tidemark_unprivileged();
        c.env("TIDEMARK_DB", &db).args([
            "sync",
            src.to_str().expect("utf8"),
            "--to",
            "/tmp/never-made",
        ]);
        c.output().expect("run")
    };
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).expect("chmod back");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error[db_read_only]"), "{stderr}");
}

#[test]
fn a_database_locked_by_another_process_is_reported() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    assert_eq!(
        with_db(&db)
            .args(["history"])
            .output()
            .expect("create")
            .status
            .code(),
        Some(0)
    );
    let mut holder = Command::new("python3")
        .args(["-c", "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)"])
        .arg(&db)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "locked");
    refused(&db, tidemark(), "db_locked");
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn two_processes_writing_one_database_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let src = tmp.path().join(format!("src{i}"));
            generate_tree(&src, 4 << 20);
            let mirror = tmp.path().join(format!("m{i}"));
            let db = db.clone();
            std::thread::spawn(move || {
                run_json(
                    with_db(&db),
                    &[
                        "sync",
                        src.to_str().expect("utf8"),
                        "--to",
                        mirror.to_str().expect("utf8"),
                    ],
                )
            })
        })
        .collect();
    for run in runs {
        let run = run.join().expect("run");
        assert_eq!(run.code, 0, "{}", run.stderr);
        let stored = with_db(&db)
            .args(["events", &run.last().job_id])
            .output()
            .expect("events");
        let stored: Vec<tidemark_core::ProgressEvent> = String::from_utf8_lossy(&stored.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("event"))
            .collect();
        assert_eq!(stored, run.events, "every event of each process stored");
        assert_eq!(stored.last().map(|e| e.state), Some(JobState::Completed));
    }
}

/// `tidemark history | head -n 1`: the reader leaves after one line and the command ends
/// quietly, as Unix tools do (status 0, or killed by SIGPIPE; nothing on stderr).
#[test]
fn a_reader_that_leaves_early_ends_the_listing_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    // Its number on Linux and the BSDs (the tests have no libc).
    const SIGPIPE: i32 = 13;

    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");
    let failed = run_json(
        with_db(&db),
        &[
            "sync",
            "/no/such/source",
            "--to",
            tmp.path().to_str().expect("utf8"),
        ],
    );
    assert_eq!(failed.code, 1);
    // Copies of that run, enough that the listing is far larger than a pipe holds: the
    // command is still writing when the reader leaves.
    let status = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys\n\
             c=sqlite3.connect(sys.argv[1])\n\
             cur=c.execute('SELECT * FROM jobs')\n\
             cols=[d[0] for d in cur.description]; row=cur.fetchone(); i=cols.index('id')\n\
             rows=[tuple(f'{row[i]}-{n}' if k==i else v for k,v in enumerate(row)) for n in range(4000)]\n\
             c.executemany('INSERT INTO jobs VALUES (%s)' % ','.join('?'*len(cols)), rows)\n\
             c.commit()",
        ])
        .arg(&db)
        .status()
        .expect("python3");
    assert!(status.success());

    for args in [
        &["history", "--limit", "5000"][..],
        &["history", "--json", "--limit", "5000"],
    ] {
        let mut child = with_db(&db)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("first line");
        assert!(!first.is_empty(), "{args:?}: nothing listed");
        // The reader is dropped here: the pipe is closed with most of the listing unread.
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        let status = child.wait().expect("wait");
        assert!(
            status.code() == Some(0) || status.signal() == Some(SIGPIPE),
            "{args:?}: {status}"
        );
        assert_eq!(stderr, "", "{args:?}: nothing on stderr");
    }
}
