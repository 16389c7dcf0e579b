//! Names a Linux folder holds that Windows cannot represent as they are. Wine lists them to
//! the Windows program as they are, and Windows' rules then apply to the path it opens: a
//! device name (`CON`, `aux.txt`: any extension) opens the device, a trailing dot is dropped,
//! and two names that differ only in case are one name to Windows. Such a file is left out
//! with a warning naming it, and the job completes with the rest.

use std::fs;
use std::path::Path;

use crate::util::{extract, run_json, write};
use crate::wine::{Wine, completed_warning_about, win};

/// Names Windows cannot hold whatever the folder: each is left out with a warning.
const FORBIDDEN: [&str; 3] = ["CON", "aux.txt", "trailing."];

/// A folder `odd` with ordinary files, the forbidden names and `Case` beside `case`, each
/// file holding its own name.
fn odd_tree(root: &Path) -> std::path::PathBuf {
    let src = root.join("odd");
    write(src.join("keep.txt"), b"an ordinary file\n");
    write(src.join("sub/also kept.txt"), b"another\n");
    for name in FORBIDDEN.iter().chain(&["Case", "case"]) {
        write(src.join(name), format!("I am {name}\n").as_bytes());
    }
    src
}

#[test]
fn a_snapshot_on_windows_leaves_out_names_windows_forbids_with_a_warning_each() {
    let Some(wine) =
        Wine::get("a_snapshot_on_windows_leaves_out_names_windows_forbids_with_a_warning_each")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let src = odd_tree(tmp.path());
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");

    let run = run_json(
        wine.tidemark(&tmp.path().join("history.db")),
        &["snapshot", &win(&src), "--to", &win(&dest), "--name", "odd"],
    );
    completed_warning_about(&run, &FORBIDDEN.map(String::from));

    // A tar holds `Case` and `case` side by side, and Wine reads each by its exact name:
    // both are archived, each with its own contents. (On Windows itself one folder cannot
    // hold both.)
    let x = tmp.path().join("x");
    extract(&dest.join("odd.tar.zst"), &x);
    for name in ["keep.txt", "sub/also kept.txt", "Case", "case"] {
        assert_eq!(
            fs::read(x.join("odd").join(name)).ok(),
            fs::read(src.join(name)).ok(),
            "{name}"
        );
    }
    for name in FORBIDDEN {
        assert!(!x.join("odd").join(name).exists(), "{name} was archived");
    }
}

#[test]
fn a_sync_on_windows_leaves_out_forbidden_names_and_names_differing_only_in_case() {
    let Some(wine) =
        Wine::get("a_sync_on_windows_leaves_out_forbidden_names_and_names_differing_only_in_case")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let src = odd_tree(tmp.path());
    let mirror = tmp.path().join("mirror");

    // Wine looks names up without regard to case, as Windows does, so the core's probe finds
    // the mirror case-insensitive although Linux's folder is not: `case` is one file with
    // `Case` there, and is reported rather than copied over it.
    let run = run_json(
        wine.tidemark(&tmp.path().join("history.db")),
        &["sync", &win(&src), "--to", &win(&mirror)],
    );
    let mut want: Vec<String> = FORBIDDEN.iter().map(|n| format!("odd/{n}")).collect();
    want.push("odd/case".into());
    completed_warning_about(&run, &want);
    let case = &run.last().warnings.iter().find(|w| w.path == "odd/case");
    assert!(
        case.is_some_and(|w| w.message.contains("differs only in case from Case")),
        "{case:?}"
    );

    for name in ["keep.txt", "sub/also kept.txt", "Case"] {
        assert_eq!(
            fs::read(mirror.join("odd").join(name)).ok(),
            fs::read(src.join(name)).ok(),
            "{name}"
        );
    }
    for name in FORBIDDEN.iter().chain(&["case"]) {
        assert!(!mirror.join("odd").join(name).exists(), "{name} was copied");
    }
}
