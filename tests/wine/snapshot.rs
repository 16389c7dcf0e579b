//! A snapshot made by the Windows build, read back by GNU tar on Linux.

use std::fs;

use tidemark_core::JobState;

use crate::util::{
    SNAPSHOT_STEPS, check_manifest, diff_trees, extract, generate_tree, names, run_json, steps_of,
};
use crate::wine::{Wine, win};

#[test]
fn a_snapshot_made_on_windows_extracts_with_gnu_tar_to_the_same_tree() {
    let Some(wine) = Wine::get("a_snapshot_made_on_windows_extracts_with_gnu_tar_to_the_same_tree")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    // Unicode and spaces in names, an empty folder and an empty file, a path of over a
    // thousand characters (past Windows' MAX_PATH of 260), fifty small files, a bigger one.
    let src = tmp.path().join("project");
    generate_tree(&src, 6 << 20);
    // Wine cannot show a Windows program a Unix symlink as a link: it sees the file a link
    // points to (or nothing, for a dangling one). Links are the Linux suites' business.
    fs::remove_file(src.join("link-to-plain")).expect("rm link");
    fs::remove_file(src.join("dangling-link")).expect("rm link");
    let dest = tmp.path().join("backups");
    fs::create_dir(&dest).expect("dest");

    let run = run_json(
        wine.tidemark(&db),
        &[
            "snapshot",
            &win(&src),
            "--to",
            &win(&dest),
            "--name",
            "snap",
        ],
    );
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let end = run.last();
    assert_eq!(end.state, JobState::Completed);
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    assert_eq!(
        end.result_url.as_deref(),
        Some(win(&dest.join("snap.tar.zst")).as_str()),
        "the result is named as Windows names it"
    );
    assert_eq!(steps_of(&run), SNAPSHOT_STEPS);

    // GNU tar reads it: entries named with '/', UTF-8 names, the folder itself on top.
    let out = tmp.path().join("extracted");
    extract(&dest.join("snap.tar.zst"), &out);
    assert_eq!(names(&out), ["project"]);
    assert_eq!(
        diff_trees(&src, &out.join("project")),
        "",
        "extracted tree differs"
    );
    assert_eq!(names(&dest), ["snap.manifest.json", "snap.tar.zst"]);
    // plain, with space, unicode, empty, bottom, large, 50 many/*, script.sh.
    check_manifest(&dest.join("snap.manifest.json"), &src, 57);
}
