//! The Windows build of `tidemark` (`x86_64-pc-windows-gnu`) run under Wine, end to end: a
//! subset of tests/e2e against `wine64 tidemark.exe`, each with a history of its own, checked
//! with the same Linux tools. `.ci/wine-e2e` (make wine-e2e) builds the .exe, boots a
//! throwaway Wine prefix and runs this binary; run any other way, each test says so in one
//! line and returns.
//!
//! Wine is not Windows: what it cannot show a Windows program (Unix symlinks as links) is
//! left out of the trees, and each test says where Wine and Windows part.

#![cfg(unix)]

// The Linux suite's helpers (parsing `--json` runs, their invariants, manifests) apply as they
// are to the Windows build's output.
#[path = "../e2e/util.rs"]
mod util;
mod wine;

mod agent;
mod crash;
mod history;
mod locked;
mod names;
mod snapshot;
mod sync;
