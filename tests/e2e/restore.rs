//! `tidemark restore`, `verify` and `diff` against real archives: the awkward tree back
//! identical, from a file and from an http URL; a damaged archive named; hostile archives
//! refused with nothing written outside the target; `--only`, `--overwrite`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tidemark_core::{JobState, Step};

use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The awkward tree with a sparse file (a hole of 64 MiB around a few bytes), snapshotted
/// into `<tmp>/backups/snap.tar.zst`. Returns the source and the archive.
fn snapshot_of_awkward_tree(tmp: &Path) -> (PathBuf, PathBuf) {
    let src = tmp.join("project");
    generate_tree(&src, 3 * 1024 * 1024);
    let sparse = src.join("disk.img");
    let f = fs::File::create(&sparse).expect("sparse");
    f.set_len(64 << 20).expect("hole");
    drop(f);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .expect("open");
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(32 << 20)).expect("seek");
    std::io::Write::write_all(&mut f, b"data in the middle").expect("write");
    drop(f);
    fs::set_permissions(src.join("many"), fs::Permissions::from_mode(0o750)).expect("chmod");
    fs::set_permissions(src.join("plain.txt"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let dest = tmp.join("backups");
    fs::create_dir_all(&dest).expect("dest");
    let run = run_json(
        tidemark(),
        &["snapshot", s(&src), "--to", s(&dest), "--name", "snap"],
    );
    assert_eq!(run.code, 0, "snapshot: {}", run.stderr);
    (src, dest.join("snap.tar.zst"))
}

/// Mode, link target and modification time of every entry under `root`, by path.
fn metadata_of(root: &Path) -> Vec<(String, u32, Option<PathBuf>, i64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let m = fs::symlink_metadata(e.path()).expect("lstat");
            let rel = e.path().strip_prefix(root).expect("under").to_owned();
            let link = m
                .is_symlink()
                .then(|| fs::read_link(e.path()).expect("link"));
            // A folder's time is set once its contents are written; a link's own time is kept.
            out.push((
                rel.to_string_lossy().into_owned(),
                m.mode() & 0o7777,
                link,
                m.mtime(),
            ));
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_awkward_tree_comes_back_identical_with_links_modes_times_and_holes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, archive) = snapshot_of_awkward_tree(tmp.path());
    let target = tmp.path().join("restored/here");
    let run = run_json(tidemark(), &["restore", s(&archive), "--to", s(&target)]);
    assert_eq!(run.code, 0, "restore: {}", run.stderr);
    assert_eq!(
        steps_of(&run),
        [
            Step::Checking,
            Step::Reading,
            Step::Extracting,
            Step::Verifying,
            Step::Completed
        ]
    );
    assert_eq!(run.last().result_url.as_deref(), target.to_str());
    let extracting: Vec<_> = run
        .events
        .iter()
        .filter(|e| e.step == Step::Extracting)
        .collect();
    let last = extracting.last().expect("extracting events");
    assert_eq!(last.counters.processed, last.counters.total.expect("total"));
    assert_eq!(
        Some(last.counters.bytes_done),
        last.counters.bytes_total,
        "every byte of the archive read"
    );
    let back = target.join("project");
    assert_eq!(diff_trees(&src, &back), "", "restored tree differs");
    assert_eq!(metadata_of(&src), metadata_of(&back));
    let sparse = fs::metadata(back.join("disk.img")).expect("sparse");
    assert_eq!(sparse.len(), 64 << 20);
    assert!(
        sparse.blocks() * 512 <= 1 << 20,
        "the hole is back: {} bytes on disk",
        sparse.blocks() * 512
    );
    assert!(partials(&target).is_empty());
}

/// Serves the files of `dir` over HTTP/1.1 GET (404 for others), streaming each in pieces.
fn file_server(dir: PathBuf) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                match fs::read(dir.join(path.trim_start_matches('/'))) {
                    Ok(data) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            data.len()
                        );
                        for piece in data.chunks(64 * 1024) {
                            if stream.write_all(piece).is_err() {
                                return;
                            }
                        }
                    }
                    Err(_) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
                        );
                    }
                }
            });
        }
    });
    url
}

#[test]
fn a_restore_streams_an_archive_and_its_manifest_from_an_http_url() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, archive) = snapshot_of_awkward_tree(tmp.path());
    let base = file_server(archive.parent().expect("dir").to_owned());
    let target = tmp.path().join("from-http");
    let url = format!("{base}snap.tar.zst");
    let run = run_json(tidemark(), &["restore", &url, "--to", s(&target)]);
    assert_eq!(run.code, 0, "restore: {}", run.stderr);
    assert!(
        run.last().message.contains("Completed"),
        "{}",
        run.last().message
    );
    assert!(
        run.events
            .iter()
            .any(|e| e.message.contains("each checked against the manifest")),
        "the manifest beside the URL was used"
    );
    assert_eq!(diff_trees(&src, &target.join("project")), "");
    let verify = run_json(tidemark(), &["verify", &url]);
    assert_eq!(verify.code, 0, "verify: {}", verify.stderr);
    // Nothing at that URL: the server's answer, not the library's.
    let missing = run_json(
        tidemark(),
        &[
            "restore",
            &format!("{base}nope.tar.zst"),
            "--to",
            s(&target),
        ],
    );
    assert_eq!(missing.error_code().as_deref(), Some("download_rejected"));
    let msg = &missing.last().error.as_ref().expect("error").message;
    assert!(msg.contains("404") && msg.contains("not found"), "{msg}");
}

#[test]
fn a_flipped_byte_fails_verify_and_restore_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("project");
    write(src.join("small.txt"), b"small");
    write(src.join("large.bin"), &pseudo_random(8 << 20, 3));
    let dest = tmp.path().join("backups");
    fs::create_dir_all(&dest).expect("dest");
    let run = run_json(
        tidemark(),
        &["snapshot", s(&src), "--to", s(&dest), "--name", "snap"],
    );
    assert_eq!(run.code, 0, "snapshot: {}", run.stderr);
    let archive = dest.join("snap.tar.zst");
    let mut bytes = fs::read(&archive).expect("archive");
    // The middle of the archive is the middle of large.bin, stored as it is (incompressible).
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&archive, &bytes).expect("flip");

    let verify = run_json(tidemark(), &["verify", s(&archive)]);
    assert_eq!(verify.code, 1);
    let err = verify.last().error.clone().expect("error");
    assert_eq!(err.code.as_str(), "checksum_mismatch", "{}", err.message);
    assert!(err.message.contains("large.bin"), "{}", err.message);
    assert!(
        verify.last().warnings.iter().any(|w| w.path == "large.bin"),
        "the difference listed by name"
    );

    let target = tmp.path().join("restored");
    let restore = run_json(tidemark(), &["restore", s(&archive), "--to", s(&target)]);
    assert_eq!(restore.code, 1);
    let err = restore.last().error.clone().expect("error");
    assert_eq!(err.code.as_str(), "checksum_mismatch", "{}", err.message);
    assert!(err.message.contains("large.bin"), "{}", err.message);
    assert!(
        !target.join("project/large.bin").exists(),
        "a file whose hash differs never takes its name"
    );
    assert!(partials(&target).is_empty(), "{:?}", partials(&target));
}

/// A `.tar.zst` made by Python's tarfile from `script` (which adds to the open tar `t`).
fn hostile_archive(path: &Path, script: &str) {
    let tar = path.with_extension("");
    let program = format!(
        "import tarfile, io, sys\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.GNU_FORMAT)\n\
         def add(name, data=b'pwned', **kw):\n    i = tarfile.TarInfo(name)\n    \
         for k, v in kw.items(): setattr(i, k, v)\n    i.size = len(data) if i.type == tarfile.REGTYPE else 0\n    \
         t.addfile(i, io.BytesIO(data) if i.type == tarfile.REGTYPE else None)\n\
         {script}\nt.close()\n"
    );
    let ok = Command::new("python3")
        .arg("-c")
        .arg(&program)
        .arg(&tar)
        .status()
        .expect("python3")
        .success();
    assert!(ok, "python could not write {}", tar.display());
    let ok = Command::new("zstd")
        .args(["-q", "-f", "--rm", "-o"])
        .arg(path)
        .arg(&tar)
        .stderr(Stdio::null())
        .status()
        .expect("zstd")
        .success();
    assert!(ok, "zstd");
}

#[test]
fn hostile_archives_are_refused_and_nothing_lands_outside_the_target() {
    let tmp = tempfile::tempdir().expect("tmp");
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).expect("outside");
    let abs = outside.join("abs-evil");
    let through = outside.join("through-evil");
    let cases = [
        (
            "dotdot",
            "add('top/ok.txt')\nadd('top/../../evil')".to_string(),
            "../evil",
        ),
        (
            "absolute",
            format!("add('top/ok.txt')\nadd('{}')", abs.display()),
            "abs-evil",
        ),
        (
            "link-then-file",
            format!(
                "add('top/up', type=tarfile.SYMTYPE, linkname='/')\nadd('top/up{}')",
                through.display()
            ),
            "top/up",
        ),
        (
            "device",
            "add('top/ok.txt')\nadd('top/null', type=tarfile.CHRTYPE, devmajor=1, devminor=3)"
                .to_string(),
            "top/null",
        ),
    ];
    for (name, script, named) in cases {
        let archive = tmp.path().join(format!("{name}.tar.zst"));
        hostile_archive(&archive, &script);
        let target = tmp.path().join(format!("target-{name}"));
        // A verify writes nothing, so only what no archive may hold refuses it.
        let verbs: &[&str] = if name == "link-then-file" {
            &["restore"]
        } else {
            &["restore", "verify"]
        };
        for &verb in verbs {
            let mut args = vec![verb, s(&archive)];
            if verb == "restore" {
                args.extend(["--to", s(&target)]);
            } else {
                // A verify needs a manifest; an empty one is enough to reach the entries.
                let m = tmp.path().join(format!("{name}.manifest.json"));
                fs::write(
                    &m,
                    r#"{"version":1,"source":"/top","archive":"x","files":[]}"#,
                )
                .expect("manifest");
            }
            let run = run_json(tidemark(), &args);
            let err = run.last().error.clone().expect("refused");
            assert_eq!(
                err.code.as_str(),
                "unsafe_archive_entry",
                "{name} ({verb}): {}",
                err.message
            );
            assert!(err.message.contains(named), "{name}: {}", err.message);
        }
        assert!(names(&outside).is_empty(), "{name}: {:?}", names(&outside));
        assert!(!tmp.path().join("evil").exists(), "{name}");
        assert!(partials(&target).is_empty(), "{name}");
    }
}

#[test]
fn only_restores_the_paths_asked_for() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, archive) = snapshot_of_awkward_tree(tmp.path());
    let target = tmp.path().join("some");
    let run = run_json(
        tidemark(),
        &[
            "restore",
            s(&archive),
            "--to",
            s(&target),
            "--only",
            "many",
            "--only",
            "plain.txt",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = target.join("project");
    assert_eq!(names(&back), ["many", "plain.txt"]);
    assert_eq!(diff_trees(&src.join("many"), &back.join("many")), "");
    let extracting = run
        .events
        .iter()
        .rfind(|e| e.step == Step::Extracting)
        .expect("extracting");
    assert_eq!(
        (extracting.counters.processed, extracting.counters.total),
        (51, Some(51)),
        "50 in many/, plain.txt"
    );
}

#[test]
fn an_existing_file_is_kept_unless_overwrite_is_given() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, archive) = snapshot_of_awkward_tree(tmp.path());
    let target = tmp.path().join("t");
    write(target.join("project/plain.txt"), b"mine, keep me");
    let run = run_json(tidemark(), &["restore", s(&archive), "--to", s(&target)]);
    assert_eq!(run.code, 23, "done with a warning: {}", run.stderr);
    let end = run.last();
    assert_eq!(end.state, JobState::Completed);
    let kept: Vec<&str> = end.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(kept, ["project/plain.txt"]);
    assert!(end.warnings[0].message.contains("--overwrite"));
    assert_eq!(
        fs::read(target.join("project/plain.txt")).expect("kept"),
        b"mine, keep me"
    );
    let run = run_json(
        tidemark(),
        &["restore", s(&archive), "--to", s(&target), "--overwrite"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(diff_trees(&src, &target.join("project")), "");
}

#[test]
fn a_gnu_tar_archive_restores_with_its_hard_links_and_holes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("gnu");
    write(src.join("a.txt"), b"shared");
    fs::hard_link(src.join("a.txt"), src.join("b.txt")).expect("hard link");
    std::os::unix::fs::symlink("a.txt", src.join("l")).expect("symlink");
    fs::create_dir(src.join("empty")).expect("empty");
    let f = fs::File::create(src.join("hole")).expect("hole");
    f.set_len(16 << 20).expect("len");
    drop(f);
    let archive = tmp.path().join("gnu.tar.zst");
    let ok = Command::new("tar")
        .args(["--zstd", "-cSf"])
        .arg(&archive)
        .arg("-C")
        .arg(tmp.path())
        .arg("gnu")
        .status()
        .expect("tar")
        .success();
    assert!(ok);
    let target = tmp.path().join("out");
    let run = run_json(tidemark(), &["restore", s(&archive), "--to", s(&target)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let back = target.join("gnu");
    assert_eq!(diff_trees(&src, &back), "");
    let (a, b) = (
        fs::metadata(back.join("a.txt")).expect("a"),
        fs::metadata(back.join("b.txt")).expect("b"),
    );
    assert_eq!(a.ino(), b.ino(), "one file, two names");
    let hole = fs::metadata(back.join("hole")).expect("hole");
    assert_eq!((hole.len(), hole.blocks()), (16 << 20, 0));
}

#[test]
fn diff_lists_exactly_the_changes_between_two_snapshots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("site");
    generate_tree(&src, 1024 * 1024);
    let dest = tmp.path().join("backups");
    fs::create_dir_all(&dest).expect("dest");
    let snap = |name: &str| {
        let run = run_json(
            tidemark(),
            &["snapshot", s(&src), "--to", s(&dest), "--name", name],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    snap("one");
    write(src.join("added/new.txt"), b"brand new");
    fs::remove_file(src.join("many/file-007.dat")).expect("rm");
    write(src.join("plain.txt"), b"hello, changed\n");
    // Touched but the same bytes: not a change.
    write(src.join("with space.txt"), b"spaces in names\n");
    snap("two");
    let old = dest.join("one.manifest.json");
    let new = dest.join("two.tar.zst");
    let out = tidemark()
        .args(["diff", s(&old), s(&new), "--json"])
        .output()
        .expect("diff");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let paths = |k: &str| -> Vec<String> {
        v[k].as_array()
            .expect(k)
            .iter()
            .map(|c| c["path"].as_str().expect("path").to_owned())
            .collect()
    };
    assert_eq!(paths("added"), ["added/new.txt"]);
    assert_eq!(paths("removed"), ["many/file-007.dat"]);
    assert_eq!(paths("changed"), ["plain.txt"]);
    assert_eq!(v["changed"][0]["oldSize"], 6);
    assert_eq!(v["changed"][0]["newSize"], 15);
    assert_eq!(v["totals"]["removedBytes"], 7 * 997);
    // The plain form says the same.
    let out = tidemark()
        .args(["diff", s(&old), s(&new)])
        .output()
        .expect("diff");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+ added/new.txt") && text.contains("- many/file-007.dat"));
    assert!(
        text.contains("1 added") && text.contains("1 changed"),
        "{text}"
    );
}
