//! What keeps a hostile archive inside its target: entry names that climb out (`..`) or start
//! elsewhere (`/tmp/evil`), entries written through a link (one the archive made, pointing
//! anywhere, or one already there), and device files. Each is refused with the entry's
//! name; nothing is ever written outside the target.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use crate::error::JobError;
use crate::platform::{self, Kind};

/// The refusal of `entry` for `why`.
pub(crate) fn unsafe_entry(entry: &str, why: impl Into<String>) -> JobError {
    JobError::UnsafeEntry {
        entry: entry.to_owned(),
        why: why.into(),
    }
}

/// An entry as restore and verify both take it: a device file is refused, and its path
/// made relative (see [`relative`]); `None` for the archive's top.
pub(crate) fn entry_path(
    raw: &Path,
    shown: &str,
    kind: tar::EntryType,
) -> Result<Option<PathBuf>, JobError> {
    if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) {
        return Err(unsafe_entry(shown, "it is a device file"));
    }
    relative(raw, shown)
}

/// The entry's path relative to the target: only plain names (`.` dropped). `None` for the
/// archive's top (`./`). An absolute path or one with `..` is refused.
pub(crate) fn relative(raw: &Path, shown: &str) -> Result<Option<PathBuf>, JobError> {
    let mut rel = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(unsafe_entry(
                    shown,
                    "its path climbs out of the target with `..`",
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(shown, "its path is absolute"));
            }
        }
    }
    Ok((!rel.as_os_str().is_empty()).then_some(rel))
}

/// What stands where a folder of an entry's path must be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parents {
    /// Every folder is a real folder (made where missing).
    Ready,
    /// A file is in the way at this path (relative to the target).
    Blocked(PathBuf),
}

/// The folders of the target known to be real folders, never links: checked once each.
#[derive(Debug, Default)]
pub(crate) struct Folders {
    known: HashSet<PathBuf>,
}

impl Folders {
    /// Makes sure every folder on the way to `rel` (not `rel` itself) is a real folder under
    /// `root`, making those that are missing. A link on the way is refused: whatever it
    /// points to, writing through it could reach outside the target.
    pub(crate) fn prepare(
        &mut self,
        root: &Path,
        rel: &Path,
        shown: &str,
        create: bool,
    ) -> Result<Parents, JobError> {
        let mut at = PathBuf::new();
        let Some(parent) = rel.parent() else {
            return Ok(Parents::Ready);
        };
        for c in parent.components() {
            at.push(c);
            if self.known.contains(&at) {
                continue;
            }
            let path = root.join(&at);
            match platform::lstat_path(&path) {
                Ok(st) if st.kind == Kind::Dir => {}
                Ok(st) if st.kind == Kind::Symlink => {
                    return Err(unsafe_entry(
                        shown,
                        format!(
                            "it would be written through the link {}",
                            crate::fsutil::display(&at)
                        ),
                    ));
                }
                Ok(_) => return Ok(Parents::Blocked(at)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                    match std::fs::create_dir(&path) {
                        Ok(()) => {}
                        // Made meanwhile: checked again on the next entry.
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(JobError::writing(&path, e)),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(Parents::Blocked(at));
                }
                Err(e) => return Err(JobError::writing(&path, e)),
            }
            self.known.insert(at.clone());
        }
        Ok(Parents::Ready)
    }

    /// A folder this restore made or found real.
    pub(crate) fn note(&mut self, rel: &Path) {
        self.known.insert(rel.to_path_buf());
    }
}

/// A name of `rel` this platform cannot hold faithfully, as a sync decides for a mirror:
/// the entry is skipped with a warning rather than written under another name.
pub(crate) fn name_problem(rel: &Path) -> Option<&'static str> {
    rel.components().find_map(|c| match c {
        Component::Normal(n) => platform::name_problem(n),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_target_are_refused_and_dots_dropped() {
        for bad in ["../evil", "a/../../evil", "/tmp/evil", "a/.."] {
            let err = relative(Path::new(bad), bad).expect_err(bad);
            assert_eq!(err.code(), crate::ErrorCode::UnsafeArchiveEntry, "{bad}");
            assert!(err.to_string().contains(bad), "{err}");
        }
        assert_eq!(
            relative(Path::new("./a/./b"), "x").expect("ok"),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(relative(Path::new("./"), "x").expect("ok"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_on_the_way_is_refused_and_a_file_in_the_way_reported() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("t");
        std::fs::create_dir(&root).expect("root");
        std::os::unix::fs::symlink("/", root.join("up")).expect("link");
        std::fs::write(root.join("file"), b"x").expect("file");
        let mut folders = Folders::default();
        let err = folders
            .prepare(&root, Path::new("up/tmp/evil"), "up/tmp/evil", true)
            .expect_err("through a link");
        assert_eq!(err.code(), crate::ErrorCode::UnsafeArchiveEntry);
        assert_eq!(
            folders
                .prepare(&root, Path::new("file/x"), "file/x", true)
                .expect("checked"),
            Parents::Blocked(PathBuf::from("file"))
        );
        assert_eq!(
            folders
                .prepare(&root, Path::new("a/b/c"), "a/b/c", true)
                .expect("made"),
            Parents::Ready
        );
        assert!(root.join("a/b").is_dir());
    }
}
