//! A sync by the Windows build: a mirror equal to the source, and nothing copied again.

use std::fs;

use tidemark_core::{ItemState, JobState};

use crate::util::{diff_trees, fingerprints, generate_tree, partials, run_json};
use crate::wine::{Wine, win};

#[test]
fn a_sync_on_windows_mirrors_the_tree_and_a_second_run_copies_nothing() {
    let Some(wine) =
        Wine::get("a_sync_on_windows_mirrors_the_tree_and_a_second_run_copies_nothing")
    else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("history.db");
    let docs = tmp.path().join("Mes documents");
    generate_tree(&docs, 1 << 20);
    // Wine shows a Windows program a Unix symlink as what it points to: not a link to mirror.
    fs::remove_file(docs.join("link-to-plain")).expect("rm link");
    fs::remove_file(docs.join("dangling-link")).expect("rm link");
    let mirror = tmp.path().join("mirror");
    let (docs_w, mirror_w) = (win(&docs), win(&mirror));
    let args = ["sync", &docs_w, "--to", &mirror_w];

    let first = run_json(wine.tidemark(&db), &args);
    assert_eq!(first.code, 0, "stderr: {}", first.stderr);
    let end = first.last();
    assert_eq!(end.state, JobState::Completed);
    assert!(end.warnings.is_empty(), "{:?}", end.warnings);
    assert_eq!(
        end.items.iter().map(|i| i.state).collect::<Vec<_>>(),
        [ItemState::Done]
    );
    assert!(end.counters.bytes_done >= 1 << 20, "{:?}", end.counters);
    assert_eq!(diff_trees(&docs, &mirror.join("Mes documents")), "");
    assert!(partials(&mirror).is_empty(), "{:?}", partials(&mirror));

    // Size and time say every file is there already: the second run copies nothing. Windows
    // keeps times to 100 ns, Linux to 1 ns, so this also checks the comparison of the two.
    let before = fingerprints(&mirror);
    let second = run_json(wine.tidemark(&db), &args);
    assert_eq!(second.code, 0, "stderr: {}", second.stderr);
    let end = second.last();
    assert_eq!(end.state, JobState::Completed);
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
        [Some(0)]
    );
    assert_eq!(fingerprints(&mirror), before, "no file was rewritten");
}
