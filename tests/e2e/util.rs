//! Small helpers: run the CLI, generate trees, compare with system tools.

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use tidemark_core::{JobState, ProgressEvent, Step};
pub use tidemark_tests::{diff_trees, extract, generate_tree, names, pseudo_random, write};

/// The `tidemark` binary cargo built next to this test (`target/<profile>/tidemark`).
pub fn bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("tidemark");
    assert!(
        bin.exists(),
        "{} missing: build it with `cargo build --bin tidemark`",
        bin.display()
    );
    bin
}

pub fn is_root() -> bool {
    // The workspace forbids `unsafe`, so ask `id` rather than call geteuid.
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The CLI as an ordinary user would run it. Root reads and writes through any permission
/// bits, so as root the process gives up that power (DAC override) for its lifetime.
pub fn tidemark_unprivileged() -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search",
        ]);
        c.arg(bin());
        with_test_db(&mut c);
        c
    } else {
        tidemark()
    }
}

pub fn tidemark() -> Command {
    let mut c = Command::new(bin());
    with_test_db(&mut c);
    c
}

/// Every run of this test binary shares one history database of its own (never the user's),
/// which also exercises several processes writing one database at once.
pub fn test_db() -> &'static Path {
    static DB: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_dir, path) = DB.get_or_init(|| {
        let dir = tempfile::tempdir().expect("db dir");
        let path = dir.path().join("history.db");
        (dir, path)
    });
    path
}

pub fn with_test_db(cmd: &mut Command) -> &mut Command {
    cmd.env("TIDEMARK_DB", test_db())
}

pub struct Run {
    pub code: i32,
    pub events: Vec<ProgressEvent>,
    pub stderr: String,
}

impl Run {
    pub fn last(&self) -> &ProgressEvent {
        self.events.last().expect("at least one event")
    }

    pub fn error_code(&self) -> Option<String> {
        self.last()
            .error
            .as_ref()
            .map(|e| e.code.as_str().to_string())
    }
}

/// Runs `cmd --json ARGS`, parses every stdout line as a progress event and checks the
/// invariants every run must keep.
pub fn run_json(mut cmd: Command, args: &[&str]) -> Run {
    cmd.args(args).arg("--json");
    let out: Output = cmd.output().expect("spawn tidemark");
    let run = parse_run(&out);
    check_invariants(&run.events);
    run
}

pub fn parse_run(out: &Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        events,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What every job's event stream must satisfy, whatever happened.
pub fn check_invariants(events: &[ProgressEvent]) {
    assert!(!events.is_empty(), "no events");
    let id = &events[0].job_id;
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(
            ev.seq,
            i as u64 + 1,
            "seq must start at 1 and grow by exactly 1"
        );
        assert_eq!(&ev.job_id, id, "one job per stream");
        assert!(ev.step_number >= 1 && ev.step_number <= ev.total_steps);
    }
    let terminals = events.iter().filter(|e| e.state.is_terminal()).count();
    assert_eq!(terminals, 1, "exactly one terminal event");
    assert!(
        events.last().is_some_and(|e| e.state.is_terminal()),
        "the terminal event is last"
    );
    // The whole job's percent never goes back, and within a step neither do its counters.
    let mut best = None::<f64>;
    for pair in events.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if let Some(p) = b.percent {
            if let Some(q) = best {
                assert!(p >= q, "percent went back from {q} to {p} at seq {}", b.seq);
            }
            best = Some(p);
        }
        if a.step == b.step && a.state != JobState::Queued {
            assert!(
                b.counters.processed >= a.counters.processed,
                "processed went back at seq {}",
                b.seq
            );
            assert!(
                b.counters.bytes_done >= a.counters.bytes_done,
                "bytes went back at seq {}",
                b.seq
            );
        }
        assert!(b.step_number >= a.step_number, "steps only move forward");
    }
    for ev in events {
        if let (JobState::Running, Some(eta), Some(p)) = (ev.state, ev.eta_seconds, ev.percent) {
            assert!(
                eta > 0.0 || p >= 100.0,
                "0 s left while work remains at seq {}",
                ev.seq
            );
        }
    }
}

/// Every path under `dir` whose name marks it as a partial write.
pub fn partials(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name().to_string_lossy().contains("tidemark-partial") {
                found.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    found
}

/// A one-shot-per-request HTTP/1.1 server on loopback that answers every PUT with `status`
/// and keeps the bodies it received completely. Enough to test an upload without mocks in
/// the client.
/// (request path, body) of every complete upload.
pub type Uploads = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct PutServer {
    pub url: String,
    pub received: Uploads,
}

pub fn put_server(status: u16, reason: &'static str, body: &'static str) -> PutServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/bucket/", listener.local_addr().expect("addr"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut data = vec![0u8; len];
            // A body cut short is not stored: that is what "nothing half-written" means here.
            if reader.read_exact(&mut data).is_ok() && status < 300 {
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                store.lock().expect("lock").push((path, data));
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    PutServer { url, received }
}

/// The entries of a snapshot's manifest (`files`: path, size, BLAKE3, …).
pub fn manifest_files(manifest: &Path) -> Vec<serde_json::Value> {
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(manifest).expect("manifest")).expect("manifest JSON");
    m["files"].as_array().expect("files").clone()
}

/// Checks a snapshot's manifest against the tree it was made of: exactly `files` entries,
/// each with the size and BLAKE3 of the file at its path under `root`.
pub fn check_manifest(manifest: &Path, root: &Path, files: usize) {
    let listed = manifest_files(manifest);
    assert_eq!(listed.len(), files, "files in the manifest");
    for f in &listed {
        let path = f["path"].as_str().expect("path");
        let data = fs::read(root.join(path)).expect("listed file");
        assert_eq!(f["size"], data.len() as u64, "{path}: size");
        assert_eq!(
            f["blake3"],
            blake3::hash(&data).to_hex().as_str(),
            "{path}: hash"
        );
    }
}

/// What `rsync -anci` would still do to make `mirror` like `src`, one itemized line per
/// difference: contents (by checksum), sizes, times (links' own included), permissions,
/// links. Empty when the mirror is exact.
pub fn rsync_left_to_do(src: &Path, mirror: &Path) -> String {
    let out = Command::new("rsync")
        .arg("-anci")
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", mirror.display()))
        .output()
        .expect("rsync (installed by .ci/ensure-tools)");
    assert!(
        out.status.success(),
        "rsync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets a link's own modification time (`touch -h`), not its target's.
pub fn set_link_time(link: &Path, unix_seconds: i64) {
    let status = Command::new("touch")
        .arg("-h")
        .arg("-d")
        .arg(format!("@{unix_seconds}"))
        .arg(link)
        .status()
        .expect("touch");
    assert!(status.success());
}

/// A job's stored events (`events ID`), from the CLI `cmd` (with its history set).
pub fn stored_events(mut cmd: Command, id: &str) -> Vec<ProgressEvent> {
    let out = cmd.args(["events", id]).output().expect("events");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

/// The steps `show ID --json` lists, in order, from the CLI `cmd` (with its history set).
pub fn shown_steps(mut cmd: Command, id: &str) -> Vec<String> {
    let show = cmd.args(["show", id, "--json"]).output().expect("show");
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("JSON");
    v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// inode and mtime (to the nanosecond) of every file under `dir`: a file copied again gets
/// a new inode, as it is written under a temporary name and renamed over.
pub fn fingerprints(dir: &Path) -> BTreeMap<String, (u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let m = fs::symlink_metadata(e.path()).expect("stat");
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(
                    e.path().to_string_lossy().into_owned(),
                    (m.ino(), m.mtime(), m.mtime_nsec()),
                );
            }
        }
    }
    out
}

/// A snapshot's six steps, in order, as users know them.
pub const SNAPSHOT_STEPS: [Step; 6] = [
    Step::Waiting,
    Step::Browsing,
    Step::Manifest,
    Step::Compressing,
    Step::Uploading,
    Step::Completed,
];

/// The steps a run went through, each once, in order.
pub fn steps_of(run: &Run) -> Vec<Step> {
    let mut steps: Vec<Step> = run.events.iter().map(|e| e.step).collect();
    steps.dedup();
    steps
}
