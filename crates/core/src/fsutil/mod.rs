//! Filesystem pieces shared by the engines: validating folders, walking a tree without
//! following links, and files that only appear under their final name once complete.

mod check;
mod dirstat;
mod exact;
mod par;
mod partial;
mod tree;
mod write_behind;

pub use check::{case_insensitive, check_not_inside, dest_dir, source_dir};
pub use exact::ExactReader;
pub use par::par_chunks;
pub use partial::{Partial, partial_prefix, remove_stale_partials};
pub use tree::{Entry, EntryKind, Listing, Meta, display, examine, list, portable};
pub use write_behind::WriteBehind;
