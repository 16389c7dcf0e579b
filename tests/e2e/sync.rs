use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use tidemark_core::{ItemState, JobState};

use crate::util::*;

#[test]
fn sync_mirrors_every_source_and_a_second_run_copies_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let photos = tmp.path().join("photos");
    let docs = tmp.path().join("Mes documents");
    generate_tree(&photos, 2 * 1024 * 1024);
    generate_tree(&docs, 100 * 1024);
    let mirror = tmp.path().join("mirror");
    let args = [
        "sync",
        photos.to_str().expect("utf8"),
        docs.to_str().expect("utf8"),
        "--to",
        mirror.to_str().expect("utf8"),
    ];

    // Links whose own time differs from when the sync makes them: it must keep theirs.
    set_link_time(&photos.join("link-to-plain"), 1_000_000_000);
    set_link_time(&docs.join("dangling-link"), 1_000_000_000);

    let first = run_json(tidemark(), &args);
    assert_eq!(first.code, 0, "stderr: {}", first.stderr);
    assert_eq!(diff_trees(&photos, &mirror.join("photos")), "");
    assert_eq!(diff_trees(&docs, &mirror.join("Mes documents")), "");
    assert_eq!(rsync_left_to_do(&photos, &mirror.join("photos")), "");
    assert_eq!(rsync_left_to_do(&docs, &mirror.join("Mes documents")), "");
    let end = first.last();
    assert_eq!(
        end.items.iter().map(|i| i.state).collect::<Vec<_>>(),
        vec![ItemState::Done; 2]
    );
    assert!(end.counters.bytes_done > 2 * 1024 * 1024);
    assert!(partials(&mirror).is_empty());

    let before = fingerprints(&mirror);
    let second = run_json(tidemark(), &args);
    assert_eq!(second.code, 0, "stderr: {}", second.stderr);
    let end = second.last();
    assert_eq!(
        (end.counters.processed, end.counters.bytes_done),
        (0, 0),
        "nothing changed, nothing copied"
    );
    assert_eq!(
        end.items
            .iter()
            .map(|i| i.counters.total)
            .collect::<Vec<_>>(),
        vec![Some(0), Some(0)]
    );
    assert_eq!(fingerprints(&mirror), before, "no file was rewritten");

    // One changed file (same size, new content and time) is found and copied alone.
    let changed = photos.join("many/file-003.dat");
    let len = fs::metadata(&changed).expect("meta").len() as usize;
    write(changed.clone(), &pseudo_random(len, 999));
    let t = filetime_plus(&changed, 10);
    let third = run_json(tidemark(), &args);
    assert_eq!(third.code, 0);
    assert_eq!(third.last().counters.processed, 1);
    assert_eq!(diff_trees(&photos, &mirror.join("photos")), "");
    assert_eq!(
        fs::metadata(mirror.join("photos/many/file-003.dat"))
            .expect("meta")
            .mtime(),
        t
    );
}

/// Moves `path`'s mtime `secs` into the future (so size+mtime comparison must notice it).
fn filetime_plus(path: &Path, secs: i64) -> i64 {
    let m = fs::metadata(path).expect("meta");
    let t = m.mtime() + secs;
    let status = std::process::Command::new("touch")
        .arg("-d")
        .arg(format!("@{t}"))
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
    t
}

#[test]
fn a_failing_source_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("alpha");
    let b = tmp.path().join("beta");
    generate_tree(&a, 1024);
    generate_tree(&b, 1024);
    let missing = tmp.path().join("gone");
    let mirror = tmp.path().join("mirror");
    let run = run_json(
        tidemark(),
        &[
            "sync",
            a.to_str().expect("utf8"),
            missing.to_str().expect("utf8"),
            b.to_str().expect("utf8"),
            "--to",
            mirror.to_str().expect("utf8"),
        ],
    );
    assert_eq!(run.code, 1, "a failed source fails the job");
    let end = run.last();
    assert_eq!(end.state, JobState::Failed);
    assert_eq!(run.error_code().as_deref(), Some("source_missing"));
    let states: Vec<_> = end
        .items
        .iter()
        .map(|i| (i.name.as_str(), i.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("alpha", ItemState::Done),
            ("gone", ItemState::Failed),
            ("beta", ItemState::Done)
        ]
    );
    let gone = &end.items[1];
    assert!(
        gone.error
            .as_ref()
            .is_some_and(|e| e.message.contains("does not exist"))
    );
    assert_eq!(diff_trees(&a, &mirror.join("alpha")), "");
    assert_eq!(diff_trees(&b, &mirror.join("beta")), "");
}

#[test]
fn deletions_are_mirrored_only_with_delete() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("notes");
    generate_tree(&src, 1024);
    let mirror = tmp.path().join("mirror");
    let args = [
        "sync",
        src.to_str().expect("utf8"),
        "--to",
        mirror.to_str().expect("utf8"),
    ];
    assert_eq!(run_json(tidemark(), &args).code, 0);
    fs::remove_file(src.join("plain.txt")).expect("rm");
    fs::remove_dir_all(src.join("many")).expect("rm");

    assert_eq!(run_json(tidemark(), &args).code, 0);
    assert!(
        mirror.join("notes/plain.txt").exists(),
        "kept without --delete"
    );
    assert!(mirror.join("notes/many").exists());

    let mut with_delete = args.to_vec();
    with_delete.push("--delete");
    assert_eq!(run_json(tidemark(), &with_delete).code, 0);
    assert_eq!(diff_trees(&src, &mirror.join("notes")), "");
}

#[test]
fn a_link_in_the_mirror_where_the_source_has_a_folder_becomes_that_folder_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let deep = src.join("in/deeper");
    fs::create_dir_all(&deep).expect("dirs");
    write(deep.join("f.txt"), b"hello");
    // Outside the mirror, the same file with the same time: reached through the link, it
    // would pass for already mirrored.
    let outside = tmp.path().join("outside");
    fs::create_dir_all(outside.join("in/deeper")).expect("dirs");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(deep.join("f.txt"))
        .arg(outside.join("in/deeper/f.txt"))
        .status()
        .expect("cp");
    assert!(status.success());
    let mirror = tmp.path().join("mirror");
    fs::create_dir_all(mirror.join("src")).expect("dirs");
    std::os::unix::fs::symlink(outside.join("in"), mirror.join("src/in")).expect("link");

    let run = run_json(
        tidemark(),
        &[
            "sync",
            src.to_str().expect("utf8"),
            "--to",
            mirror.to_str().expect("utf8"),
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(
        !fs::symlink_metadata(mirror.join("src/in"))
            .expect("in")
            .is_symlink()
    );
    assert_eq!(diff_trees(&src, &mirror.join("src")), "");
    assert_eq!(run.last().counters.processed, 1, "the file was copied");
    assert_eq!(
        fs::read(outside.join("in/deeper/f.txt")).expect("outside"),
        b"hello",
        "what the link pointed to is left alone"
    );
}

#[test]
fn the_longest_names_are_mirrored_and_a_file_that_cannot_be_read_is_a_warning() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("docs");
    generate_tree(&src, 64 * 1024);
    // File names of 244 and 255 bytes (the most a name may have), one of two-byte letters.
    let long_names = ["a".repeat(244), "b".repeat(255), "é".repeat(127)];
    for (i, name) in long_names.iter().enumerate() {
        write(
            src.join("long").join(name),
            &pseudo_random(1000 + i, i as u64),
        );
    }
    // One file the job may not read, among the others.
    let secret = src.join("many/secret.key");
    write(secret.clone(), b"top secret");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).expect("chmod");
    let mirror = tmp.path().join("mirror");
    let args = [
        "sync",
        src.to_str().expect("utf8"),
        "--to",
        mirror.to_str().expect("utf8"),
    ];

    let run = run_json(tidemark_unprivileged(), &args);
    assert_eq!(run.code, 23, "done with warnings; stderr: {}", run.stderr);
    let end = run.last();
    assert_eq!(end.state, JobState::Completed);
    assert_eq!(end.items[0].state, ItemState::Done);
    let warned: Vec<&str> = end.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(warned, ["docs/many/secret.key"], "{:?}", end.warnings);
    assert!(
        end.warnings[0].message.contains("ermission denied"),
        "{:?}",
        end.warnings
    );
    assert!(
        run.stderr.contains("docs/many/secret.key"),
        "{}",
        run.stderr
    );
    assert_eq!(
        (end.counters.processed, end.counters.bytes_done),
        (
            end.counters.total.unwrap_or(0),
            end.counters.bytes_total.unwrap_or(0)
        ),
        "the file not copied counts as done"
    );
    assert!(partials(&mirror).is_empty(), "{:?}", partials(&mirror));
    // The oracle: all that rsync finds left to do is the file that could not be read.
    let left = rsync_left_to_do(&src, &mirror.join("docs"));
    let left: Vec<&str> = left.lines().collect();
    assert_eq!(left, [">f+++++++++ many/secret.key"], "{left:?}");
    for name in &long_names {
        assert!(mirror.join("docs/long").join(name).is_file(), "{name}");
    }

    // Readable again: the next run copies it alone and finishes clean.
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).expect("chmod");
    let again = run_json(tidemark_unprivileged(), &args);
    assert_eq!(again.code, 0, "stderr: {}", again.stderr);
    assert_eq!(again.last().counters.processed, 1);
    assert!(again.last().warnings.is_empty());
    assert_eq!(rsync_left_to_do(&src, &mirror.join("docs")), "");
}
