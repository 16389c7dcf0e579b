//! Restore as a job in the process: a snapshot back whole; a resumed run that finds what its
//! killed run wrote; a file already there kept; paused then cancelled with nothing half-written.

use std::fs;
use std::path::{Path, PathBuf};

use tidemark_core::{
    Delivery, JobHandle, JobOptions, JobSpec, JobState, MemoryResume, RestoreSpec, ResumePoint,
    SnapshotSpec, Step,
};

fn tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).expect("dirs");
    fs::create_dir_all(root.join("empty")).expect("empty");
    for i in 0..12u8 {
        let data: Vec<u8> = (0..(i as usize * 5000)).map(|j| (j as u8) ^ i).collect();
        fs::write(root.join(format!("sub/f{i:02}")), data).expect("file");
    }
    fs::write(root.join("sub/deeper/z"), b"zzz").expect("file");
    #[cfg(unix)]
    std::os::unix::fs::symlink("sub/f01", root.join("link")).expect("link");
}

fn snapshot(tmp: &Path) -> (PathBuf, PathBuf) {
    let src = tmp.join("src");
    tree(&src);
    let out = tmp.join("out");
    fs::create_dir_all(&out).expect("out");
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: src.clone(),
        destination: out.to_string_lossy().into_owned(),
        name: Some("s".into()),
    });
    let end = JobHandle::spawn(spec, JobOptions::default())
        .wait()
        .expect("end");
    assert_eq!(end.state, JobState::Completed, "{:?}", end.error);
    (src, out.join("s.tar.zst"))
}

fn restore_spec(archive: &Path, to: &Path) -> JobSpec {
    JobSpec::Restore(RestoreSpec {
        archive: archive.to_string_lossy().into_owned(),
        to: to.to_owned(),
        only: vec![],
        overwrite: false,
        manifest: None,
    })
}

/// Every file under `root` with the hash of its bytes (a link: of its target), and every
/// folder, by path.
fn contents(root: &Path) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let rel = e.path().strip_prefix(root).expect("under").to_owned();
            let m = fs::symlink_metadata(e.path()).expect("lstat");
            let bytes = if m.is_dir() {
                stack.push(e.path());
                None
            } else if m.is_symlink() {
                Some(
                    fs::read_link(e.path())
                        .expect("link")
                        .to_string_lossy()
                        .as_bytes()
                        .to_vec(),
                )
            } else {
                Some(fs::read(e.path()).expect("read"))
            };
            let hash = bytes.map(|b| blake3::hash(&b).to_hex().to_string());
            out.push((rel.to_string_lossy().into_owned(), hash));
        }
    }
    out.sort();
    out
}

fn partials(root: &Path) -> Vec<String> {
    contents(root)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.contains("tidemark-partial"))
        .collect()
}

#[test]
fn a_resumed_restore_takes_what_its_killed_run_wrote_as_its_own() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, archive) = snapshot(tmp.path());

    let whole = tmp.path().join("whole");
    let end = JobHandle::spawn(restore_spec(&archive, &whole), JobOptions::default())
        .wait()
        .expect("end");
    assert_eq!(end.state, JobState::Completed, "{:?}", end.error);
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    assert_eq!(contents(&src), contents(&whole.join("src")));

    // What a run killed after its fourth entry leaves: those entries and a few more written
    // whole (after its last save), and a file half-written under its temporary name.
    let again = tmp.path().join("again");
    let copy = |rel: &str| {
        let (from, to) = (whole.join(rel), again.join(rel));
        fs::create_dir_all(to.parent().expect("parent")).expect("dirs");
        fs::copy(&from, &to).expect("copy");
        let m = fs::metadata(&from).expect("stat");
        filetime::set_file_mtime(&to, filetime::FileTime::from_last_modification_time(&m))
            .expect("mtime");
    };
    // The first three entries (the top folder, `empty`, `link`) are the saved ones.
    fs::create_dir_all(again.join("src/empty")).expect("empty");
    #[cfg(unix)]
    std::os::unix::fs::symlink("sub/f01", again.join("src/link")).expect("link");
    for rel in ["src/sub/f00", "src/sub/f01", "src/sub/f02", "src/sub/f03"] {
        copy(rel);
    }
    fs::write(again.join("src/sub/.f04.tidemark-partial-4242-0"), b"half").expect("partial");
    let mut saved = MemoryResume::default();
    saved.0.insert(
        "restore.done".into(),
        r#"{"entries":3,"warnings":[]}"#.into(),
    );
    let opts = JobOptions {
        resume_state: Box::new(saved),
        resume_from: Some(ResumePoint {
            last_seq: 10,
            percent: Some(20.0),
        }),
        ..JobOptions::default()
    };
    let end = JobHandle::spawn(restore_spec(&archive, &again), opts)
        .wait()
        .expect("end");
    assert_eq!(end.state, JobState::Completed, "{:?}", end.error);
    assert!(end.warnings.is_empty(), "nothing kept: {:?}", end.warnings);
    assert_eq!(contents(&src), contents(&again.join("src")));
    assert!(partials(&again).is_empty());

    // A fresh run keeps a file that is not its own, and says so.
    let mine = tmp.path().join("mine");
    fs::create_dir_all(mine.join("src/sub")).expect("dirs");
    fs::write(mine.join("src/sub/f05"), b"mine").expect("mine");
    let end = JobHandle::spawn(restore_spec(&archive, &mine), JobOptions::default())
        .wait()
        .expect("end");
    assert_eq!(end.state, JobState::Completed);
    let kept: Vec<&str> = end.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(kept, ["src/sub/f05"]);
    assert_eq!(fs::read(mine.join("src/sub/f05")).expect("kept"), b"mine");
}

#[test]
fn a_paused_restore_can_be_cancelled_and_leaves_nothing_half_written() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).expect("src");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let big: Vec<u8> = (0..(48 << 20))
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(src.join("big.bin"), &big).expect("big");
    let out = tmp.path().join("out");
    fs::create_dir_all(&out).expect("out");
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: src,
        destination: out.to_string_lossy().into_owned(),
        name: Some("s".into()),
    });
    let end = JobHandle::spawn(spec, JobOptions::default()).wait();
    assert_eq!(end.map(|e| e.state), Some(JobState::Completed));

    let to = tmp.path().join("to");
    let job = JobHandle::spawn(
        restore_spec(&out.join("s.tar.zst"), &to),
        JobOptions::default(),
    );
    let mut sub = job.subscribe(0);
    // Paused as soon as it extracts, then cancelled while paused.
    let mut paused_in = None;
    while let Some(delivery) = sub.next_blocking() {
        let ev = match delivery {
            Delivery::Event(ev) => ev,
            Delivery::Resync { latest, .. } => latest,
        };
        if ev.step == Step::Extracting && ev.state == JobState::Running {
            job.control().pause();
        }
        if ev.state == JobState::Paused {
            paused_in = Some(ev.step);
            job.control().cancel();
        }
        if ev.is_terminal() {
            break;
        }
    }
    assert_eq!(paused_in, Some(Step::Extracting));
    let end = job.wait().expect("end");
    assert_eq!(end.state, JobState::Cancelled);
    assert!(partials(&to).is_empty(), "{:?}", partials(&to));
    assert!(!to.join("src/big.bin").exists());
}
