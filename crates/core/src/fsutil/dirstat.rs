//! `lstat` relative to the parent folder (see [`crate::platform::Dir`]).

use std::io;
use std::path::{Path, PathBuf};

use crate::platform::{self, Dir, Stat};

/// `lstat` of paths under one base folder, each relative to its parent folder, kept open
/// while consecutive paths share that parent (a listing's order). On Unix the kernel then
/// looks up one name instead of every component of a long path: on a re-scan of a large
/// tree, where nothing is read, that lookup was most of the time.
#[derive(Debug)]
pub struct DirStat<'a> {
    base: &'a Path,
    /// The parent (relative to `base`) of the last path, and the folder, `None` when it
    /// could not be opened: then the whole path is looked up, which reports the error.
    parent: Option<(PathBuf, Option<Dir>)>,
}

impl<'a> DirStat<'a> {
    pub fn new(base: &'a Path) -> DirStat<'a> {
        DirStat { base, parent: None }
    }

    /// `lstat` of `base/rel` (not following a link at its end).
    pub(crate) fn lstat(&mut self, rel: &Path) -> io::Result<Stat> {
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return platform::lstat_path(&self.base.join(rel));
        };
        if self.parent.as_ref().is_none_or(|(p, _)| p != parent) {
            let dir = Dir::open(&self.base.join(parent), false).ok();
            self.parent = Some((parent.to_owned(), dir));
        }
        match &self.parent {
            Some((_, Some(dir))) => dir.lstat(name),
            _ => platform::lstat_path(&self.base.join(rel)),
        }
    }
}
