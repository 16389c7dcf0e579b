//! A tree as the snapshot walks it: `list` (names and types), then `examine` (the `lstat`
//! of each, on all cores; no link followed, special files skipped with a warning).

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use filetime::FileTime;
use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::fsutil::dirstat::DirStat;
use crate::fsutil::par::par_chunks;
use crate::platform::Kind;
use crate::progress::Reporter;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Dir,
    File { size: u64 },
    Symlink { target: PathBuf },
}

/// What the engines keep of a file's metadata: enough to archive or mirror it, and plain
/// data, so a walk can be saved for a resumed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl Meta {
    /// What the platform keeps of `m` (see [`crate::platform::meta_of`]).
    pub fn of(m: &Metadata) -> Meta {
        crate::platform::meta_of(m)
    }

    pub fn filetime(&self) -> FileTime {
        FileTime::from_unix_time(self.mtime, self.mtime_nsec)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the walked root; empty for the root itself.
    pub rel: PathBuf,
    pub kind: EntryKind,
    pub meta: Meta,
}

/// The names under a tree, depth-first, parents before children, names sorted so runs are
/// repeatable; without their metadata.
#[derive(Debug)]
pub struct Listing {
    /// Paths relative to the root; the root itself (empty) first.
    pub rels: Vec<PathBuf>,
    /// How many of them were regular files when listed.
    pub files: u64,
}

/// Lists every folder under `root`, recursing by the type the listing gives (no `stat` per
/// entry where the filesystem reports types). With `report`, each file found advances the
/// step by one item, so a large tree shows its count growing.
pub fn list(root: &Path, rep: &mut Reporter, report: bool) -> Result<Listing, JobError> {
    let mut rels = vec![PathBuf::new()];
    let mut files = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(dir_rel) = stack.pop() {
        let dir = root.join(&dir_rel);
        let listing = match fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                if dir_rel.as_os_str().is_empty() {
                    return Err(JobError::SourceUnreadable {
                        path: dir,
                        source: e,
                    });
                }
                rep.warn(
                    display(&dir_rel),
                    format!("cannot list folder, its contents are left out: {e}"),
                );
                continue;
            }
        };
        let mut names: Vec<(OsString, Option<fs::FileType>)> = Vec::new();
        for item in listing {
            match item {
                Ok(item) => names.push((item.file_name(), item.file_type().ok())),
                Err(e) => rep.warn(display(&dir_rel), format!("cannot list folder: {e}")),
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, ft) in names {
            rep.checkpoint()?;
            let rel = dir_rel.join(&name);
            if let Some(why) = crate::platform::name_problem(&name) {
                rep.warn(display(&rel), format!("skipped: {why}"));
                continue;
            }
            if ft.is_some_and(|t| t.is_dir()) {
                subdirs.push(rel.clone());
            } else if ft.is_some_and(|t| t.is_file()) {
                files += 1;
                if report {
                    rep.advance(1, 0);
                }
            }
            rels.push(rel);
        }
        // Reverse so the stack pops them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(Listing { rels, files })
}

/// What [`examine`] found at one path.
enum Looked {
    Entry(Entry),
    /// Vanished between listing and stat: nothing to copy, nothing to warn about.
    Gone,
    Warn(String),
    Fatal(JobError),
}

fn look(root: &Path, dirs: &mut DirStat, rel: &Path) -> Looked {
    if rel.as_os_str().is_empty() {
        return match fs::metadata(root) {
            Ok(meta) => Looked::Entry(Entry {
                rel: PathBuf::new(),
                kind: EntryKind::Dir,
                meta: Meta::of(&meta),
            }),
            Err(e) => Looked::Fatal(JobError::SourceUnreadable {
                path: root.into(),
                source: e,
            }),
        };
    }
    let st = match dirs.lstat(rel) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Looked::Gone,
        Err(e) => return Looked::Warn(format!("cannot read: {e}")),
    };
    let kind = match st.kind {
        Kind::Dir => EntryKind::Dir,
        Kind::File => EntryKind::File { size: st.size },
        Kind::Symlink => match fs::read_link(root.join(rel)) {
            Ok(target) => EntryKind::Symlink { target },
            Err(e) => return Looked::Warn(format!("cannot read link: {e}")),
        },
        Kind::Other => return Looked::Warn("skipped: not a regular file, folder or link".into()),
    };
    Looked::Entry(Entry {
        rel: rel.to_owned(),
        kind,
        meta: st.meta,
    })
}

/// The metadata of each path of a [`list`] (links not followed), on all cores, each file
/// advancing the step by one item and its size. What vanished since the listing is left out
/// silently; what cannot be read, with a warning.
pub fn examine(root: &Path, rels: &[PathBuf], rep: &mut Reporter) -> Result<Vec<Entry>, JobError> {
    let mut out = Vec::with_capacity(rels.len());
    let mut at = 0;
    par_chunks(
        rels,
        || DirStat::new(root),
        |dirs, rel| look(root, dirs, rel),
        |looked| {
            rep.checkpoint()?;
            for l in looked {
                let rel = &rels[at];
                at += 1;
                match l {
                    Looked::Entry(e) => {
                        if let EntryKind::File { size } = e.kind {
                            rep.advance(1, size);
                        }
                        out.push(e);
                    }
                    Looked::Gone => {}
                    Looked::Warn(message) => rep.warn(display(rel), message),
                    Looked::Fatal(e) => return Err(e),
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// A path inside a job's tree as the manifest and warnings name it: `/` between names on
/// every platform, as in the archive itself. With Windows' own backslash, a manifest made
/// there named other files than its archive holds.
pub fn portable(rel: &Path) -> Cow<'_, str> {
    if cfg!(windows) {
        let names: Vec<Cow<'_, str>> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        Cow::Owned(names.join("/"))
    } else {
        rel.to_string_lossy()
    }
}

pub fn display(rel: &Path) -> String {
    portable(rel).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_relative_to_folders_agree_with_whole_paths() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        fs::create_dir_all(base.join("a/b")).expect("dirs");
        fs::write(base.join("top.txt"), b"1").expect("file");
        fs::write(base.join("a/one.txt"), b"22").expect("file");
        fs::write(base.join("a/b/two.txt"), b"333").expect("file");
        // Windows may refuse a link to a user without the privilege: the rest still counts.
        let linked = crate::platform::symlink(Path::new("nowhere"), &base.join("a/link"));
        assert!(linked.is_ok() || cfg!(windows), "{linked:?}");
        let mut dirs = DirStat::new(base);
        // In a listing's order, with a parent left and come back to, and paths that fail.
        for rel in [
            "top.txt",
            "a",
            "a/one.txt",
            "a/link",
            "a/b",
            "a/b/two.txt",
            "a/one.txt",
            "a/gone.txt",
            "missing/x.txt",
            "top.txt",
            "top.txt/under-a-file",
        ] {
            let whole = fs::symlink_metadata(base.join(rel));
            match dirs.lstat(Path::new(rel)) {
                Ok(st) => {
                    let whole = whole.expect("both find it");
                    assert_eq!(st.meta.mtime, Meta::of(&whole).mtime, "{rel}");
                    if st.kind == Kind::File {
                        assert_eq!(st.size, whole.len(), "{rel}");
                    }
                    assert_eq!(
                        st.kind == Kind::Symlink,
                        whole.file_type().is_symlink(),
                        "{rel}: a link is not followed"
                    );
                }
                Err(e) => assert_eq!(
                    Some(e.kind()),
                    whole.err().map(|w| w.kind()),
                    "{rel}: the same error"
                ),
            }
        }
    }
}
